"""report.tally: findings counted apart (a worker each) and merged give the serial counts, keys in the same
order, so the summary's most_common() lists break ties the same way."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from hikscan.cli.analyze import AnalyzeRequest, run_analyze
from hikscan.report.tally import FindingTally, counted, finding_facts

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The findings of the scenario captures (every rule and severity the engine makes there)."""
    out = tmp_path_factory.mktemp("tally") / "r.json"
    run_analyze(AnalyzeRequest(captures=[PCAPS], outputs=[("json", out)], fail_on="none", jobs=1))
    records: list[dict[str, Any]] = json.loads(out.read_text())["findings"]
    return records


def state(tally: FindingTally) -> list[Any]:
    """Everything a tally holds, counters as (key, count) lists: their order is compared too."""
    counters = (tally.by_severity, tally.by_rule, tally.countries)
    return [tally.count, tally.worst, *[list(counter.items()) for counter in counters]]


def tally_of(records: list[dict[str, Any]]) -> FindingTally:
    tally = FindingTally()
    for record in records:
        tally.add(finding_facts(record))
    return tally


def test_merged_tallies_are_the_serial_tally(findings: list[dict[str, Any]]) -> None:
    rng = random.Random(3)
    assert len(findings) > 50 and len({f["rule"] for f in findings}) > 5
    for _ in range(20):
        records = rng.sample(findings, len(findings))  # other orders: other first-seen key orders
        cuts = sorted(rng.sample(range(len(records) + 1), 3))
        parts = [records[a:b] for a, b in zip([0, *cuts], [*cuts, len(records)], strict=True)]
        merged = FindingTally()
        for part in parts:
            merged.merge(tally_of(part))
        assert state(merged) == state(tally_of(records))


def test_ties_keep_first_seen_order_across_a_merge() -> None:
    def finding(rule: str, country: str | None, members: bool = False) -> dict[str, Any]:
        device = {"ip": None, "members": ["10.0.0.1", "10.0.0.2"]} if members else {"ip": "10.0.0.1"}
        remote = {"ip": "192.0.2.1", "country": country}
        return {"severity": "low", "rule": rule, "device": device, "remote": remote}

    first = [finding("b", "CN"), finding("a", None)]
    second = [finding("c", "RU"), finding("a", "CN", members=True), finding("b", "HK")]
    merged = tally_of(first)
    merged.merge(tally_of(second))
    assert state(merged) == state(tally_of(first + second))
    assert list(merged.by_rule.most_common()) == [("b", 2), ("a", 2), ("c", 1)]
    assert list(merged.countries.most_common()) == [("CN", 1), ("??", 1), ("RU", 1), ("HK", 1)]


def test_counted_passes_the_text_on_and_counts_the_facts(findings: list[dict[str, Any]]) -> None:
    tally = FindingTally()
    pairs = [(json.dumps(record).encode(), finding_facts(record)) for record in findings]
    assert list(counted(iter(pairs), tally)) == [text for text, _facts in pairs]
    assert state(tally) == state(tally_of(findings))
