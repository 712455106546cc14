"""Run every rule's `examples` as checks (recog's self-test, Sigma's regression data) as library code.

`hikscan rules check` and tests/test_rule_examples.py both call `check_examples()`, so a responder
can check a rule directory of their own without the test suite. One ExampleResult per example,
named `<kind>:<rule id>#<index>`:
- fingerprint: a positive example must be matched by its own rule, and the engine's verdict on that
  observation (identify(), which ranks every matching rule) must have the expected fields;
  `expect: {vendor: null}` is a counter-example the rule must not match.
- cloud / signature: the example must resolve to this rule; with `expect: null` it must not.
- cve: `rule_applies()` must equal `expect`, and a covered device must get the CVE from `cves_for()`.
- policy: `Policy.classify()` (or `fleet_alert()` for `device_count`; `beacon_alert()` on a synthetic
  series scored by knowledge.beaconscore for beacon rules; `storm_alert()` for storm rules) must give
  (rule id, severity); a `remote_ip` is first enriched (both country databases, ASN, networks.yaml)
  as the analysis does.
- network: an `ip` (through the ASN database) or an `{asn, org}` pair must resolve to this networks.yaml
  entry; with `expect: null` it must not.
Deprecated rules of every kind are loaded but never used, so their examples are reported as
passed-and-skipped rather than failing. A malformed example is a failed check, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hikscan.knowledge.beaconscore import beacon_score, example_events
from hikscan.knowledge.cves import cves_for, rule_applies
from hikscan.knowledge.fingerprint import identify, match_evidence, match_value
from hikscan.knowledge.networks import Network
from hikscan.knowledge.rules import (
    CloudEndpoint,
    CveRule,
    FingerprintRule,
    PolicyRule,
    RuleSet,
    Signature,
    default_rules,
)
from hikscan.report.model import Evidence

KINDS = ("fingerprint", "cloud", "signature", "cve", "policy", "network")
VERDICT_FIELDS = ("vendor", "family", "model", "serial", "firmware", "activated", "cloud_enabled")
Example = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ExampleResult:
    case_id: str  # "<kind>:<rule id>#<index>"
    kind: str
    rule_id: str
    ok: bool
    message: str


class _HasExamples(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def examples(self) -> tuple[Mapping[str, Any], ...]: ...


class _Failed(Exception):
    """A check that did not hold; its message says why."""


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise _Failed(message)


def _fields(values: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v!r}" for k, v in values.items()) + "}"


def _check_fingerprint(rule: FingerprintRule, ex: Example, rules: RuleSet) -> str:
    """A positive example passes only if the ENGINE's verdict on that one observation is what it expects
    (the verdict ranks every matching rule, so another rule cannot silently win the model or vendor)."""
    if rule.status == "deprecated":
        return "skipped: rule is deprecated (loaded but not used)"
    key = ex.get("key", rule.key)
    value = ex["value"]
    ids = [m.rule_id for m in match_value(key, value, rules)]
    expect = ex["expect"]
    if isinstance(expect, Mapping) and "vendor" in expect and expect["vendor"] is None:
        _require(rule.id not in ids, f"counter-example {value!r} matched {rule.id}")
        return f"counter-example {value!r} not matched"
    _require(rule.id in ids, f"{value!r} is not matched by its own rule {rule.id} (matched: {ids})")
    verdict = identify([Evidence("example", key, str(value))], rules)
    got: dict[str, Any] = {name: getattr(verdict, name) for name in VERDICT_FIELDS}
    own = next(m for m in match_evidence(Evidence("example", key, str(value)), rules) if m.rule_id == rule.id)
    for name, set_value in own.sets.items():  # fields the verdict does not carry (e.g. category)
        got.setdefault(name, set_value)
    wrong = [f"{n} = {got.get(n)!r}, expected {w!r}" for n, w in expect.items() if got.get(n) != w]
    _require(not wrong, f"{value!r}: the engine reports " + "; ".join(wrong))
    return f"{value!r} -> {_fields({n: got.get(n) for n in expect})}"


def _check_cloud(rule: CloudEndpoint, ex: Example, rules: RuleSet) -> str:
    if rule.status == "deprecated":
        return "skipped: rule is deprecated (loaded but not used)"
    what = ex["name"] if "name" in ex else ex["ip"]
    hit = rules.cloud_for_name(what) if "name" in ex else rules.cloud_for_ip(what)
    got = hit.id if hit is not None else None
    if "expect" in ex:  # counter-example: must not resolve to this endpoint
        _require(got != rule.id, f"counter-example {what!r} resolved to {rule.id}")
        return f"counter-example {what!r} -> {got}"
    _require(got == rule.id, f"{what!r} resolved to {got}, expected {rule.id}")
    return f"{what!r} -> {rule.id}"


def _check_signature(rule: Signature, ex: Example, rules: RuleSet) -> str:
    if rule.status == "deprecated":
        return "skipped: rule is deprecated (loaded but not used)"
    proto = rule.proto or 17
    port = ex.get("port", min(rule.ports) if rule.ports else 0)
    hit = rules.signature_for(proto, port, bytes.fromhex(ex["hex"]))
    got = hit.id if hit is not None else None
    where = f"payload {ex['hex'][:16]}… on port {port}"
    if "expect" in ex:
        _require(got != rule.id, f"counter-example {where} matched {rule.id}")
        return f"counter-example {where} -> {got}"
    _require(got == rule.id, f"{where} matched {got}, expected {rule.id}")
    return f"{where} -> {rule.id}"


def _check_cve(rule: CveRule, ex: Example, rules: RuleSet) -> str:
    if rule.status == "deprecated":
        return "skipped: rule is deprecated (loaded but not used)"
    vendor = ex.get("vendor", rule.vendor)
    model, firmware, want = ex["model"], ex["firmware"], ex["expect"]
    device = f"{vendor} {model} {firmware!r}"
    applies = rule_applies(rule, vendor, model, firmware, rules)
    _require(applies is want, f"{device}: covered = {applies}, expected {want}")
    if want:
        found = cves_for(vendor, model, firmware, rules)
        _require(rule.cve in found, f"{device}: cves_for() gives {found}, missing {rule.cve}")
    return f"{device}: covered = {applies}"


def _check_policy(rule: PolicyRule, ex: Example, rules: RuleSet) -> str:
    policy = rules.policy
    want = (rule.id, ex["expect"]) if ex["expect"] else None
    if "device_count" in ex:
        got = policy.fleet_alert(ex["device_count"], ex.get("new_destination", True))
        _require(got == want, f"{ex['device_count']} devices -> {got}, expected {want}")
        return f"{ex['device_count']} devices -> {got}"
    if rule.detector in ("beacon", "storm"):
        return _check_behaviour(rule, ex, rules, want)
    vendor = ex.get("device_vendor")
    cctv = ex.get("device_cctv", bool(vendor and rules.vendor(vendor).cctv))
    cloud = None
    if ex.get("cloud"):
        cloud = next((c for c in rules.clouds if c.id == ex["cloud"]), None)
        _require(cloud is not None, f"unknown cloud id {ex['cloud']!r}")
    country, owner_country = ex.get("remote_country"), ex.get("owner_country")
    if "remote_ip" in ex:
        info = _enricher(rules).info(ex["remote_ip"])
        country, owner_country = info.country, info.owner_country
    cloud_cctv = cloud is None or rules.vendor(cloud.vendor).cctv
    got = policy.classify(cctv, country, cloud, owner_country=owner_country, cloud_is_cctv=cloud_cctv)
    case = f"cctv={cctv} country={country} owner={owner_country} cloud={ex.get('cloud')}"
    if "remote_ip" in ex:
        case = f"{ex['remote_ip']} ({case})"
    _require(got == want, f"{case} -> {got}, expected {want}")
    return f"{case} -> {got}"


def _enricher(rules: RuleSet) -> Any:
    """The analysis' enrichment on the embedded databases (opened once per rule set)."""
    from hikscan.knowledge.enrich import Enricher
    from hikscan.knowledge.geo import GeoLookup

    cached = _ENRICHERS.get(id(rules))
    if cached is None or cached[0] is not rules:
        cached = _ENRICHERS[id(rules)] = (rules, Enricher(GeoLookup(), rules.networks, rules.policy))
    return cached[1]


_ENRICHERS: dict[int, tuple[RuleSet, Any]] = {}


def _check_network(rule: Network, ex: Example, rules: RuleSet) -> str:
    if rule.status == "deprecated":
        return "skipped: rule is deprecated (loaded but not used)"
    if "ip" in ex:
        info = _enricher(rules).info(ex["ip"])
        what, got = f"{ex['ip']} (AS{info.asn} {info.org})", info.network_id
    else:
        hit = rules.networks.owner_of(ex.get("asn"), ex["org"])
        what, got = f"AS{ex.get('asn')} {ex['org']!r}", hit.id if hit is not None else None
    if "expect" in ex:
        _require(got != rule.id, f"counter-example {what} resolved to {rule.id}")
        return f"counter-example {what} -> {got}"
    _require(got == rule.id, f"{what} resolved to {got}, expected {rule.id}")
    return f"{what} -> {rule.id}"


def _check_behaviour(rule: PolicyRule, ex: Example, rules: RuleSet, want: tuple[str, str] | None) -> str:
    """Beacon examples: a synthetic series scored as the detector scores it; storm examples: counts."""
    policy, cctv = rules.policy, bool(ex["device_cctv"])
    if rule.detector == "beacon":
        events, interval = ex["events"], ex["interval_seconds"]
        times, sizes = example_events(
            events, interval, ex.get("jitter_seconds", 0), ex["size_bytes"], ex.get("size_jitter_bytes", 0)
        )
        score = beacon_score(times, sizes, events * interval)
        value = score.score if score is not None else 0.0
        got = policy.beacon_alert(cctv, events, value)
        case = f"{events} events every {interval} s ±{ex.get('jitter_seconds', 0)}: score {value:.3f}"
    else:
        got = policy.storm_alert(cctv, ex["failed"], ex["attempts"], ex["span_seconds"])
        case = f"{ex['failed']}/{ex['attempts']} failed over {ex['span_seconds']} s"
    _require(got == want, f"{case} -> {got}, expected {want}")
    return f"{case} -> {got}"


def _run(
    kind: str,
    items: Iterable[Any],
    check: Callable[[Any, Example, RuleSet], str],
    rules: RuleSet,
) -> list[ExampleResult]:
    out = []
    for rule in items:
        for i, ex in enumerate(rule.examples):
            try:
                ok, message = True, check(rule, ex, rules)
            except _Failed as exc:
                ok, message = False, str(exc)
            except (KeyError, ValueError, TypeError) as exc:
                ok, message = False, f"example cannot be checked: {exc.__class__.__name__}: {exc}"
            out.append(ExampleResult(f"{kind}:{rule.id}#{i}", kind, rule.id, ok, message))
    return out


def check_examples(rules: RuleSet, only: Iterable[str] | None = None) -> list[ExampleResult]:
    """One result per example of every rule (or only of the rule ids in `only`), in rule-set order.

    Vendors carry no examples (the schema has none for them), so they produce no results.
    """
    wanted = None if only is None else frozenset(only)

    def pick(items: Iterable[_HasExamples]) -> list[_HasExamples]:
        return [r for r in items if wanted is None or r.id in wanted]

    return [
        *_run("fingerprint", pick(rules.fingerprints), _check_fingerprint, rules),
        *_run("cloud", pick(rules.clouds), _check_cloud, rules),
        *_run("signature", pick(rules.signatures), _check_signature, rules),
        *_run("cve", pick(rules.cves), _check_cve, rules),
        *_run("policy", pick(rules.policy.rules.values()), _check_policy, rules),
        *_run("network", pick(rules.networks.networks), _check_network, rules),
    ]


def user_rule_ids(rules: RuleSet) -> frozenset[str]:
    """Ids of the rules that a user directory added to the defaults (policy ids if it replaced the policy)."""
    base = default_rules()
    user = _ids(rules) - _ids(base)
    if rules.policy != base.policy:
        user |= set(rules.policy.rules)
    return frozenset(user)


def _ids(rules: RuleSet) -> set[str]:
    items: list[_HasExamples] = [
        *rules.fingerprints,
        *rules.clouds,
        *rules.signatures,
        *rules.cves,
        *rules.networks.networks,
    ]
    return {r.id for r in items}


def summary(results: list[ExampleResult]) -> str:
    failed = sum(not r.ok for r in results)
    return f"{len(results)} examples, {len(results) - failed} passed, {failed} failed"
