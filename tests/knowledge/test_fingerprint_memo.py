"""The rule index (RuleSet.fingerprints_for) and the match memo (fingerprint.match_evidence) change no
verdict: every rule example, every real reply in tests/data and every evidence item the engine gathers
from the real captures is matched as a plain scan of the whole rule list in order would match it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from pcaputil import shared_real_dir

from hikscan.knowledge import fingerprint
from hikscan.knowledge.fingerprint import MAX_VALUE, identify, match_evidence
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import RuleSet, default_rules
from hikscan.passive.engine import Engine
from hikscan.report.model import Evidence

ROOT = Path(__file__).parents[2]
SHARED = shared_real_dir()
CAPTURES = sorted(
    [
        *ROOT.glob("pcaps/*.pcap*"),
        *ROOT.glob("pcaps/real/*.pcap*"),
        *(SHARED.glob("*.pcap*") if SHARED else ()),
    ]
)


def reference(ev: Evidence, rules: RuleSet) -> list[fingerprint.Match]:
    """No index, no memo: every rule in rule-set order whose key (or `ns.*`) names the evidence key."""
    ns = ev.key.split(".", 1)[0]
    out = []
    for rule in sorted(rules.fingerprints, key=lambda r: r.order):
        if rule.status == "deprecated" or not (rule.key == ev.key or rule.key == f"{ns}.*"):
            continue
        sets = fingerprint._sets(rule, ev.value[:MAX_VALUE], rules)
        if sets is not None:
            out.append(fingerprint.Match(rule.id, ev, sets, rule.confidence))
    return out


def example_evidence(rules: RuleSet) -> list[Evidence]:
    out = []
    for rule in rules.fingerprints:
        for ex in rule.examples:
            key = ex.get("key", rule.key)
            if not key.endswith(".*"):
                out.append(Evidence("example", key, str(ex["value"])))
    return out


def capture_evidence(rules: RuleSet) -> list[list[Evidence]]:
    hosts: list[list[Evidence]] = []
    for path in CAPTURES:
        engine = Engine(rules, GeoLookup(None, None), OuiTable.load())
        engine.run_files([path])
        engine.finish()
        attribution = engine.attribution
        hosts.extend(list(items) for items in attribution.evidence.values())
        hosts.extend(list(items) for items in attribution.by_mac.values())
    return hosts


def _same(got: list[fingerprint.Match], want: list[fingerprint.Match]) -> None:
    assert [(m.rule_id, m.evidence, dict(m.sets), m.confidence) for m in got] == [
        (m.rule_id, m.evidence, dict(m.sets), m.confidence) for m in want
    ]


def test_every_example_matches_as_a_full_scan() -> None:
    rules = dataclasses.replace(default_rules())  # a fresh, empty memo
    items = example_evidence(rules)
    assert len(items) > 200
    for ev in items:
        want = reference(ev, rules)
        _same(match_evidence(ev, rules), want)  # computed
        _same(match_evidence(ev, rules), want)  # replayed from the memo
    assert rules.memo("fingerprint.match_evidence")  # the memo was used


def test_long_values_are_matched_but_not_remembered() -> None:
    rules = dataclasses.replace(default_rules())
    ev = Evidence("http", "http.server", "Hikvision-Webs" + " " * fingerprint.MAX_CACHED_VALUE)
    _same(match_evidence(ev, rules), reference(ev, rules))
    assert not rules.memo("fingerprint.match_evidence")


@pytest.mark.skipif(SHARED is None, reason="needs ../shared/data/pcaps-real")
def test_real_capture_verdicts_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = dataclasses.replace(default_rules())
    hosts = capture_evidence(rules)
    assert len(hosts) > 50 and sum(map(len, hosts)) > 300
    memoised = [identify(items, rules) for items in hosts]
    replayed = [identify(items, rules) for items in hosts]
    with monkeypatch.context() as patch:
        patch.setattr(fingerprint, "match_evidence", lambda ev, r=None: reference(ev, r or rules))
        plain = [identify(items, rules) for items in hosts]

    def view(v: fingerprint.Verdict) -> Any:
        return dataclasses.asdict(v)

    assert [view(v) for v in memoised] == [view(v) for v in plain] == [view(v) for v in replayed]
    assert sum(1 for v in plain if v.matches) > 10  # the captures do exercise the rules
