"""Ready-to-paste relying-party settings for one application (SPEC §12 screen 3): oidc-client-ts, Apache
mod_auth_openidc and oauth2-proxy, filled in with this application's issuer (OIDC Discovery 1.0 §4), client_id,
redirect URI and scopes. Never the secret: a placeholder, since the secret is shown only once.

WeChat accounts carry no e-mail address, and oauth2-proxy's OIDC provider insists on one (``oidc_email_claim``,
default ``email``): its settings name ``sub`` — stable per person and per bridge — as the claim to use instead.
mod_auth_openidc's ``REMOTE_USER`` defaults to ``sub@issuer``; ``OIDCRemoteUserClaim sub`` keeps the bare sub.
"""

from __future__ import annotations

import json

from idp_bridge.oidc.models import SUPPORTED_SCOPES, Client

SECRET = "<client secret, as shown once on creation>"
SCOPE = " ".join(s for s in SUPPORTED_SCOPES if s != "offline_access")


#: the callback paths the server-side tools use by default
TOOL_CALLBACKS = ("/oauth2/callback", "/redirect_uri")


def _pick(uris: list[str], suffix: str | None) -> str:
    """The redirect URI that looks like the tool's own callback (``suffix``; None: one that is not another
    tool's), else the first registered one."""
    fits = (u for u in uris if (u.endswith(suffix) if suffix else not u.endswith(TOOL_CALLBACKS)))
    return next(fits, uris[0] if uris else "https://app.example/callback")


def discovery_url(issuer: str) -> str:
    return f"{issuer}/.well-known/openid-configuration"


def oidc_client_ts(issuer: str, client: Client) -> str:
    settings: dict[str, str] = {"authority": issuer, "client_id": client.client_id,
                                "redirect_uri": _pick(client.redirect_uris, None)}
    if client.post_logout_redirect_uris:
        settings["post_logout_redirect_uri"] = client.post_logout_redirect_uris[0]
    settings.update(response_type="code", scope=SCOPE)
    lines = [f"  {key}: {json.dumps(value)}," for key, value in settings.items()]
    note = ([] if client.public else
            ["// This application is confidential: a browser cannot keep a secret, so register a public one",
             "// (idp-bridge client create --public) for code running in the browser."])
    return "\n".join(['import { UserManager } from "oidc-client-ts";', "", *note,
                      "const userManager = new UserManager({", *lines, "});", ""])


def mod_auth_openidc(issuer: str, client: Client) -> str:
    return "\n".join([
        f"OIDCProviderMetadataURL {discovery_url(issuer)}",
        f"OIDCClientID {client.client_id}",
        f'OIDCClientSecret "{SECRET}"',
        f"OIDCRedirectURI {_pick(client.redirect_uris, '/redirect_uri')}",
        'OIDCCryptoPassphrase "<a long random passphrase>"',
        f'OIDCScope "{SCOPE}"',
        "# WeChat users have no e-mail address: REMOTE_USER is their sub",
        "OIDCRemoteUserClaim sub",
        "",
        "<Location />",
        "    AuthType openid-connect",
        "    Require valid-user",
        "</Location>",
        ""])


def oauth2_proxy(issuer: str, client: Client) -> str:
    return "\n".join([
        "# oauth2-proxy --config oauth2-proxy.cfg",
        'provider = "oidc"',
        f"oidc_issuer_url = {json.dumps(issuer)}",
        f"client_id = {json.dumps(client.client_id)}",
        f'client_secret = "{SECRET}"',
        f"redirect_url = {json.dumps(_pick(client.redirect_uris, '/oauth2/callback'))}",
        f'scope = "{SCOPE}"',
        'code_challenge_method = "S256"',
        'cookie_secret = "<32 random bytes, base64url: openssl rand -base64 32 | tr -- \'+/\' \'-_\'>"',
        "# WeChat users have no e-mail address: identify them by their sub instead",
        'oidc_email_claim = "sub"',
        'email_domains = ["*"]',
        "insecure_oidc_allow_unverified_email = true",
        'upstreams = ["http://127.0.0.1:8080/"]',
        ""])


def all_settings(issuer: str, client: Client) -> dict[str, str]:
    """Tool name → text to paste, in the order the page shows them."""
    return {"oidc-client-ts": oidc_client_ts(issuer, client),
            "mod_auth_openidc": mod_auth_openidc(issuer, client),
            "oauth2-proxy": oauth2_proxy(issuer, client)}
