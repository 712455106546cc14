"""Rules cannot hurt: linear-time regexes with capped input, YAML anchors and aliases refused."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from hikscan.errors import RuleError
from hikscan.knowledge.fingerprint import match_value
from hikscan.knowledge.rules import default_rules, load_rules, rules_dir
from hikscan.knowledge.safe_regex import MAX_INPUT, RegexError, compile_rule_regex

HOSTILE = Path(__file__).resolve().parents[1] / "corpus" / "hostile"
# Values an attacker controls (SADP/ONVIF/DHIP fields, banners), 5,000 characters each, shaped
# against the usual backtracking traps: padding between words, a near-miss at the end, newlines.
ADVERSARIAL = [
    "x" + " " * 4998 + "y",
    "x" + "\t " * 2499 + "y",
    "x" + " " * 4997 + "\ny",
    "a" * 4999 + "!",
    "a " * 2500,
    "V5.4.0 build " + " " * 4980 + "x",
    "2.800.0000000.16.R" + " " * 4970 + "\n",
    "1" * 5000,
]


def test_catastrophic_pattern_is_linear() -> None:
    regex = compile_rule_regex("^(a+)+$")
    started = time.perf_counter()
    for n in (41, 1000, MAX_INPUT):
        assert regex.search("a" * (n - 1) + "!") is None
    assert time.perf_counter() - started < 0.5
    assert regex.search("aaaa") is not None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\1", "backreference"),
        (r"(?P<x>a)(?P=x)", "backreference"),
        (r"Hik(?=vision)", "lookaround"),
        (r"(?<!x)Hik", "lookaround"),
        (r"(?>a+)b", "atomic"),
        (r"a++", "possessive"),
        ("(unclosed", "bad regex"),
        ("a{1000}{1000}", "bad regex"),
    ],
)
def test_backtracking_constructs_are_refused_with_a_reason(pattern: str, why: str) -> None:
    with pytest.raises(RegexError, match=why):
        compile_rule_regex(pattern)


def test_flags_map_to_the_schema_names() -> None:
    assert compile_rule_regex("^hik", ["ignorecase"]).search("HIKVISION")
    assert compile_rule_regex("^b$", ["multiline"]).search("a\nb\nc")
    assert not compile_rule_regex("^b$").search("a\nb\nc")
    assert compile_rule_regex("a.b", ["dotall"]).search("a\nb")
    assert not compile_rule_regex("a.b").search("a\nb")
    m = compile_rule_regex(r"^(?P<model>DS-\w+) (\d)$").search("DS-2CD2032 7")
    assert m.group("model") == "DS-2CD2032" and m.group(2) == "7"


def test_input_is_capped() -> None:
    regex = compile_rule_regex("b$")
    assert regex.search("a" * (MAX_INPUT - 1) + "b")
    assert not regex.search("a" * MAX_INPUT + "b")


def test_every_shipped_rule_is_fast_on_adversarial_values() -> None:
    """5,000-character padded values through every fingerprint and CVE model regex: each under 20 ms
    (with Python's `re` the nine trim patterns took 60-125 ms each on these)."""
    rules = default_rules()
    regexes = [(r.id, r.regex) for r in rules.fingerprints]
    regexes += [(c.id, c.model) for c in rules.cves if c.model is not None]
    for rid, regex in regexes:
        started = time.perf_counter()
        for value in ADVERSARIAL:
            regex.search(value)
        assert time.perf_counter() - started < 0.02 * len(ADVERSARIAL), rid


def test_trim_patterns_are_linear_even_in_a_backtracking_engine() -> None:
    """The nine rewritten trim patterns stay linear under Python's `re` too (an engine-independent fix)."""
    trims = {r.regex.pattern for r in default_rules().fingerprints if r.regex.pattern.startswith(r"^\s*(\S")}
    assert trims == {r"^\s*(\S(?:.*\S)?)\s*$", r"^\s*(\S+)\s*$"}
    slow = re.compile(r"^\s*(\S.*?)\s*$")
    for pattern in trims:
        fast = re.compile(pattern)
        for value in [*ADVERSARIAL, "  DS-2CD2032F-I  ", "V5.5.6build 180326\n", "x"]:
            started = time.perf_counter()
            got = fast.search(value)
            assert time.perf_counter() - started < 0.01, (pattern, value[:20])
            if pattern.startswith(r"^\s*(\S("):  # same answers as the quadratic original
                want = slow.search(value)
                assert (got and got.group(1)) == (want and want.group(1))


def test_trimmed_fields_still_extracted() -> None:
    models = [
        m.sets["model"]
        for m in match_value("sadp.DeviceDescription", "  DS-2CD2320D-I \r\n")
        if "model" in m.sets
    ]
    assert models and set(models) == {"DS-2CD2320D-I"}


def _user_rules(tmp_path: Path, name: str, text: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "mine.yaml").write_text(text)
    return d


def test_yaml_anchor_bomb_is_refused_at_once(tmp_path: Path) -> None:
    bomb = HOSTILE / "anchors_bomb"
    started = time.perf_counter()
    with pytest.raises(RuleError, match=r"bomb\.yaml: line 2: YAML anchors and aliases"):
        load_rules(bomb)
    assert time.perf_counter() - started < 1.0


def test_a_single_alias_or_merge_key_is_refused(tmp_path: Path) -> None:
    shutil.copytree(rules_dir(), tmp_path / "rules", ignore=shutil.ignore_patterns("*.json", "*.md"))
    text = (tmp_path / "rules" / "clouds.yaml").read_text()
    text = text.replace("kind: clouds", "kind: clouds\nx-common: &common {status: stable}", 1)
    with pytest.raises(RuleError, match=r"mine\.yaml: line \d+: YAML anchors and aliases"):
        load_rules(_user_rules(tmp_path, "anchor", text), include_default=False)
    with pytest.raises(RuleError, match=r"mine\.yaml: line 3: YAML anchors and aliases"):
        load_rules(_user_rules(tmp_path, "merge", "kind: clouds\nrules:\n  - <<: *x\n"))


def test_lookaround_user_rule_fails_rules_loading_with_the_reason() -> None:
    with pytest.raises(RuleError, match=r"user-lookahead: the pattern uses lookaround.*linear-time engine"):
        load_rules(HOSTILE / "lookaround_rule")


def test_backtracking_user_rule_loads_and_runs_in_linear_time() -> None:
    rules = load_rules(HOSTILE / "backtracking_rule")
    started = time.perf_counter()
    hits = match_value("http.server", "a" * 40 + "!", rules)
    assert time.perf_counter() - started < 0.5
    assert [m.rule_id for m in hits] == []
    assert [m.rule_id for m in match_value("http.server", "aaaa", rules)] == ["user-catastrophic"]
