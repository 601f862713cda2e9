"""The completion link answers with the resumed authorization in the response mode the application asked for
(OAuth 2.0 Form Post Response Mode; web_message for pop-ups, SPEC §8): a page that posts or hands the code to
the application, not a redirect, and the SSO cookie beside it."""

from __future__ import annotations

import html
import json
import re

import pytest
from flask import Flask

from tests.login.conftest import REDIRECT, Browser


@pytest.mark.parametrize("mode", ["form_post", "web_message"])
def test_the_completion_answers_in_the_requested_response_mode(app: Flask, live_url: str, rp: tuple[str, str],
                                                               mode: str) -> None:
    browser = Browser(live_url)
    browser.start(rp[0], response_mode=mode, state="st-" + mode)
    browser.scanned("Zoe")
    assert browser.events[-1]["state"] == "succeeded"
    answer = browser.session.get(browser.base + browser.events[-1]["next"], allow_redirects=False, timeout=10)
    assert answer.status_code == 200, (answer.status_code, answer.headers.get("Location"))
    assert answer.headers["Cache-Control"] == "no-store"
    assert any(c.name == "idpb_sso" for c in browser.session.cookies)
    if mode == "form_post":
        assert f'action="{REDIRECT}"' in answer.text
        fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', answer.text))
        assert fields["state"] == "st-form_post" and fields["code"] and fields["iss"] == live_url
        assert "form-action http://127.0.0.1:9" in answer.headers["Content-Security-Policy"]
    else:
        target = re.search(r'data-target-origin="([^"]*)"', answer.text)
        message = re.search(r'data-message="([^"]*)"', answer.text)
        assert target and message and target.group(1) == "http://127.0.0.1:9"
        response = json.loads(html.unescape(message.group(1)))["response"]
        assert response["state"] == "st-web_message" and response["code"] and response["iss"] == live_url
