"""Database rate counters: exact under concurrency (no lost hits, no false refusals), windows roll over."""

from __future__ import annotations

import threading

from flask import Flask

from idp_bridge import ratelimit


def test_concurrent_first_hits_are_all_counted_and_the_limit_holds(app: Flask) -> None:
    allowed: list[int | None] = []

    def worker() -> None:
        with app.app_context():
            for _ in range(10):
                allowed.append(ratelimit.hit("burst", 7, 60))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for a in allowed if a is not None) == 60 and allowed.count(None) == 20
    with app.app_context():
        assert ratelimit.count("burst", 7) == 60
        assert ratelimit.hit("burst", 8, 60) == 1  # a new window starts from one
        assert ratelimit.count("burst", 7) == 0


def test_per_address_key_groups_an_ipv6_slash_64_and_keeps_ipv4_addresses_apart() -> None:
    """A subscriber usually gets a whole IPv6 /64 (RFC 6177 §3, RFC 7934): counting per full address would let
    one client rotate through 2**64 addresses, so IPv6 clients share their /64's counter; IPv4 counts per address
    and an IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2) is the IPv4 client it carries."""
    key = ratelimit.client_address_key
    assert key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff:ffff:ffff:ffff") == key("2001:DB8:1:2:0:0:0:7")
    assert key("2001:db8:1:2::1") != key("2001:db8:1:3::1")
    assert key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert key("192.0.2.1") == "192.0.2.1" != key("192.0.2.2")
    assert key("::ffff:192.0.2.1") == key("192.0.2.1")
    assert key("fe80::1%eth0") == "fe80::/64"
    assert key("") == key(None) == "unknown"
    assert key("not-an-ip" * 20) == "other:" + ("not-an-ip" * 20)[:48]


def test_qr_limit_per_ipv6_slash_64_refuses_a_client_rotating_addresses(app: Flask) -> None:
    """SPEC §7.2 per-client QR limit: new addresses inside the same /64 do not buy new QR codes."""
    from idp_bridge.login.limits import allow_qr

    with app.app_context():
        verdicts = [allow_qr(1, "acme", f"2001:db8:aa:bb::{i:x}", 3).allowed for i in range(1, 6)]
        assert verdicts == [True, True, True, False, False]
        assert allow_qr(1, "acme", "2001:db8:aa:bc::1", 3).allowed  # the next /64 is another client
        v4 = [allow_qr(1, "acme", f"192.0.2.{i}", 1).allowed for i in range(1, 4)]
        assert v4 == [True, True, True]
        assert not allow_qr(1, "acme", "::ffff:192.0.2.1", 1).allowed  # same client as 192.0.2.1
