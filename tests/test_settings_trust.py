"""Settings that enforce SPEC §15 and §3: the simulator only on a loopback http issuer; the new knobs
validated with the variable's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp_bridge.config import ConfigError, Settings, load_settings

KEY = "k" * 40


def _load(tmp_path: Path, **env: str) -> Settings:
    return load_settings({"IDP_BRIDGE_SECRET_KEY": KEY, "IDP_BRIDGE_INSTANCE_DIR": str(tmp_path),
                          **{f"IDP_BRIDGE_{k.upper()}": v for k, v in env.items()}})


@pytest.mark.parametrize("issuer", ["https://id.example.com", "https://127.0.0.1:8000", "https://localhost"])
def test_the_simulator_is_refused_unless_the_issuer_is_loopback_http(tmp_path: Path, issuer: str) -> None:
    with pytest.raises(ConfigError, match="IDP_BRIDGE_SIMULATOR"):
        _load(tmp_path, simulator="1", issuer=issuer)


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"])
def test_the_simulator_is_allowed_on_loopback_http(tmp_path: Path, issuer: str) -> None:
    settings = _load(tmp_path, simulator="1", issuer=issuer)
    assert settings.simulator is True


def test_metrics_allow_and_stream_caps_are_validated(tmp_path: Path) -> None:
    settings = _load(tmp_path, metrics_allow="10.0.0.0/8, ::1", streams_per_ip="5", audit_retention_days="30")
    assert settings.metrics_allow == ("10.0.0.0/8", "::1/128")
    assert (settings.streams_per_ip, settings.audit_retention_days) == (5, 30)
    with pytest.raises(ConfigError, match="IDP_BRIDGE_METRICS_ALLOW"):
        _load(tmp_path, metrics_allow="10.0.0.0/8,not-a-network")
    with pytest.raises(ConfigError, match="STREAMS_PER_IP"):
        _load(tmp_path, streams_per_ip="0")
    with pytest.raises(ConfigError, match="STREAMS_PER_IP"):
        _load(tmp_path, streams_per_ip="²")
