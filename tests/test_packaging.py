"""The built wheel is self-sufficient: templates, static files and migrations ship inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_with_templates_and_migrations(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        cwd=tmp_path,
    )
    wheel = next(dist.glob("idp_bridge-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # Dependencies come from the test environment (no network needed); the project itself only from the wheel.
    (Path(purelib) / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_BRIDGE_")}
    env["IDP_BRIDGE_INSTANCE_DIR"] = str(tmp_path / "instance")
    located = subprocess.run(
        [str(py), "-c", "import idp_bridge.resources as r; print(r.templates_dir()); print(r.migrations_dir())"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=env,
    ).stdout.split()
    assert all(p.startswith(purelib) for p in located), located
    assert (Path(located[0]) / "base.html").is_file()
    assert (Path(located[1]) / "env.py").is_file()

    cli = venv / "bin" / "idp-bridge"
    assert "connection" in subprocess.run([str(cli), "--help"], check=True, capture_output=True, text=True,
                                          cwd=tmp_path, env=env).stdout
    upgraded = subprocess.run([str(cli), "db", "upgrade"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "instance" / "idp-bridge.sqlite3").is_file()
