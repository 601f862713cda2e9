"""Signing keys: generation, rotation, JWKS (SPEC §4 keys)."""
