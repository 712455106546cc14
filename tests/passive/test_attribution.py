"""Evidence per LAN host is bounded in bytes: past the bound it is counted, and the estimate covers it."""

from __future__ import annotations

import tracemalloc

from hikscan.knowledge.rules import default_rules
from hikscan.passive.attribution import Attribution
from hikscan.report.model import Evidence

RULES = default_rules()


def _fill(att: Attribution, hosts: int) -> None:
    for i in range(hosts):
        ip = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        att.add_mac(ip, f"58:50:ed:{i // 65536:02x}:{i // 256 % 256:02x}:{i % 256:02x}")
        att.add(ip, [Evidence("capture", "http.user_agent", f"VLC/3.0.{i} LibVLC/3.0.{i}")])
        att.add(ip, [Evidence("capture", "dns.query", f"cam{i}.hik-connect.com") for _ in range(2)])
        att.add_by_mac(f"58:50:ed:00:00:{i % 256:02x}", [Evidence("capture", "dhcp.hostname", f"HIK{i}")])


def test_the_estimate_covers_what_the_evidence_tables_hold() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        att = Attribution(RULES)
        _fill(att, 5_000)
        real = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert att.dropped == 0 and len(att.evidence) == 5_000
    assert real <= att.bytes, (real, att.bytes)


def test_past_the_byte_bound_hosts_and_items_are_counted_not_kept() -> None:
    att = Attribution(RULES)
    att.max_bytes = 50_000
    _fill(att, 1_000)
    assert att.bytes <= 50_000 and att.dropped > 0
    assert 0 < len(att.evidence) < 1_000
    assert att.device("10.0.0.0").evidence  # what was kept still answers
