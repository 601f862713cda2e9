"""idp-bridge: an OpenID Connect provider whose sign-in is following a WeChat Official Account."""

from idp_bridge.app import create_app

__all__ = ["create_app"]
