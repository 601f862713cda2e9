"""Typed settings from ``IDP_BRIDGE_*`` environment variables (SPEC §3).

Precedence is defaults → environment (and ``.env``) → an explicit mapping passed to ``create_app``
(tests). A malformed value stops start-up with a message naming the variable, because a provider that
starts half-configured fails later in ways far harder to diagnose.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from idp_bridge import dbpool

if TYPE_CHECKING:
    from flask import Flask

PREFIX = "IDP_BRIDGE_"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{PREFIX}{name}: expected 0 or 1, got {raw!r}")


def _parse_int(name: str, raw: str, minimum: int, maximum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}: expected an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{PREFIX}{name}: must be between {minimum} and {maximum}, got {value}")
    return value


def _check_issuer(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{PREFIX}ISSUER: must be an absolute http(s) URL, got {raw!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{PREFIX}ISSUER: must not have a query or fragment (OIDC Discovery §3)")
    if parts.scheme == "http" and parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise ConfigError(f"{PREFIX}ISSUER: http is allowed only for loopback hosts; use https")
    return raw.rstrip("/")


def _check_url(name: str, raw: str, schemes: set[str]) -> str:
    parts = urlsplit(raw)
    if parts.scheme.split("+")[0] not in schemes:
        raise ConfigError(f"{PREFIX}{name}: scheme must be one of {sorted(schemes)}, got {raw!r}")
    return raw


def normalise_database_url(url: str) -> str:
    """Point bare PostgreSQL URLs at psycopg 3, the only driver we install."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare):]
    return url


@dataclass(frozen=True)
class Settings:
    """Every knob of the product, already validated."""

    issuer: str = "http://127.0.0.1:8000"
    database_url: str = ""
    redis_url: str | None = None
    secret_key: str = ""
    instance_dir: Path = field(default_factory=lambda: Path("instance").resolve())
    wechat_api_base: str = "https://api.weixin.qq.com"
    log_format: str = "text"
    simulator: bool = False
    trust_proxy: int = 0
    code_lifetime: int = 60
    access_token_lifetime: int = 3600
    id_token_lifetime: int = 3600
    refresh_token_lifetime: int = 14 * 24 * 3600
    sso_session_lifetime: int = 8 * 3600
    qr_expire_seconds: int = 300
    qr_per_ip_per_minute: int = 30
    streams_per_ip: int = 20
    metrics_allow: tuple[str, ...] = ("127.0.0.0/8", "::1")
    audit_retention_days: int = 365
    wechat_open_base: str = "https://open.weixin.qq.com"
    admin: bool = True
    webhook_allow_private: bool = False
    db_pool_size: int = 8
    sso_lane: bool = True

    def as_flask_config(self) -> dict[str, Any]:
        """Flask settings derived from ours; kept in one place so the factory stays thin."""
        return {
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": dbpool.engine_options(self.database_url, self.db_pool_size),
            "IDP_BRIDGE": self,
            "MAX_CONTENT_LENGTH": 1024 * 1024,
        }


_INT_LIMITS: dict[str, tuple[int, int]] = {
    "trust_proxy": (0, 5),
    "code_lifetime": (5, 60),
    "access_token_lifetime": (60, 86400),
    "id_token_lifetime": (60, 86400),
    "refresh_token_lifetime": (300, 365 * 86400),
    "sso_session_lifetime": (60, 30 * 86400),
    "qr_expire_seconds": (60, 2592000),
    "qr_per_ip_per_minute": (1, 100000),
    "streams_per_ip": (1, 10000),
    "audit_retention_days": (1, 36500),
    "db_pool_size": (1, 500),
}


def _parse_networks(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated CIDRs (``ipaddress`` rules); an empty value allows nobody."""
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ConfigError(f"{PREFIX}{name}: {part!r} is not an IP network (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def _secret_key_file(instance_dir: Path) -> str:
    """Read, or create once with mode 0600, the instance's secret key: never a hard-coded fallback."""
    path = instance_dir / "secret_key"
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"{PREFIX}SECRET_KEY: {path} must not be readable by others (chmod 600)")
        key = path.read_text().strip()
        if len(key) < 32:
            raise ConfigError(f"{PREFIX}SECRET_KEY: {path} holds fewer than 32 characters")
        return key
    instance_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def _check_simulator_issuer(issuer: str) -> None:
    """The simulator completes any pending login for whoever asks: only a loopback http issuer may mount it."""
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if parts.scheme != "http" or not loopback:
        raise ConfigError(f"{PREFIX}SIMULATOR: the WeChat simulator lets anyone complete any login; it is refused "
                          f"unless {PREFIX}ISSUER is a loopback http URL (got {issuer!r})")


def load_settings(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build settings from the environment, then apply explicit overrides (lower-case field names)."""
    env = dict(os.environ if environ is None else environ)
    known = {f.name.upper() for f in fields(Settings)}
    for key in env:
        if key.startswith(PREFIX) and key[len(PREFIX):] not in known:
            raise ConfigError(f"{key}: unknown setting (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}

    def raw(name: str) -> str | None:
        return env.get(PREFIX + name.upper())

    if (v := raw("issuer")) is not None:
        values["issuer"] = _check_issuer(v)
    if (v := raw("instance_dir")) is not None:
        if not v.strip():
            raise ConfigError(f"{PREFIX}INSTANCE_DIR: must not be empty")
        values["instance_dir"] = Path(v).resolve()
    if (v := raw("database_url")) is not None:
        checked = _check_url("DATABASE_URL", v, {"sqlite", "postgresql", "postgres"})
        values["database_url"] = normalise_database_url(checked)
    if (v := raw("redis_url")):
        values["redis_url"] = _check_url("REDIS_URL", v, {"redis", "rediss", "unix"})
    if (v := raw("secret_key")) is not None:
        if len(v) < 32:
            raise ConfigError(f"{PREFIX}SECRET_KEY: must be at least 32 characters")
        values["secret_key"] = v
    if (v := raw("wechat_api_base")) is not None:
        values["wechat_api_base"] = _check_url("WECHAT_API_BASE", v, {"http", "https"}).rstrip("/")
    if (v := raw("log_format")) is not None:
        if v not in {"text", "json"}:
            raise ConfigError(f"{PREFIX}LOG_FORMAT: expected 'text' or 'json', got {v!r}")
        values["log_format"] = v
    if (v := raw("simulator")) is not None:
        values["simulator"] = _parse_bool("SIMULATOR", v)
    if (v := raw("wechat_open_base")) is not None:
        values["wechat_open_base"] = _check_url("WECHAT_OPEN_BASE", v, {"http", "https"}).rstrip("/")
    if (v := raw("admin")) is not None:
        values["admin"] = _parse_bool("ADMIN", v)
    if (v := raw("sso_lane")) is not None:
        values["sso_lane"] = _parse_bool("SSO_LANE", v)
    if (v := raw("webhook_allow_private")) is not None:
        values["webhook_allow_private"] = _parse_bool("WEBHOOK_ALLOW_PRIVATE", v)
    if (v := raw("metrics_allow")) is not None:
        values["metrics_allow"] = _parse_networks("METRICS_ALLOW", v)
    for name, (low, high) in _INT_LIMITS.items():
        if (v := raw(name)) is not None:
            values[name] = _parse_int(name.upper(), v, low, high)

    values.update(overrides or {})
    if "issuer" in values:
        values["issuer"] = _check_issuer(str(values["issuer"]))
    if values.get("simulator"):
        _check_simulator_issuer(str(values.get("issuer", Settings.issuer)))
    if values.get("simulator") and "wechat_api_base" not in values:
        # the mounted simulator answers the API calls; no real WeChat is ever contacted in that mode
        values["wechat_api_base"] = str(values.get("issuer", Settings.issuer)) + "/_simulator"
    if values.get("simulator") and "wechat_open_base" not in values:
        values["wechat_open_base"] = str(values.get("issuer", Settings.issuer)) + "/_simulator"
    instance_dir = Path(values.get("instance_dir") or Path("instance").resolve())
    values["instance_dir"] = instance_dir
    if not values.get("database_url"):
        instance_dir.mkdir(parents=True, exist_ok=True)
        values["database_url"] = f"sqlite:///{instance_dir / 'idp-bridge.sqlite3'}"
    if not values.get("secret_key"):
        values["secret_key"] = _secret_key_file(instance_dir)
    return Settings(**values)


def current_settings() -> Settings:
    """The typed settings of the app handling this request or CLI command."""
    from flask import current_app

    settings = current_app.config["IDP_BRIDGE"]
    assert isinstance(settings, Settings)
    return settings


def settings_of(app: Flask) -> Settings:
    """The typed settings ``app`` was built with (outside a request or app context)."""
    settings = app.config["IDP_BRIDGE"]
    assert isinstance(settings, Settings)
    return settings
