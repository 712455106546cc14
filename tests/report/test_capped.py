"""The per-device cap decided as findings are made equals sorting everything and then capping."""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from hikscan.report.capped import CappedOrder

FINDING = st.tuples(
    st.integers(0, 3), st.sampled_from([1.0, 2.0, 2.5, 7.0]), st.sampled_from(["", "10.0.0.1", "10.0.0.2"])
)


@settings(max_examples=500)  # devices crossing the cap, where their kept findings become a heap
@given(findings=st.lists(FINDING, max_size=60), cap=st.integers(1, 5))
def test_capped_as_made_is_sorted_then_capped(findings: list[tuple[int, float, str]], cap: int) -> None:
    """Kept records in report order (ties in the order made) and folded counts per device, devices in the
    order the report meets their first folded finding — the plain definition, computed here."""
    order = CappedOrder(cap)
    records = [i for i, f in enumerate(findings) if order.admit(*f)]  # the caller's records: kept ones
    everything = sorted(range(len(findings)), key=lambda i: (-findings[i][0], findings[i][1], findings[i][2]))
    per_device: dict[str, int] = {}
    want, want_folded = [], {}
    for i in everything:
        ip = findings[i][2]
        per_device[ip] = per_device.get(ip, 0) + 1
        if ip and per_device[ip] > cap:
            want_folded[ip] = want_folded.get(ip, 0) + 1
        else:
            want.append(i)
    assert [records[k] for k in order.order()] == want
    assert list(order.folded().items()) == list(want_folded.items())


def test_findings_below_the_cap_cost_a_few_numbers_each() -> None:
    """40,000 findings of 400 devices, each below the cap of 256: ~37 bytes a finding (the sort keys' columns
    and two numbers); a heap entry per finding made it ~185."""
    order = CappedOrder(256)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(40_000):
            assert order.admit(i % 4, 1_700_000_000.0 + i, f"10.0.{i % 400 // 256}.{i % 400 % 256}")
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(order.order()) == 40_000 and not order.folded()
    assert held < 40_000 * 60, f"{held / 40_000:.0f} bytes a finding"
