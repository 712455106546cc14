"""report.finding_json: a finding's JSON text is exactly dumps() of its record, however odd its values."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hikscan.passive.engine import Engine
from hikscan.report import finding_json
from hikscan.report.finding_json import MAX_MEMO, FindingEncoder
from hikscan.report.model import Finding, Remote
from hikscan.report.output import dumps

HOSTILE = "[/]\x1b[31m=cmd|' /C calc'!A0\x00\u202e[bold]\"\\\u2028\U0001f4f7\u8424\u77f3"

texts = st.one_of(st.text(max_size=12), st.sampled_from(["", HOSTILE, "CN", "\x7f\x9f", "a\nb"]))
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from([0, 1, 1.0, True, False, -0.0, 1e16, 2.5]),
)
scalars = st.one_of(st.none(), texts, numbers)
values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)  # fmt: skip


def _expected(finding: Finding, extra: dict[str, Any]) -> str:
    return dumps({**finding.to_dict(), **extra})


@st.composite
def findings(draw: st.DrawFn) -> Finding:
    pairs = st.tuples(texts, texts)
    remote = Remote(
        ip=draw(texts), port=draw(st.one_of(st.integers(0, 65535), numbers)), proto=draw(texts),
        name=draw(st.one_of(st.none(), texts)), country=draw(st.one_of(st.none(), texts)),
        asn=draw(st.one_of(st.none(), numbers)), org=draw(st.one_of(st.none(), texts)),
        cloud=draw(st.one_of(st.none(), texts)), owner=draw(st.one_of(st.none(), texts)),
        owner_country=draw(st.one_of(st.none(), texts)),
        located=draw(st.one_of(st.lists(pairs, max_size=3).map(tuple), st.just((("DB-IP", 1),)))),
        rtt_ms=draw(st.one_of(st.none(), numbers)),
        ports=draw(st.one_of(st.lists(texts, max_size=3).map(tuple), st.just((443, "443/tcp")),
                             st.lists(texts, max_size=3))),
    )  # fmt: skip
    device = draw(
        st.one_of(
            st.fixed_dictionaries({"ip": texts, "mac": st.one_of(st.none(), texts), "vendor": st.none()}),
            st.dictionaries(st.one_of(scalars), values, max_size=4),  # keys 1, 1.0, True, None: four keys
        )
    )
    return Finding(
        severity=draw(texts), rule=draw(texts), title=draw(texts), device=device, remote=remote,
        first_seen=draw(st.floats(0, 2**33)), last_seen=draw(st.floats(0, 2**33)),
        packets=draw(st.one_of(st.integers(0, 2**40), numbers)), bytes=draw(st.integers(0, 2**50)),
        evidence=draw(st.one_of(st.lists(texts, max_size=4), st.lists(values, max_size=3),
                                st.lists(texts, max_size=3).map(tuple))),
        flows=draw(st.integers(0, 9)), new_destination=draw(st.one_of(st.none(), st.booleans())),
        onset=draw(st.one_of(st.none(), st.floats(0, 2**33))),
        rate_per_hour=draw(st.one_of(st.none(), numbers)),
        metrics=draw(st.one_of(st.dictionaries(texts, values, max_size=3), st.none(), st.just([]))),
    )  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(findings(), min_size=1, max_size=6), st.dictionaries(texts, values, max_size=2))
def test_the_text_is_dumps_of_the_record(batch: list[Finding], extra: dict[str, Any]) -> None:
    """Hostile strings, numbers of every JSON flavour (1, 1.0, True, NaN, huge ints), lists where strings
    are expected, and `extra` keys that replace a field: one encoder across the batch, so its memos are
    consulted with values that differ only in type."""
    encode = FindingEncoder(extra)
    for finding in batch * 2:
        assert encode(finding) == _expected(finding, extra)


def test_values_equal_but_of_another_type_are_not_mixed_up_by_the_memos() -> None:
    """1 == 1.0 == True, and a memo keyed by them would write one for the others (in a device's keys or
    values, an evidence line, a remote's numbers, the metrics)."""
    encode = FindingEncoder({"capture": "c.pcap"})
    base = {"ip": "203.0.113.9", "port": 443, "proto": "tcp", "located": (("DB-IP", "CN"),)}
    seen = set()
    for value in (1, 1.0, True, "1"):
        for device in ({"ip": "10.0.0.2", "count": value}, {"ip": "10.0.0.2", value: "key"}):
            finding = Finding(
                severity="high", rule="r", title="t", device=device,
                remote=Remote(**base, asn=value, rtt_ms=value),  # type: ignore[arg-type]
                first_seen=1.0, last_seen=2.0, packets=1, bytes=1, evidence=[value], metrics={"m": value},
            )  # fmt: skip
            text = encode(finding)
            assert text == _expected(finding, {"capture": "c.pcap"})
            seen.add(text)
    assert len(seen) == 8


def test_the_memos_stay_bounded() -> None:
    encode = FindingEncoder()
    for i in range(MAX_MEMO + 10):
        finding = Finding(
            severity="low", rule=f"r{i}", title="t", device={"ip": f"10.0.{i // 256}.{i % 256}"},
            remote=Remote(ip=f"198.51.{i // 256}.{i % 256}", port=80, proto="tcp"),
            first_seen=0.0, last_seen=0.0, packets=0, bytes=0, evidence=[f"e{i}"],
        )  # fmt: skip
        assert encode(finding) == _expected(finding, {})
    for memo in (encode._heads, encode._devices, encode._evidence, encode._places):
        assert 0 < len(memo) <= MAX_MEMO


def test_the_memos_hold_a_bounded_amount_of_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Findings that share nothing (a distinct long evidence list each) cost a bounded memo, not a copy of
    the report; the text stays right when the memos start again empty."""
    monkeypatch.setattr(finding_json, "MAX_MEMO_CHARS", 50_000)
    encode = FindingEncoder()
    for i in range(400):
        finding = Finding(
            severity="low", rule="r", title="t", device={"ip": "10.0.0.1"},
            remote=Remote(ip="198.51.100.1", port=80, proto="tcp"), first_seen=0.0, last_seen=0.0,
            packets=0, bytes=0, evidence=[f"line {i} " + "x" * 500, HOSTILE],
        )  # fmt: skip
        assert encode(finding) == _expected(finding, {})
        memos = (encode._heads, encode._devices, encode._evidence, encode._places)
        held = sum(len(k) if isinstance(k, str) else 0 for m in memos for v in m.values() for k in
                   ([v] if isinstance(v, str) else v))  # fmt: skip
        assert held <= 25_000 and encode._chars <= 50_000


def test_every_finding_of_a_many_findings_capture(engine: Engine) -> None:
    """The bench's many-findings capture (tests/report/conftest.py): every finding the engine reports,
    through the memos as a report fills them, is the text dumps() gives its record; and NaN stays NaN."""
    extra = {"capture": "/captures/many.pcap"}
    encode = FindingEncoder(extra)
    records = list(engine.finding_records(lambda f: (encode(f), _expected(f, extra))))
    assert len(records) > 100
    assert all(text == want for text, want in records)
    assert len({json.loads(text)["remote"]["ip"] for text, _ in records}) > 10
    odd = Finding(
        severity="info", rule="r", title="t", device={}, remote=Remote(ip="x", port=0, proto="?"),
        first_seen=0.0, last_seen=0.0, packets=0, bytes=0, rate_per_hour=math.nan,
    )  # fmt: skip
    assert encode(odd) == _expected(odd, extra) and '"rate_per_hour": NaN' in encode(odd)
