"""One generated test per rule example (recog's self-test, Sigma's regression data).

Every rule in rules/*.yaml carries examples; each one becomes a pytest case named
`<kind>:<rule id>#<index>`. Positive fingerprint examples must be matched FIRST by their own
rule among the rules for that key and yield the expected fields; `expect: {vendor: null}` (or
`expect: null` elsewhere) is a counter-example the rule must not match.
"""

from __future__ import annotations

from typing import Any

import pytest

from hikscan.cves import cves_for, rule_applies
from hikscan.fingerprint import match_value
from hikscan.rules import default_rules

RULES = default_rules()


def _cases(kind: str, rules: Any) -> list[Any]:
    return [
        pytest.param(rule, ex, id=f"{kind}:{rule.id}#{i}")
        for rule in rules
        for i, ex in enumerate(rule.examples)
    ]


def _is_negative(expect: Any) -> bool:
    return isinstance(expect, dict) and "vendor" in expect and expect["vendor"] is None


@pytest.mark.parametrize(("rule", "example"), _cases("fingerprint", RULES.fingerprints))
def test_fingerprint_example(rule: Any, example: dict[str, Any]) -> None:
    key = example.get("key", rule.key)
    matches = match_value(key, example["value"], RULES)
    ids = [m.rule_id for m in matches]
    if _is_negative(example["expect"]):
        assert rule.id not in ids, f"counter-example {example['value']!r} matched {rule.id}"
        return
    assert ids, f"{example['value']!r} matched no rule for {key}"
    assert ids[0] == rule.id, f"{example['value']!r} matched {ids[0]} before its own rule {rule.id}"
    got = dict(matches[0].sets)
    if "family" in example["expect"] and "family" not in got and got.get("vendor"):
        got["family"] = RULES.vendor(got["vendor"]).family
    for name, want in example["expect"].items():
        assert got.get(name) == want, f"{rule.id}: {name} = {got.get(name)!r}, expected {want!r}"


@pytest.mark.parametrize(("rule", "example"), _cases("cloud", RULES.clouds))
def test_cloud_example(rule: Any, example: dict[str, Any]) -> None:
    hit = RULES.cloud_for_name(example["name"]) if "name" in example else RULES.cloud_for_ip(example["ip"])
    if "expect" in example:  # counter-example: must not resolve to this endpoint
        assert hit is None or hit.id != rule.id
    else:
        assert hit is not None and hit.id == rule.id, f"{example} resolved to {hit and hit.id}"


@pytest.mark.parametrize(("rule", "example"), _cases("signature", RULES.signatures))
def test_signature_example(rule: Any, example: dict[str, Any]) -> None:
    proto = rule.proto or 17
    port = example.get("port", min(rule.ports) if rule.ports else 0)
    hit = RULES.signature_for(proto, port, bytes.fromhex(example["hex"]))
    if "expect" in example:
        assert hit is None or hit.id != rule.id
    else:
        assert hit is not None and hit.id == rule.id, f"matched {hit and hit.id}"


@pytest.mark.parametrize(("rule", "example"), _cases("cve", RULES.cves))
def test_cve_example(rule: Any, example: dict[str, Any]) -> None:
    vendor = example.get("vendor", rule.vendor)
    assert rule_applies(rule, vendor, example["model"], example["firmware"], RULES) is example["expect"]
    found = cves_for(vendor, example["model"], example["firmware"], RULES)
    if example["expect"]:
        assert rule.cve in found


@pytest.mark.parametrize(("rule", "example"), _cases("policy", RULES.policy.rules.values()))
def test_policy_example(rule: Any, example: dict[str, Any]) -> None:
    policy = RULES.policy
    want = (rule.id, example["expect"]) if example["expect"] else None
    if "device_count" in example:
        assert policy.fleet_alert(example["device_count"]) == want
        return
    vendor = example.get("device_vendor")
    cctv = example.get("device_cctv", bool(vendor and RULES.vendor(vendor).cctv))
    cloud = None
    if example.get("cloud"):
        cloud = next(c for c in RULES.clouds if c.id == example["cloud"])
    assert policy.classify(cctv, example.get("remote_country"), cloud) == want
