"""`idp-bridge demo` (the README's first command) serves through gunicorn like `serve`, not Werkzeug's
development server, and a newcomer's follow login works end to end through its simulator."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

from tests.login.conftest import Browser
from tests.production.conftest import CLI, _free_port, wait_ready

pytestmark = pytest.mark.slow


def test_demo_serves_with_gunicorn_and_a_follow_login_works(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_BRIDGE_")}
    env["IDP_BRIDGE_INSTANCE_DIR"] = str(tmp_path / "inst")
    log = (tmp_path / "demo.log").open("w+")
    process = subprocess.Popen([CLI, "demo", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                               text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_ready(base, 60), "the demo did not start"
        log.flush()
        printed = (tmp_path / "demo.log").read_text()
        try_url = re.search(r"Try login:\s+(\S+)", printed)
        assert try_url, printed
        assert requests.get(try_url.group(1), timeout=10).status_code == 200
        console = re.search(r"Console:\s+(\S+)", printed)
        assert console, printed
        first = requests.get(console.group(1), timeout=10, allow_redirects=False)
        assert first.status_code == 303 and "/oauth/authorize?" in first.headers["Location"]
        client_id = try_url.group(1).rstrip("/").split("/")[-2]
        browser = Browser(base)
        assert browser.start(client_id, redirect_uri=f"{base}/apps/{client_id}/callback").status_code == 200
        listener = browser.listen()
        assert requests.post(f"{base}/_simulator/api/scan", timeout=10, json={
            "ticket": browser.ticket, "user": "Newcomer", "action": "follow"}).json()["status"] == "delivered"
        listener.join(15)
        assert browser.events[-1]["state"] == "succeeded"
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    printed = (tmp_path / "demo.log").read_text()
    assert "gunicorn" in printed.lower() or "Booting worker" in printed, printed
    assert "development server" not in printed.lower()
