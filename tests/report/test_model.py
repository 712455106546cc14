"""The report model's to_dict: every dataclass field, in field order (the writers' key order)."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from hikscan.report.model import Finding, Remote, iso_time


def _finding() -> Finding:
    remote = Remote(
        ip="203.0.113.7", port=443, proto="tcp", name="a.example", country="CN", asn=4134,
        org="CHINANET", cloud="Hik-Connect", owner="China Telecom", owner_country="CN",
        located=(("dbip", "CN"), ("rir", "HK")), rtt_ms=12.5, ports=("443/tcp", "80/tcp"),
    )  # fmt: skip
    return Finding(
        severity="high", rule="dest-cn", title="t", device={"ip": "10.0.0.2", "mac": None},
        remote=remote, first_seen=1700000000.1234, last_seen=1700000100.5, packets=3, bytes=400,
        evidence=["x"], flows=2, new_destination=True, onset=1700000000.0, rate_per_hour=1.5,
        metrics={"score": 0.9},
    )  # fmt: skip


def test_remote_to_dict_is_asdict_in_field_order() -> None:
    remote = _finding().remote
    out = remote.to_dict()
    assert list(out) == [f.name for f in fields(Remote)]
    expected = asdict(remote)
    expected["located"] = [list(p) for p in remote.located]
    expected["ports"] = list(remote.ports)
    assert out == expected


def test_finding_to_dict_is_asdict_in_field_order() -> None:
    finding = _finding()
    out = finding.to_dict()
    assert list(out) == [f.name for f in fields(Finding)]
    expected = asdict(finding)
    expected["remote"] = finding.remote.to_dict()
    for name in ("first_seen", "last_seen", "onset"):
        expected[name] = iso_time(getattr(finding, name))
    assert out == expected
    assert out["first_seen"] == "2023-11-14T22:13:20.123Z"
    finding.onset = None
    assert finding.to_dict()["onset"] is None


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=0, max_value=2**33, allow_nan=False),
        st.builds(
            lambda s, f: s + f,
            st.integers(0, 2**32),
            st.sampled_from(
                [0.0, 0.0005, 0.0004999, 0.9995, 0.9999995, 0.9999994, 0.5e-6, 1.5e-6, 0.1234565]
            ),
        ),
    )
)
def test_iso_time_equals_datetimes_own_formatting(ts: float) -> None:
    """The per-second memo rounds microseconds and truncates to milliseconds exactly as datetime does."""
    expected = datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert iso_time(ts) == expected
    assert iso_time(ts) == expected  # from the memo the second time
