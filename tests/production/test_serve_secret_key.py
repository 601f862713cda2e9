"""`serve` from PostgreSQL needs an explicit IDP_BRIDGE_SECRET_KEY: a generated key lives in the instance folder,
which a container loses on restart, and with it every sealed secret and signing key."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.production.conftest import CLI


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IDP_BRIDGE_")}
    base.update(IDP_BRIDGE_INSTANCE_DIR=str(tmp_path / "inst"), **env)
    return subprocess.run([CLI, "serve", "--bind", "127.0.0.1:9"], env=base, capture_output=True, text=True,
                          timeout=60)


def test_serve_on_postgresql_without_a_secret_key_exits_2_naming_the_variable(tmp_path: Path) -> None:
    refused = _serve(tmp_path, IDP_BRIDGE_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres")
    assert refused.returncode == 2, refused.stderr
    assert "IDP_BRIDGE_SECRET_KEY" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "inst" / "secret_key").exists()  # nothing was generated either


def test_serve_on_sqlite_may_still_generate_its_key(tmp_path: Path) -> None:
    """The embedded default keeps working without configuration: it stops at the migration check instead."""
    answer = _serve(tmp_path)
    assert answer.returncode == 1 and "idp-bridge db upgrade" in answer.stderr
