"""rules/audit.yaml: every example through the audit's own evaluate(); schema and loader checks."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hikscan.active.audit.verdicts import CHECKS, Context, evaluate, evaluate_all
from hikscan.errors import RuleError
from hikscan.knowledge.audit_policy import load_audit_policy
from hikscan.knowledge.rules import load_rules, rules_dir

POLICY = load_audit_policy()
RULES = load_rules()
CASES = [(r, i, ex) for r in POLICY.rules for i, ex in enumerate(r.examples)]


@pytest.mark.parametrize(("rule", "index", "example"), CASES, ids=[f"audit:{r.id}#{i}" for r, i, _ in CASES])
def test_example(rule, index, example) -> None:  # type: ignore[no-untyped-def]
    verdict = evaluate(rule, example["settings"], Context(POLICY, RULES, example.get("vendor")))
    assert verdict.status == example["expect"], (rule.id, index, verdict)
    if verdict.status != "unknown":
        assert verdict.evidence, "a pass or fail names its evidence"


def test_every_check_has_a_rule_and_every_rule_has_pass_and_fail_examples() -> None:
    assert {r.check for r in POLICY.rules} == set(CHECKS)
    for r in POLICY.rules:
        assert {ex["expect"] for ex in r.examples} >= {"pass", "fail"}, r.id


def test_unknown_never_becomes_a_verdict() -> None:
    verdicts = evaluate_all({}, Context(POLICY, RULES))
    assert {v.status for v in verdicts} == {"unknown"}


def test_ntp_list_is_data(tmp_path: Path) -> None:
    doc = yaml.safe_load((rules_dir() / "audit.yaml").read_text())
    doc["ntp"]["national_domains"] = ["ptb.de"]
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(doc))
    mine = load_audit_policy(tmp_path)
    rule = next(r for r in mine.rules if r.check == "ntp_trusted")
    assert evaluate(rule, {"ntp": {"servers": ["ptbtime1.ptb.de"]}}, Context(mine, RULES)).status == "pass"
    assert evaluate(rule, {"ntp": {"servers": ["ntp1.npl.co.uk"]}}, Context(mine, RULES)).status == "fail"
    # the user's file replaces the default in the full rule set too (no duplicate-id error)
    load_rules(tmp_path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rules"][0].update(check="reboot"), "schema"),
        (lambda d: d["rules"][0].pop("source"), "source"),
        (lambda d: d["rules"][0].update(examples=[]), "schema"),
        (lambda d: d["accounts"].update(max_admins=0), "schema"),
        (lambda d: d["rules"].append(copy.deepcopy(d["rules"][0])), "duplicate id"),  # no YAML alias
    ],
)
def test_bad_audit_files_are_rejected(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load((rules_dir() / "audit.yaml").read_text())
    mutate(doc)
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(RuleError, match=message):
        load_audit_policy(tmp_path)
