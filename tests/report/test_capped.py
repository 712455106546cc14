"""The per-device cap decided as findings are made equals sorting everything and then capping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hikscan.report.capped import CappedOrder

FINDING = st.tuples(
    st.integers(0, 3), st.sampled_from([1.0, 2.0, 2.5, 7.0]), st.sampled_from(["", "10.0.0.1", "10.0.0.2"])
)


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
