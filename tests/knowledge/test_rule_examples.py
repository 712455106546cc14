"""One generated test per rule example (recog's self-test, Sigma's regression data).

Every rule in rules/*.yaml carries examples; `hikscan.knowledge.rulecheck.check_examples()` turns each one
into a check named `<kind>:<rule id>#<index>`, and each check is one pytest case here. The same
function backs `hikscan rules check`, so a responder's own directory is checked the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hikscan.knowledge.rulecheck import KINDS, ExampleResult, check_examples, summary, user_rule_ids
from hikscan.knowledge.rules import default_rules, load_rules

RESULTS = check_examples(default_rules())


@pytest.mark.parametrize("result", [pytest.param(r, id=r.case_id) for r in RESULTS])
def test_rule_example(result: ExampleResult) -> None:
    assert result.ok, f"{result.case_id}: {result.message}"


def test_every_example_of_every_kind_is_checked() -> None:
    rules = default_rules()
    count = sum(
        len(r.examples)
        for r in (
            *rules.fingerprints,
            *rules.clouds,
            *rules.signatures,
            *rules.cves,
            *rules.policy.rules.values(),
            *rules.networks.networks,
        )
    )
    assert len(RESULTS) == count
    assert {r.kind for r in RESULTS} == set(KINDS)
    assert len({r.case_id for r in RESULTS}) == len(RESULTS)


def _user_dir(tmp_path: Path, kind: str, *rules: dict[str, object]) -> Path:
    (tmp_path / f"{kind}.yaml").write_text(yaml.safe_dump({"kind": kind, "rules": list(rules)}))
    return tmp_path


NVR_TITLE = {
    "id": "acme-nvr-title",
    "status": "experimental",
    "description": "Acme-branded Hikvision NVR web UI title",
    "key": "http.title",
    "pattern": "^Acme (?P<model>NVR-[0-9]+)$",
    "sets": {"family": "hikvision", "model": "{model}"},
    "confidence": 0.5,
    "source": "site survey (test)",
}


def test_good_user_fingerprint_passes(tmp_path: Path) -> None:
    rule = {**NVR_TITLE, "examples": [{"value": "Acme NVR-7608", "expect": {"model": "NVR-7608"}}]}
    rules = load_rules(_user_dir(tmp_path, "fingerprints", rule))
    results = check_examples(rules, only=user_rule_ids(rules))
    assert [(r.case_id, r.ok) for r in results] == [("fingerprint:acme-nvr-title#0", True)]
    assert summary(results) == "1 examples, 1 passed, 0 failed"


@pytest.mark.parametrize(
    ("example", "complaint"),
    [
        (
            {"value": "Acme NVR-7608", "expect": {"model": "NVR-7616"}},
            "model = 'NVR-7608', expected 'NVR-7616'",
        ),
        (
            {"value": "Acme DVR-7608", "expect": {"family": "hikvision"}},
            "is not matched by its own rule acme-nvr-title",
        ),
        ({"value": "Acme NVR-7608", "expect": {"vendor": None}}, "counter-example 'Acme NVR-7608' matched"),
    ],
)
def test_wrong_expectation_fails(tmp_path: Path, example: dict[str, object], complaint: str) -> None:
    rules = load_rules(_user_dir(tmp_path, "fingerprints", {**NVR_TITLE, "examples": [example]}))
    (result,) = check_examples(rules, only={"acme-nvr-title"})
    assert not result.ok and complaint in result.message
    assert summary(check_examples(rules)).endswith(", 1 failed")


def test_an_example_passes_only_if_the_engine_reports_it(tmp_path: Path) -> None:
    """Two rules match one title; the engine ranks by confidence, not file order. The first rule's
    example (its own model) fails because the reported device has the second rule's model."""
    first = {**NVR_TITLE, "examples": [{"value": "Acme NVR-7608", "expect": {"model": "NVR-7608"}}]}
    second = {
        **NVR_TITLE,
        "id": "acme-nvr-title-precise",
        "pattern": "^Acme NVR-7608$",
        "sets": {"vendor": "Hikvision", "model": "NVR-7608-PRO"},
        "confidence": 0.9,
        "examples": [{"value": "Acme NVR-7608", "expect": {"model": "NVR-7608-PRO"}}],
    }
    rules = load_rules(_user_dir(tmp_path, "fingerprints", first, second))
    results = {r.rule_id: r for r in check_examples(rules, only={"acme-nvr-title", "acme-nvr-title-precise"})}
    assert results["acme-nvr-title-precise"].ok
    assert not results["acme-nvr-title"].ok
    assert (
        "the engine reports model = 'NVR-7608-PRO', expected 'NVR-7608'" in results["acme-nvr-title"].message
    )


def test_foreign_domain_in_cloud_example_fails(tmp_path: Path) -> None:
    rule = {
        "id": "acme-cloud",
        "status": "test",
        "vendor": "Hikvision",
        "service": "Acme relay",
        "domains": ["relay.acme.example"],
        "confidence": 0.5,
        "source": "test",
        # hik-connect.com belongs to the default hik-connect rule
        "examples": [{"name": "relay.acme.example"}, {"name": "apiieu.hik-connect.com"}],
    }
    rules = load_rules(_user_dir(tmp_path, "clouds", rule))
    got = {r.case_id: (r.ok, r.message) for r in check_examples(rules, only={"acme-cloud"})}
    assert got["cloud:acme-cloud#0"][0]
    assert got["cloud:acme-cloud#1"] == (
        False,
        "'apiieu.hik-connect.com' resolved to hik-connect, expected acme-cloud",
    )


def _flip_hex(ex: dict) -> bool:
    if "expect" in ex:
        return False
    ex["hex"] = f"{int(ex['hex'][:2], 16) ^ 0xFF:02x}" + ex["hex"][2:]
    return True


def _wrong_model(ex: dict) -> bool:
    if not isinstance(ex["expect"].get("model"), str):
        return False
    ex["expect"]["model"] += "-WRONG"
    return True


def _flip_bool(ex: dict) -> bool:
    ex["expect"] = not ex["expect"]
    return True


def _wrong_severity(ex: dict) -> bool:
    if not ex["expect"]:
        return False
    ex["expect"] = "low" if ex["expect"] != "low" else "high"
    return True


def _foreign_name(ex: dict) -> bool:
    if "name" not in ex or "expect" in ex:
        return False
    ex["name"] = "cctv.example.org"
    return True


# Mutation tests: one wrong expectation in a copy of the default rules fails exactly that case.
@pytest.mark.parametrize(
    ("filename", "kind", "mutate"),
    [
        ("fingerprints.yaml", "fingerprint", _wrong_model),
        ("clouds.yaml", "cloud", _foreign_name),
        ("signatures.yaml", "signature", _flip_hex),
        ("cves.yaml", "cve", _flip_bool),
        ("policy.yaml", "policy", _wrong_severity),
    ],
)
def test_mutated_example_fails(tmp_path: Path, filename: str, kind: str, mutate) -> None:  # type: ignore[no-untyped-def]
    src = Path(__file__).resolve().parents[2] / "rules"
    for f in src.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    doc = yaml.safe_load((tmp_path / filename).read_text(encoding="utf-8"))
    case = next(
        f"{kind}:{rule['id']}#{i}"
        for rule in doc["rules"]
        for i, ex in enumerate(rule["examples"])
        if mutate(ex)
    )
    (tmp_path / filename).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    results = check_examples(load_rules(tmp_path, include_default=False))
    assert len(results) == len(RESULTS)
    assert [r.case_id for r in results if not r.ok] == [case]
