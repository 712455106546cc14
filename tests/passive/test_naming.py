"""The name tables and the DNS answer cache are bounded in bytes, whatever the capture holds."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable

from hikscan.passive.naming import MAX_BYTES, MAX_NAME, PAIR_COST, DnsCache, NameBook


def test_names_longer_than_a_dns_name_are_not_kept() -> None:
    book = NameBook()
    book.add_sni("10.0.0.2", "203.0.113.9", "a" * (MAX_NAME + 1))
    book.add_http_host("10.0.0.2", "203.0.113.9", "h" * 16_000)
    assert book.names_for("10.0.0.2", "203.0.113.9") == []
    assert book.dropped == 4 and book.bytes == 0


def test_name_tables_stop_at_their_byte_budget() -> None:
    book = NameBook(max_bytes=100_000)
    for i in range(10_000):
        book.add_dns_answer(f"10.0.{i // 250}.{i % 250}", f"cam{i}." + "x" * 200 + ".example", "203.0.113.9")
    assert book.bytes <= 100_000
    assert 0 < len(book.dns) < 10_000 and book.dropped > 0
    held = sum(len(n) for names in book.dns.values() for n in names)
    held += sum(len(n) for names in book.by_server.values() for n in names)
    assert held < book.bytes  # the estimate covers at least the characters held


def test_dns_cache_keys_are_digests_and_bytes_are_bounded() -> None:
    cache = DnsCache(max_bytes=50_000)
    big = b"\x12\x34" + bytes(60_000)
    key = DnsCache.key(big)
    assert len(key) == 16 and DnsCache.key(b"\x99\x99" + big[2:]) == key  # the id is ignored
    answers = tuple((f"name{i}.example", f"203.0.113.{i % 250}", 60) for i in range(200))
    for i in range(1000):
        cache.put(DnsCache.key(i.to_bytes(4, "big") + big), answers[:20])
        assert cache.bytes <= 50_000
    assert 0 < len(cache) < 1000
    too_big = tuple((f"n{i}." + "x" * 200, "203.0.113.1", 60) for i in range(400))  # > 64 KiB estimate
    cache.put(b"k" * 16, too_big)
    assert b"k" * 16 not in cache


def _measured(fill: Callable[[NameBook], None]) -> tuple[NameBook, int]:
    """The book `fill` leaves, and the bytes it really allocated (tracemalloc)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        book = NameBook()
        fill(book)
        return book, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_pair_of_a_camera_fleet_costs_under_48_bytes_and_the_estimate_covers_it() -> None:
    """The 10M-packet many-findings capture: 132,000 (camera, server) pairs, each with a SNI from a few
    cloud names and its ClientHellos counted. A pair must stay one dict slot (no key tuple, no names
    tuple of its own, no copy of an address string): that is what keeps MAX_BYTES worth ~200,000 pairs."""
    rng = random.Random(7)
    cameras = [f"192.168.{i // 250}.{i % 250 + 1}" for i in range(300)]
    servers = [f"47.{88 + i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(1200)]
    clouds = ["litedev.hik-connect.com", "dev.ezvizlife.com", "p2p.dahuap2p.com", "api.tuyaeu.com"]

    def fill(book: NameBook) -> None:
        for _ in range(60_000):
            # fresh str objects, as text() past its cache and DNS answers give them
            camera, server = "".join(rng.choice(cameras)), "".join(rng.choice(servers))
            book.count_parse(camera, server, "tls", 8)
            book.add_sni(camera, server, rng.choice(clouds).upper())

    book, real = _measured(fill)
    assert book.pair_count > 50_000 and book.dropped == 0
    per_pair = real / book.pair_count
    assert per_pair < 48, f"{per_pair:.1f} bytes a pair"
    assert real <= book.bytes  # the bound is on the estimate: it must not undercount
    assert MAX_BYTES // PAIR_COST >= 200_000


def test_the_estimate_covers_the_worst_layout_every_pair_its_own_client_and_name() -> None:
    def fill(book: NameBook) -> None:
        for i in range(5_000):
            client = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
            book.add_dns_answer(client, f"host{i}.example.com", f"203.0.113.{i % 200}")
            book.add_signature(client, f"198.51.100.{i % 200}", f"sig-{i}")

    book, real = _measured(fill)
    assert book.pair_count == 10_000 and real <= book.bytes, (real, book.bytes)


def test_past_the_byte_bound_new_pairs_are_counted_and_old_ones_still_answer() -> None:
    book = NameBook(max_bytes=20_000)
    for i in range(200):
        book.add_sni("10.0.0.2", f"203.0.113.{i}", "litedev.hik-connect.com")
    assert book.bytes <= 20_000 and 0 < book.pair_count < 200 and book.dropped > 0
    assert book.names_for("10.0.0.2", "203.0.113.0") == [("litedev.hik-connect.com", "sni")]
    assert book.count_parse("10.0.0.2", "203.0.113.199", "tls", 8)  # past the bound: always parsed
    assert book.cell("10.0.0.2", "203.0.113.199") is None


def test_parse_counts_and_signatures_live_in_the_pair_cell() -> None:
    book = NameBook()
    assert [book.count_parse("10.0.0.2", "203.0.113.9", "tls", 3) for _ in range(5)] == [True] * 3 + [
        False
    ] * 2
    assert book.count_parse("10.0.0.2", "203.0.113.9", "http-request", 3)  # counted apart from tls
    book.add_signature("10.0.0.2", "203.0.113.9", "cs2-pppp")
    book.add_signature("10.0.0.2", "203.0.113.9", "tuya")  # the first one stays
    assert book.signature("10.0.0.2", "203.0.113.9") == "cs2-pppp"
    assert book.names_for("10.0.0.2", "203.0.113.9") == []  # no name yet: nothing to report
    book.add_sni("10.0.0.2", "203.0.113.9", "X.Example.")
    assert book.sni == {("10.0.0.2", "203.0.113.9"): ("x.example",)}
    assert book.signatures == {("10.0.0.2", "203.0.113.9"): "cs2-pppp"} and book.pair_count == 1
