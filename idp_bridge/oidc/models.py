"""OIDC persistence: applications, codes, tokens, signing keys, SSO sessions."""
