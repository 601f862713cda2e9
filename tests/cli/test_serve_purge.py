"""`idp-bridge serve` purges expired rows by itself (SPEC §15), with several workers taking turns."""

from __future__ import annotations

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
from tests.production.conftest import migrated_env, running_serve

pytestmark = pytest.mark.slow

def test_serve_purges_expired_rows_in_the_background(empty_database_url: str, tmp_path: Path) -> None:
    env, port = migrated_env(empty_database_url, tmp_path)
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
    try:
        with running_serve(env, port, "--workers", "2", "--threads", "4", "--purge-interval", "1") as served:
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
            assert requests.get(f"{served.url}/healthz", timeout=5).status_code == 200
    finally:
        with app.app_context():
            db.engine.dispose()
