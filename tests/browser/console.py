"""Console helpers for browser tests: a new operator's way in — `idp-bridge admin invite`, then WeChat
follow login through the simulator."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import phone, ticket_of


def invite(cli_run: Any, role: str = "admin") -> str:
    result = cli_run("admin", "invite", "--role", role, "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.output)["url"])


def scan_in(page: Page, live_url: str, user: str, action: str = "follow", choose: str | None = None) -> None:
    """On the bridge's login page, ``user`` scans the QR code with the simulated phone (after picking the
    connection ``choose`` when several are offered)."""
    if choose:
        page.click(f"a[href$='connection={choose}']")
    expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    phone(live_url, ticket_of(page), user, action)


def console_signin(page: Page, live_url: str, cli_run: Any, user: str, role: str = "admin",
                   choose: str | None = None) -> None:
    page.goto(invite(cli_run, role))
    scan_in(page, live_url, user, choose=choose)
    page.wait_for_url(f"{live_url}/admin/overview")
    expect(page.locator(".me")).to_contain_text(f"({role})")
