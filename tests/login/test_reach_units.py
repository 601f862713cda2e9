"""Reach (SPEC §13) in small pieces: the sign-in code's alphabet, entropy and normalisation, WeChat browser
detection, the web-authorization code exchange of the API client, the account-type rules of the CLI, and
guess counting (SPEC §15) as the database sees it."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from typing import Any

import pytest
import requests
import responses
from flask import Flask

from idp_bridge import ratelimit
from idp_bridge.login import codes, webauth
from idp_bridge.wechat import errors
from idp_bridge.wechat.client import WeChatClient
from tests.support.cli import assert_clean_exit

API = "https://api.example.test"
APP_ID, SECRET = "wx0123456789abcdef", "0123456789abcdef0123456789abcdef"


def test_alphabet_has_32_unambiguous_symbols_and_codes_carry_40_bits() -> None:
    assert len(set(codes.ALPHABET)) == len(codes.ALPHABET) == 32
    assert not set("ILOU") & set(codes.ALPHABET)
    assert codes.entropy_bits() >= 40 and math.isclose(codes.entropy_bits(), 40.0)
    generated = [codes.generate() for _ in range(2000)]
    assert all(len(c) == codes.LENGTH and set(c) <= set(codes.ALPHABET) for c in generated)
    assert len(set(generated)) == len(generated)
    # Roughly uniform: every symbol appears, none more than twice its fair share (16 000 draws, 500 expected).
    counts = Counter("".join(generated))
    assert set(counts) == set(codes.ALPHABET) and max(counts.values()) < 1000


def test_display_groups_the_code_in_fours() -> None:
    assert codes.display("K7PM3QXD") == "K7PM-3QXD"


@pytest.mark.parametrize("typed", ["K7PM-3QXD", "k7pm3qxd", " k7pm 3qxd ", "K7PM—3QXD".replace("—", "-"),
                                   "K7PM\u30003QXD", "k7pm_3qxd", "K7PM\uff0d3QXD"])
def test_normalisation_ignores_case_spaces_and_dashes(typed: str) -> None:
    assert codes.normalise(typed) == "K7PM3QXD"


def test_normalisation_maps_look_alikes_and_refuses_other_text() -> None:
    assert codes.normalise("ABCO-ILXY") == "ABC0-11XY".replace("-", "")
    for text in ["hello", "", "K7PM-3QX", "K7PM-3QXDD", "K7PM-3QXU", "登录码ABCDEFGH", "1234"]:
        assert codes.normalise(text) is None, text


@pytest.mark.parametrize(("agent", "expected"), [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
     "MicroMessenger/8.0.44(0x18002c2d) NetType/WIFI Language/zh_CN", True),
    ("Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/116.0 Mobile Safari/537.36 XWEB/1160065 "
     "micromessenger/8.0.47.2560", True),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
     False),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 "
     "Safari/604.1", False),
    ("", False),
    (None, False),
])
def test_wechat_browser_detection(agent: str | None, expected: bool) -> None:
    assert webauth.is_wechat_browser(agent) is expected


@responses.activate
def test_oauth_exchange_returns_the_openid_and_types_errors() -> None:
    client = WeChatClient(API, APP_ID, SECRET, token_cache=None)  # type: ignore[arg-type]  # no token needed
    responses.get(f"{API}/sns/oauth2/access_token", json={"access_token": "W", "expires_in": 7200,
                                                         "openid": "oUser_1", "scope": "snsapi_base"})
    assert client.oauth_openid("CODE1") == "oUser_1"
    sent = responses.calls[0].request.url or ""
    assert "grant_type=authorization_code" in sent and "code=CODE1" in sent
    responses.replace(responses.GET, f"{API}/sns/oauth2/access_token",
                      json={"errcode": 40029, "errmsg": f"invalid code secret={SECRET}"})
    with pytest.raises(errors.WeChatOAuthCodeInvalid) as info:
        client.oauth_openid("CODE2")
    assert "web-authorization domain" in str(info.value) and SECRET not in str(info.value)
    responses.replace(responses.GET, f"{API}/sns/oauth2/access_token", body=requests.ReadTimeout())
    with pytest.raises(errors.WeChatUnavailable):
        client.oauth_openid("CODE3")
    responses.replace(responses.GET, f"{API}/sns/oauth2/access_token", json={"openid": "<script>"})
    with pytest.raises(errors.WeChatUnavailable):
        client.oauth_openid("CODE4")
    with pytest.raises(ValueError):
        client.oauth_openid("bad\ncode")


def _create(cli_run: Any, identifier: str, *extra: str) -> Any:
    return cli_run("connection", "create", "--identifier", identifier, "--display-name", "Sub", "--app-id",
                   "wx0123456789abcdef", "--app-secret", SECRET, "--token", "tok123", "--encryption", "plaintext",
                   "--json", *extra)


def test_cli_accepts_subscription_accounts_as_code_only(cli_run: Any) -> None:
    created = _create(cli_run, "news", "--account-type", "subscription", "--account-qr-url",
                      "http://weixin.qq.com/r/abc")
    assert created.exit_code == 0, created.output
    body = json.loads(created.output)
    assert body["account_type"] == "subscription" and body["code_login"] is True
    assert body["account_qr_url"] == "http://weixin.qq.com/r/abc" and body["web_auth"] is False
    refused = cli_run("connection", "update", "news", "--web-auth", "--json")
    assert_clean_exit(refused)
    assert refused.exit_code == 2 and "web_auth" in refused.output
    assert json.loads(cli_run("connection", "show", "news", "--json").output)["web_auth"] is False


def test_cli_reach_options_validate_before_anything_is_written(cli_run: Any) -> None:
    for extra in (["--require-follow"], ["--account-qr-url", "javascript:alert(1)"],
                  ["--account-type", "subscription", "--web-auth"]):
        result = _create(cli_run, "bad", *extra)
        assert_clean_exit(result, extra)
        assert result.exit_code == 2, (extra, result.output)
        assert cli_run("connection", "show", "bad", "--json").exit_code == 1  # nothing was created
    ok = _create(cli_run, "svc", "--web-auth", "--require-follow", "--code-login")
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.output)
    assert (body["web_auth"], body["require_follow"], body["code_login"]) == (True, True, True)
    off = json.loads(cli_run("connection", "update", "svc", "--no-require-follow", "--no-web-auth", "--json").output)
    assert (off["web_auth"], off["require_follow"], off["code_login"]) == (False, False, True)


def test_guess_counter_counts_before_evaluating_and_is_purged_only_after_its_window(app: Flask) -> None:
    with app.app_context():
        key = f"{codes.GUESS_KEY_PREFIX}1:oGuesser"
        window = int(time.time()) // codes.GUESS_WINDOW_SECONDS
        assert [ratelimit.hit(key, window, codes.GUESSES_PER_WINDOW) for _ in range(6)] == [1, 2, 3, 4, 5, None]
        from idp_bridge.extensions import db

        now = int(time.time())
        stale = db.session.scalars(db.select(ratelimit.RateCounter.key).where(ratelimit.stale_counters(now))).all()
        assert key not in stale  # a minute-window purge must not reset a 10-minute guess counter
        later = now + 2 * codes.GUESS_WINDOW_SECONDS
        stale = db.session.scalars(db.select(ratelimit.RateCounter.key).where(ratelimit.stale_counters(later))).all()
        assert key in stale


def test_demo_enables_web_auth_and_code_login(app: Flask) -> None:
    from idp_bridge.cli.demo import DEMO_CONNECTION, _ensure_demo_data
    from idp_bridge.wechat.connections import get_connection

    with app.app_context():
        _ensure_demo_data(app)
        connection = get_connection(DEMO_CONNECTION)
        assert connection is not None and connection.web_auth and connection.code_login
        assert connection.account_type == "service"  # QR logins keep working too
