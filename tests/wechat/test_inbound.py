"""``wechat.inbound.verify_push`` as a pure function: the rules of SPEC §7.4, §11 and §15 "Push integrity"
without Flask or a database (the replay memory is an in-memory guard here, the database one in the HTTP tests)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp_bridge.simulator.push import Push, build_push, render_event_xml
from idp_bridge.wechat import crypto, inbound, messages

APP_ID, TOKEN, KEY, OLD_KEY = "wx0123456789abcdef", "MyToken123", "k" * 43, "o" * 43


@dataclass(frozen=True)
class Secrets:
    token: str = TOKEN
    keys: tuple[str, ...] = (KEY, OLD_KEY)

    def aes_keys(self) -> tuple[str, ...]:
        return self.keys


@dataclass
class MemoryGuard:
    seen: dict[str, str] = field(default_factory=dict)

    def remember(self, signature: str, body_digest: str, expires_at: int) -> bool:
        return self.seen.setdefault(signature, body_digest) == body_digest


def _xml(openid: str = "oUSER", scene: str = "login_abc") -> str:
    return render_event_xml("gh_x", openid, int(time.time()), "SCAN", scene, "T")


def _push(mode: str, xml: str | None = None, key: str = KEY, **kw: int) -> Push:
    return build_push(xml or _xml(), token=TOKEN, mode=mode, app_id=APP_ID, openid="oUSER", to_user="gh_x",
                      encoding_aes_key=None if mode == "plaintext" else key, **kw)  # type: ignore[arg-type]


def _verify(push: Push, mode: str, guard: MemoryGuard | None = None, now: float | None = None,
            params: dict[str, str] | None = None, body: bytes | None = None) -> inbound.VerifiedPush:
    return inbound.verify_push(push.params if params is None else params, push.body if body is None else body,
                               Secrets(), mode, APP_ID, time.time() if now is None else now, guard or MemoryGuard())


@pytest.mark.parametrize("mode", inbound.MODES)
def test_a_genuine_push_verifies_in_every_mode(mode: str) -> None:
    verified = _verify(_push(mode), mode)
    assert isinstance(verified.message, messages.ScanEvent) and verified.message.event_key == "login_abc"
    assert verified.aes_key == (None if mode == "plaintext" else KEY)


@pytest.mark.parametrize("mode", ["compatible", "safe"])
def test_the_previous_key_still_decrypts_and_is_reported(mode: str) -> None:
    assert _verify(_push(mode, key=OLD_KEY), mode).aes_key == OLD_KEY


@pytest.mark.parametrize("mode", inbound.MODES)
@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_timestamp_window_is_five_minutes_either_side(mode: str, offset: int, ok: bool) -> None:
    now = time.time()
    push = _push(mode, timestamp=int(now) + offset)
    if ok:
        _verify(push, mode, now=int(now))
        return
    with pytest.raises(inbound.ForgedPush) as refused:
        _verify(push, mode, now=int(now))
    assert refused.value.status == 403


@pytest.mark.parametrize("mode", ["compatible", "safe"])
@pytest.mark.parametrize("drop", [("encrypt_type",), ("msg_signature",), ("encrypt_type", "msg_signature")])
def test_encrypted_modes_refuse_a_body_nothing_signs(mode: str, drop: tuple[str, ...]) -> None:
    """SPEC §15: a genuine query without its encryption parameters plus a plaintext body is a forgery."""
    genuine = _push(mode)
    params = {k: v for k, v in genuine.params.items() if k not in drop}
    with pytest.raises(inbound.ForgedPush):
        _verify(genuine, mode, params=params, body=_xml("oVICTIM", "login_attacker").encode())


def test_compatible_mode_reads_only_the_decrypted_copy() -> None:
    genuine = _push("compatible", _xml(scene="login_real"))
    forged = genuine.body.replace(b"login_real", b"login_forged", 1)
    verified = _verify(genuine, "compatible", body=forged)
    assert isinstance(verified.message, messages.ScanEvent) and verified.message.event_key == "login_real"


def test_plaintext_signature_with_another_body_is_refused_and_the_same_body_passes() -> None:
    guard = MemoryGuard()
    genuine = _push("plaintext")
    _verify(genuine, "plaintext", guard)
    _verify(genuine, "plaintext", guard)  # WeChat's re-delivery: same query, same body
    with pytest.raises(inbound.ForgedPush) as refused:
        _verify(genuine, "plaintext", guard, body=_xml("oVICTIM", "login_attacker").encode())
    assert refused.value.status == 403 and "another body" in refused.value.reason


@pytest.mark.parametrize("bad", ["signature", "body", "encrypted"])
def test_plaintext_refusals_for_other_reasons_remember_nothing(bad: str) -> None:
    guard = MemoryGuard()
    genuine = _push("plaintext")
    params, body = dict(genuine.params), genuine.body
    if bad == "signature":
        params["signature"] = "0" * 40
    elif bad == "body":
        body = b"<xml><MsgType>event</MsgType></xml>"
    else:
        params["encrypt_type"] = "aes"
    with pytest.raises(inbound.PushRefused):
        _verify(genuine, "plaintext", guard, params=params, body=body)
    assert guard.seen == {}


def test_url_verification_echoes_only_with_a_valid_signature() -> None:
    ts, nonce = str(int(time.time())), "42"
    params = {"signature": crypto.url_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
              "echostr": "hello"}
    assert inbound.verify_url(params, TOKEN, time.time()) == "hello"
    with pytest.raises(inbound.ForgedPush):
        inbound.verify_url({**params, "signature": "f" * 40}, TOKEN, time.time())
    with pytest.raises(inbound.MalformedPush):
        inbound.verify_url({**params, "echostr": ""}, TOKEN, time.time())


def test_an_unknown_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        _verify(_push("plaintext"), "raw")


_PARAM = st.one_of(st.text(max_size=50), st.sampled_from(["aes", "raw", "1", "f" * 40, str(int(time.time()))]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(inbound.MODES), st.dictionaries(
    st.sampled_from(["signature", "timestamp", "nonce", "encrypt_type", "msg_signature"]), _PARAM),
    st.binary(max_size=600))
def test_any_input_is_verified_or_refused_with_a_status(mode: str, params: dict[str, str], body: bytes) -> None:
    try:
        _verify(_push(mode), mode, params=params, body=body)
    except inbound.PushRefused as refused:
        assert refused.status in (400, 403)


@pytest.mark.parametrize("timestamp", ["١٧٠٠٠٠٠٠٠٠", "²", "1" * 13])
def test_timestamps_are_ascii_digits_only(timestamp: str) -> None:
    push = _push("plaintext")
    with pytest.raises(inbound.MalformedPush):
        _verify(push, "plaintext", params={**push.params, "timestamp": timestamp})
