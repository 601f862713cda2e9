"""Crypto against the published vectors (shared/wechat/vectors.json) and hypothesis properties."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from Crypto.Cipher import AES
from hypothesis import given, settings
from hypothesis import strategies as st

from idp_bridge.wechat import crypto

# A copy of shared/wechat/vectors.json, kept beside the tests so a clone is self-contained.
VECTORS: dict[str, Any] = json.loads((Path(__file__).resolve().parent / "vectors.json").read_text())
KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APPID = "wx49f0ab532d5d035a"


@pytest.mark.parametrize("vector", VECTORS["url_signature"], ids=lambda v: v["source"][:30])
def test_url_signature_vectors(vector: dict[str, str]) -> None:
    assert crypto.url_signature(vector["token"], vector["timestamp"], vector["nonce"]) == vector["signature"]


@pytest.mark.parametrize("name", ["official_sample_decrypt", "wechatpy_decrypt"])
def test_decrypt_vectors(name: str) -> None:
    v = VECTORS[name]
    assert crypto.msg_signature(v["token"], v["timestamp"], v["nonce"], v["encrypt"]) == v["msg_signature"]
    assert crypto.decrypt(v["encrypt"], v["encoding_aes_key"], v["appid"]) == v["decrypted_plaintext"]
    key = crypto.aes_key_bytes(v["encoding_aes_key"])
    raw = AES.new(key, AES.MODE_CBC, iv=key[:16]).decrypt(base64.b64decode(v["encrypt"]))
    assert raw[:16] == v["decrypted_random16"].encode()


def test_encrypt_vector_is_reproduced_exactly() -> None:
    v = VECTORS["wechatpy_encrypt_deterministic"]
    out = crypto.encrypt(v["plaintext"], v["encoding_aes_key"], v["appid"], v["random16"].encode())
    assert out == v["encrypt"]
    assert crypto.msg_signature(v["token"], v["timestamp"], v["nonce"], out) == v["msg_signature"]
    envelope = crypto.encrypt_reply(v["plaintext"], v["encoding_aes_key"], v["appid"], v["token"], v["timestamp"],
                                    v["nonce"], v["random16"].encode())
    assert f"<Encrypt><![CDATA[{v['encrypt']}]]></Encrypt>" in envelope
    assert f"<MsgSignature><![CDATA[{v['msg_signature']}]]></MsgSignature>" in envelope


def test_padding_uses_32_byte_blocks_and_full_block_when_aligned() -> None:
    assert crypto._pad(b"x" * 32)[-32:] == bytes([32]) * 32
    assert crypto._pad(b"x" * 31)[-1:] == b"\x01"
    with pytest.raises(crypto.DecryptError):
        crypto._unpad(b"a" * 31 + b"\x21")  # 33 > block size
    with pytest.raises(crypto.DecryptError):
        crypto._unpad(b"a" * 29 + b"\x02\x03\x03")  # inconsistent pad bytes


def test_wrong_appid_wrong_key_truncation() -> None:
    token = crypto.encrypt("<xml/>", KEY, APPID)
    with pytest.raises(crypto.AppIdMismatch):
        crypto.decrypt(token, KEY, "wx0000000000000000")
    other = "a" * 43
    with pytest.raises(crypto.WeChatCryptoError):
        crypto.decrypt(token, other, APPID)
    with pytest.raises(crypto.DecryptError):
        crypto.decrypt(token[:-8], KEY, APPID)
    with pytest.raises(crypto.DecryptError):
        crypto.decrypt("not base64 at all!", KEY, APPID)
    with pytest.raises(crypto.InvalidAESKey):
        crypto.decrypt(token, "short", APPID)


def test_previous_key_fallback_reports_the_key_that_worked() -> None:
    old, new = KEY, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    message = crypto.encrypt("<xml>hi</xml>", old, APPID)
    assert crypto.decrypt_with_fallback(message, [new, old], APPID) == ("<xml>hi</xml>", old)
    with pytest.raises(crypto.WeChatCryptoError):
        crypto.decrypt_with_fallback(message, [new], APPID)


def test_signatures_equal_is_total() -> None:
    assert crypto.signatures_equal("abc", "abc")
    assert not crypto.signatures_equal("abc", "abd")
    assert not crypto.signatures_equal("abc", "日本")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000), st.binary(min_size=16, max_size=16))
def test_round_trip_arbitrary_utf8(message: str, random16: bytes) -> None:
    assert crypto.decrypt(crypto.encrypt(message, KEY, APPID, random16), KEY, APPID) == message


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()), st.text(max_size=300)))
def test_decrypt_of_arbitrary_input_raises_only_module_errors(data: str) -> None:
    try:
        crypto.decrypt(data, KEY, APPID)
    except crypto.WeChatCryptoError:
        pass
