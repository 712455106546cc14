"""The name tables and the DNS answer cache are bounded in bytes, whatever the capture holds."""

from __future__ import annotations

from hikscan.passive.naming import MAX_NAME, DnsCache, NameBook


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
