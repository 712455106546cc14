"""Rule-file reading: the inlined schema gives the plain schema's verdicts, and both YAML loaders refuse
anchors and aliases the same way."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import yaml

from hikscan.errors import RuleError
from hikscan.knowledge import rulefiles
from hikscan.knowledge.rulefiles import default_files, inline_refs, parse_file, rules_dir


def _schema() -> dict[str, Any]:
    return json.loads((rules_dir() / "schema.json").read_text(encoding="utf-8"))


def _errors(validator: jsonschema.Draft202012Validator, doc: Any) -> list[tuple[str, list[Any]]]:
    return [(e.message, list(e.absolute_path)) for e in validator.iter_errors(doc)]


def _broken(doc: dict[str, Any]) -> list[Any]:
    """Ways to break each rule file: wrong kind, extra keys, and per first rule a dropped, retyped and
    stretched field."""
    out: list[Any] = [[], {"kind": "nonsense"}, {**doc, "unexpected": 1}]
    rules = doc.get("rules")
    if isinstance(rules, list) and rules and isinstance(rules[0], dict):
        for key, value in rules[0].items():
            for bad in (None, "", "x" * 300, [value]):
                broken = copy.deepcopy(doc)
                broken["rules"][0][key] = bad
                out.append(broken)
            dropped = copy.deepcopy(doc)
            del dropped["rules"][0][key]
            out.append(dropped)
    for key in doc:
        if key != "kind":
            retyped = copy.deepcopy(doc)
            retyped[key] = "not a list"
            out.append(retyped)
    return out


@pytest.mark.parametrize("fname,text", default_files(), ids=lambda x: str(x)[:30])
def test_inlined_schema_gives_the_same_errors(fname: str, text: str) -> None:
    schema = _schema()
    plain = jsonschema.Draft202012Validator(schema)
    inlined = jsonschema.Draft202012Validator(inline_refs(schema))
    doc = yaml.load(text, Loader=yaml.SafeLoader)
    assert _errors(inlined, doc) == _errors(plain, doc) == []
    small = {key: value[:3] if isinstance(value, list) else value for key, value in doc.items()}
    cases = _broken(small)
    assert len(cases) > 10
    failing = 0
    for case in cases:
        want = sorted(_errors(plain, case), key=lambda e: e[1])
        assert sorted(_errors(inlined, case), key=lambda e: e[1]) == want
        failing += bool(want)
    assert failing > len(cases) // 3  # the cases really break the file


def test_inline_refs_keeps_recursive_and_sibling_refs() -> None:
    schema = {
        "$defs": {"tree": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/tree"}}}},
                  "name": {"type": "string"}},
        "properties": {"root": {"$ref": "#/$defs/tree"}, "n": {"$ref": "#/$defs/name", "minLength": 2}},
    }  # fmt: skip
    out = inline_refs(schema)
    root = out["properties"]["root"]
    assert root["properties"]["kids"]["items"] == {"$ref": "#/$defs/tree"}  # recursion stops
    assert out["properties"]["n"] == {"$ref": "#/$defs/name", "minLength": 2}
    v = jsonschema.Draft202012Validator(out)
    assert not v.is_valid({"root": {"kids": [{"kids": [1]}]}})
    assert v.is_valid({"root": {"kids": [{"kids": []}]}, "n": "ab"})


HOSTILE = """kind: vendors
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]
"""


@pytest.mark.parametrize("loader", ["CSafeLoader", "SafeLoader"])
def test_both_loaders_refuse_anchors(monkeypatch: pytest.MonkeyPatch, loader: str) -> None:
    if not hasattr(yaml, loader):
        pytest.skip(f"PyYAML built without {loader}")
    monkeypatch.setattr(rulefiles, "yaml_loader", lambda: getattr(yaml, loader))
    with pytest.raises(RuleError, match="line 2: YAML anchors and aliases"):
        parse_file("rules/hostile.yaml", HOSTILE)
    with pytest.raises(RuleError, match="anchors and aliases"):
        parse_file("rules/hostile.yaml", "kind: vendors\nvendors: !!python/object:os.system {}\n&x y: 1\n")
    with pytest.raises(RuleError, match="invalid YAML"):
        parse_file("rules/hostile.yaml", "kind: vendors\nvendors: !!python/object/apply:os.system [id]\n")
