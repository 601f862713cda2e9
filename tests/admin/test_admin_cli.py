"""`idp-bridge admin invite|list|revoke` (SPEC §12) and the CLI's audit actor ``cli:<os user>``."""

from __future__ import annotations

import getpass
import json
from typing import Any

from flask import Flask

from idp_bridge import audit
from idp_bridge.admin import admins
from idp_bridge.admin.models import Admin, AdminInvite
from idp_bridge.extensions import db
from idp_bridge.secretbox import digest


def test_invite_prints_a_one_time_url_stored_as_a_digest(app: Flask, cli_run: Any) -> None:
    out = json.loads(cli_run("admin", "invite", "--role", "viewer", "--json").output)
    assert out["role"] == "viewer" and out["url"].startswith("http") and "/admin/invite/" in out["url"]
    token = out["url"].rsplit("/", 1)[-1]
    with app.app_context():
        row = db.session.scalar(db.select(AdminInvite))
        assert row is not None and row.digest == digest(token) and token not in json.dumps(row.__dict__, default=str)
        assert admins.redeem(token, "subject-1") is not None
        assert admins.redeem(token, "subject-2") is None  # one time only
        assert db.session.scalar(db.select(Admin.role).where(Admin.sub == "subject-1")) == "viewer"
    bad = cli_run("admin", "invite", "--role", "owner", "--json")
    assert bad.exit_code == 2


def test_list_and_revoke(app: Flask, cli_run: Any) -> None:
    with app.app_context():
        token, _ = admins.create_invite("admin")
        admins.redeem(token, "subject-9")
    listed = json.loads(cli_run("admin", "list", "--json").output)["admins"]
    assert [(a["sub"], a["role"], a["revoked_at"]) for a in listed] == [("subject-9", "admin", None)]
    assert cli_run("admin", "revoke", "subject-9", "--json").exit_code == 0
    assert cli_run("admin", "revoke", "subject-9", "--json").exit_code == 1
    with app.app_context():
        assert admins.active_admin("subject-9") is None


def test_cli_actions_are_audited_as_the_os_user(app: Flask, cli_run: Any) -> None:
    result = cli_run("client", "create", "--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--json")
    assert result.exit_code == 0, result.output
    cli_run("admin", "invite", "--json")
    with app.app_context():
        actors = {e.action: e.actor for e in audit.query()}
        assert actors["client.create"] == f"cli:{getpass.getuser()}"
        assert actors["admin.invite"] == f"cli:{getpass.getuser()}"
        admins.create_invite("viewer")  # outside the CLI: the application itself
        assert audit.query("admin.invite", limit=1)[0].actor == "system"
