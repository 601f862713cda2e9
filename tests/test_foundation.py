"""The skeleton: factory, configuration rules, health probes, error pages."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import requests
from flask import Flask

from idp_bridge.config import ConfigError, load_settings


def test_healthz_and_readyz_over_http(live_url: str) -> None:
    assert requests.get(f"{live_url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{live_url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


def test_unknown_path_is_a_404_page_without_trace(live_url: str) -> None:
    response = requests.get(f"{live_url}/no/such/page", headers={"Accept": "text/html"}, timeout=5)
    assert response.status_code == 404
    assert "Traceback" not in response.text and "Not found" in response.text


def test_readyz_503_when_database_unreachable(tmp_path: Path) -> None:
    from idp_bridge import create_app

    app = create_app(
        {"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere", "instance_dir": tmp_path,
         "secret_key": "s" * 40}
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable"}


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("IDP_BRIDGE_ISSUER", "ftp://x", "IDP_BRIDGE_ISSUER"),
        ("IDP_BRIDGE_ISSUER", "http://example.com", "loopback"),
        ("IDP_BRIDGE_ISSUER", "https://example.com/?a=1", "query"),
        ("IDP_BRIDGE_LOG_FORMAT", "xml", "IDP_BRIDGE_LOG_FORMAT"),
        ("IDP_BRIDGE_SIMULATOR", "maybe", "IDP_BRIDGE_SIMULATOR"),
        ("IDP_BRIDGE_DATABASE_URL", "mysql://x", "IDP_BRIDGE_DATABASE_URL"),
        ("IDP_BRIDGE_SECRET_KEY", "short", "IDP_BRIDGE_SECRET_KEY"),
        ("IDP_BRIDGE_CODE_LIFETIME", "600", "IDP_BRIDGE_CODE_LIFETIME"),
        ("IDP_BRIDGE_NOPE", "1", "IDP_BRIDGE_NOPE"),
    ],
)
def test_bad_configuration_names_the_variable(tmp_path: Path, name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({name: value, "IDP_BRIDGE_INSTANCE_DIR": str(tmp_path)})
    assert fragment in str(info.value)


def test_defaults_generate_secret_key_once_with_0600(tmp_path: Path) -> None:
    env = {"IDP_BRIDGE_INSTANCE_DIR": str(tmp_path)}
    first = load_settings(env)
    second = load_settings(env)
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600
    assert first.database_url == f"sqlite:///{tmp_path / 'idp-bridge.sqlite3'}"
    assert first.issuer == "http://127.0.0.1:8000"


def test_postgres_url_is_pointed_at_psycopg3(tmp_path: Path) -> None:
    settings = load_settings({"IDP_BRIDGE_INSTANCE_DIR": str(tmp_path),
                              "IDP_BRIDGE_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_app_uses_typed_settings(app: Flask) -> None:
    assert app.config["IDP_BRIDGE"].issuer.startswith("http://127.0.0.1:")
