"""`idp-bridge serve` purges expired rows by itself (SPEC §15), with several workers taking turns."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from idp_bridge import create_app
from idp_bridge.extensions import db
from idp_bridge.oidc.models import PendingAuthorization
from idp_bridge.timeutil import utcnow
from tests.conftest import TEST_SECRET_KEY

pytestmark = pytest.mark.slow

CLI = str(Path(sys.executable).with_name("idp-bridge"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_purges_expired_rows_in_the_background(empty_database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_BRIDGE_")}
    env.update(IDP_BRIDGE_DATABASE_URL=empty_database_url, IDP_BRIDGE_INSTANCE_DIR=str(tmp_path / "inst"),
               IDP_BRIDGE_ISSUER=f"http://127.0.0.1:{port}", IDP_BRIDGE_SECRET_KEY=TEST_SECRET_KEY)
    assert subprocess.run([CLI, "db", "upgrade"], env=env, capture_output=True, timeout=120).returncode == 0
    app = create_app({"database_url": empty_database_url, "instance_dir": tmp_path / "inst",
                      "secret_key": TEST_SECRET_KEY})
    with app.app_context():
        now = utcnow()
        for i in range(3):
            db.session.add(PendingAuthorization(id=f"old{i}", browser_digest="d" * 64, client_id="c", params={},
                                                expires_at=now - timedelta(hours=1)))
        db.session.add(PendingAuthorization(id="live", browser_digest="d" * 64, client_id="c", params={},
                                            expires_at=now + timedelta(minutes=15)))
        db.session.commit()
        db.session.remove()
    process = subprocess.Popen([CLI, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
                                "--purge-interval", "1"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        left: list[str] = []
        while time.time() < deadline:
            with app.app_context():
                left = sorted(db.session.scalars(db.select(PendingAuthorization.id)))
                db.session.remove()
            if left == ["live"]:
                break
            time.sleep(0.3)
        assert left == ["live"]
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        process.terminate()
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            process.kill()
        with app.app_context():
            db.engine.dispose()
