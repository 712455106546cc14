"""The bundled rules load from their stamped documents, without reading the YAML or the alias and schema
checks, only while they are the bytes that scripts/stamp_rules.py checked (rules/validated.json); anything
else, and every --rules file, is read and checked in full."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from script_module import load_script

from hikscan.errors import RuleError
from hikscan.knowledge import rulefiles, rules
from hikscan.knowledge.rulefiles import (
    bundle_digest,
    checked_documents,
    default_files,
    parse_file,
    stamped_digest,
)
from hikscan.knowledge.rules import default_rules, load_rules

ROOT = Path(__file__).resolve().parents[2]


def test_the_stamp_is_current() -> None:
    assert stamped_digest() == bundle_digest(default_files()), (
        "rules/ changed since rules/validated.json was written: run `python scripts/stamp_rules.py`"
    )
    assert checked_documents(default_files()) is not None
    documents = checked_documents(default_files())
    assert documents is not None
    for fname, text in default_files():  # each recorded document is the file as read and checked now
        assert documents[fname] == parse_file(fname, text), fname


def test_stamped_rules_are_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """While the stamp holds, no YAML is parsed and no schema is checked: the recorded documents make the
    same rule set as the files read in full."""

    def refused(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the stamped rules were read again")

    monkeypatch.setattr(rulefiles, "parse_file", refused)
    monkeypatch.setattr(rules, "parse_file", refused)
    monkeypatch.setattr(yaml, "load", refused)
    fast = default_rules.__wrapped__()
    monkeypatch.undo()
    full = load_rules(full_check=True)
    assert repr(fast) == repr(full) and fast.digest == full.digest


def test_the_bundled_rules_pass_every_check_and_give_the_same_rule_set() -> None:
    checked = load_rules(full_check=True)  # aliases refused, every file through the JSON Schema
    assert repr(checked) == repr(default_rules())
    assert checked.digest == default_rules().digest


def test_the_fast_yaml_loader_reads_the_rules_as_the_safe_one_does() -> None:
    assert rulefiles.yaml_loader() is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for fname, text in default_files():
        assert yaml.load(text, Loader=rulefiles.yaml_loader()) == yaml.load(text, Loader=yaml.SafeLoader), (
            fname
        )


@pytest.fixture
def bundled_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the bundled rules (with its stamp) standing in for the installed ones."""
    copy = tmp_path / "rules"
    shutil.copytree(rulefiles.rules_dir(), copy)
    monkeypatch.setattr(rulefiles, "rules_dir", lambda: copy)
    monkeypatch.setattr(rules, "default_files", rulefiles.default_files)
    yield copy


def _break_schema(path: Path) -> None:
    """A change the YAML and the builder accept but the schema refuses: an unknown top-level key."""
    path.write_text(path.read_text(encoding="utf-8") + "\nunexpected_key: 1\n", encoding="utf-8")


def test_an_edited_bundled_file_is_checked_in_full(bundled_copy: Path) -> None:
    assert rulefiles.checked_documents(rulefiles.default_files()) is not None
    assert repr(default_rules.__wrapped__()) == repr(default_rules())  # the copy loads as the original
    _break_schema(bundled_copy / "networks.yaml")
    assert rulefiles.checked_documents(rulefiles.default_files()) is None
    with pytest.raises(RuleError, match=r"networks\.yaml: schema: .*unexpected_key"):
        default_rules.__wrapped__()


def test_a_missing_or_foreign_stamp_means_a_full_check(bundled_copy: Path) -> None:
    _break_schema(bundled_copy / "networks.yaml")
    digest = '"' + bundle_digest(rulefiles.default_files()) + '"'
    documents_of_others = '{"rules/x.yaml": {"kind": "networks", "rules": []}}'
    for record in (
        "",
        "not json",
        '{"sha256": 1}',
        '{"sha256": "' + "0" * 64 + '"}',
        '{"sha256": ' + digest + "}",  # these very files, but no documents recorded: read them
        '{"sha256": ' + digest + ', "documents": ' + documents_of_others + "}",
        '{"sha256": ' + digest + ', "documents": []}',
    ):
        (bundled_copy / rulefiles.STAMP_FILE).write_text(record, encoding="utf-8")
        with pytest.raises(RuleError, match="schema"):
            default_rules.__wrapped__()
    (bundled_copy / rulefiles.STAMP_FILE).unlink()
    with pytest.raises(RuleError, match="schema"):
        default_rules.__wrapped__()


def test_a_user_rules_dir_is_always_checked(tmp_path: Path) -> None:
    assert checked_documents(default_files()) is not None
    user = tmp_path / "mine"
    user.mkdir()
    shutil.copy(rulefiles.rules_dir() / "policy.yaml", user / "policy.yaml")  # replaces the default policy
    load_rules(user)  # a valid user file loads
    _break_schema(user / "policy.yaml")
    with pytest.raises(RuleError, match=r"policy\.yaml: schema: .*unexpected_key"):
        load_rules(user)
    (user / "policy.yaml").write_text("kind: networks\nrules: &a []\nx: *a\n", encoding="utf-8")
    with pytest.raises(RuleError, match="anchors and aliases"):
        load_rules(user)


def test_the_stamp_script_checks_before_it_writes(
    bundled_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = load_script("stamp_rules")
    record = (bundled_copy / rulefiles.STAMP_FILE).read_text(encoding="utf-8")
    original = (bundled_copy / "networks.yaml").read_text(encoding="utf-8")
    assert script.main(["--check"]) == 0
    _break_schema(bundled_copy / "networks.yaml")
    assert script.main(["--check"]) == 1
    assert script.main([]) == 2  # refuses to stamp rules that fail a check
    assert (bundled_copy / rulefiles.STAMP_FILE).read_text(encoding="utf-8") == record
    (bundled_copy / "networks.yaml").write_text(original + "\n# a comment\n", encoding="utf-8")
    assert script.main(["--check"]) == 1
    assert script.main([]) == 0  # a valid change is checked, then stamped
    assert rulefiles.checked_documents(rulefiles.default_files()) is not None
    capsys.readouterr()


def test_the_stamp_script_records_only_documents_json_keeps() -> None:
    script = load_script("stamp_rules")
    for text in ("when: 2024-01-01", "1: one", "x: .nan", "s: !!set {a: null}"):  # YAML that JSON changes
        assert not script._json_keeps(yaml.safe_load(text)), text
    assert script._json_keeps(yaml.safe_load("kind: networks\nrules: [{id: a, cidr: 10.0.0.0/8, n: 1.5}]"))
