"""Reading rule files: where the defaults live, bounded reads, YAML without aliases, the JSON Schema.

Every file is at most MAX_RULE_FILE bytes, parsed by a safe loader that refuses YAML anchors and
aliases outright (a 591-byte "billion laughs" file grows past 9 GB otherwise), and validated against
rules/schema.json; any problem is a RuleError naming the file and the rule.

The bundled rules are the one exception, and only while they are byte for byte what was checked:
`scripts/stamp_rules.py` runs every check above on them and records the SHA-256 of the schema and the
files in `rules/validated.json`, with each file's document as the YAML loader read it (JSON keeps it
exactly: the script refuses to stamp otherwise); a test fails when that record is stale. When the files
read at run time hash to the recorded value, the recorded documents are used without parsing the YAML
again or repeating the checks (~150 ms and the jsonschema import saved on every run); any other content
— an edited or partly installed rules directory, a stale record — is read and checked in full. Files
given with --rules are always checked in full.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hikscan.errors import RuleError

if TYPE_CHECKING:
    import jsonschema

MAX_RULE_FILE = 4 * 1024 * 1024
STAMP_FILE = "validated.json"


@functools.lru_cache(maxsize=1)
def rules_dir() -> Path:
    """Where the default rule files live: the top-level `rules/`, installed as `hikscan/ruledata/`.

    An installed wheel has them next to this module; an editable install or a checkout at the
    repository root (the package-dir mapping of a data-only package is not importable as files).
    """
    package = Path(__file__).resolve().parent.parent
    for base in (package / "ruledata", package.parent / "rules"):
        if (base / "schema.json").is_file():
            return base
    raise RuleError(
        f"default rules not found (looked in {package / 'ruledata'} and {package.parent / 'rules'})"
    )


def yaml_loader() -> Any:
    """PyYAML's safe loader, libyaml's when present. PyYAML is imported only where a rule file is read
    (~15 ms): the stamped bundled rules need none (see the module doc)."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=1)
def _schema_validator() -> jsonschema.Draft202012Validator:
    """The rules' JSON Schema, its local `$ref`s inlined (same verdicts and messages, a third faster).
    The schema ships with the package; tests check it against the draft 2020-12 metaschema."""
    import jsonschema  # only where a rule file is checked (see the module doc)

    text = (rules_dir() / "schema.json").read_text(encoding="utf-8")
    return jsonschema.Draft202012Validator(inline_refs(json.loads(text)))


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every `{"$ref": "#/$defs/NAME"}` (a reference alone in its object) replaced by
    the definition itself, recursively; `$defs` stays for any reference left (one with siblings)."""
    defs = schema.get("$defs", {})
    prefix = "#/$defs/"
    resolving: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if len(node) == 1 and isinstance(ref, str) and ref.startswith(prefix):
            name = ref[len(prefix) :]
            if name in defs and name not in resolving:  # a recursive definition stays a reference
                resolving.add(name)
                try:
                    return walk(defs[name])
                finally:
                    resolving.discard(name)
        return {key: value if key == "$defs" else walk(value) for key, value in node.items()}

    out = walk(schema)
    out["$defs"] = {name: walk(value) for name, value in defs.items()}
    return out  # type: ignore[no-any-return]


def default_files() -> list[tuple[str, str]]:
    return [(f"rules/{Path(f).name}", text) for f, text in dir_files(rules_dir())]


def bundle_digest(files: list[tuple[str, str]]) -> str:
    """SHA-256 of the schema and of each rule file's name and text (what `rules/validated.json` records)."""
    digest = hashlib.sha256()
    schema = (rules_dir() / "schema.json").read_bytes()
    digest.update(b"schema.json:%d:" % len(schema) + schema)
    for fname, text in files:
        data = text.encode()
        digest.update(f"{fname}:{len(data)}:".encode() + data)
    return digest.hexdigest()


def _stamp() -> dict[str, Any]:
    """The record scripts/stamp_rules.py wrote ({} when there is no readable one)."""
    try:
        record = json.loads((rules_dir() / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def stamped_digest() -> str | None:
    """The digest recorded by scripts/stamp_rules.py, or None when there is no readable record."""
    value = _stamp().get("sha256")
    return value if isinstance(value, str) else None


def checked_documents(files: list[tuple[str, str]]) -> dict[str, dict[str, Any]] | None:
    """File name → its document as stamp_rules.py read and checked it, when these default files (and the
    schema) are exactly the ones it checked and the record holds a document for each; else None."""
    record = _stamp()
    documents = record.get("documents")
    if record.get("sha256") != bundle_digest(files) or not isinstance(documents, dict):
        return None
    if set(documents) != {fname for fname, _text in files}:
        return None
    if not all(isinstance(doc, dict) for doc in documents.values()):
        return None
    return documents


def dir_files(path: Path) -> list[tuple[str, str]]:
    if path.is_file():
        paths = [path]
    elif path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
    else:
        raise RuleError(f"{path}: no such rule file or directory")
    out = []
    for p in paths:
        with p.open("rb") as fh:
            data = fh.read(MAX_RULE_FILE + 1)
        if len(data) > MAX_RULE_FILE:
            raise RuleError(f"{p}: rule file larger than {MAX_RULE_FILE} bytes")
        try:
            out.append((str(p), data.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise RuleError(f"{p}: not UTF-8 text ({exc})") from None
    return out


def _refuse_aliases(fname: str, text: str) -> None:
    """Anchors and aliases make a small file expand without bound (591 bytes → GBs): refuse them,
    from the parser's events, before anything is composed."""
    import yaml

    for event in yaml.parse(text, Loader=yaml_loader()):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            line = event.start_mark.line + 1 if event.start_mark is not None else "?"
            raise RuleError(f"{fname}: line {line}: YAML anchors and aliases (& and *) are not allowed")


def parse_file(fname: str, text: str) -> dict[str, Any]:
    """The rule file as data, after the alias refusal and the schema."""
    import yaml

    try:
        _refuse_aliases(fname, text)
        doc = yaml.load(text, Loader=yaml_loader())  # a safe loader (libyaml when present)
    except yaml.YAMLError as exc:
        raise RuleError(f"{fname}: invalid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(doc, dict):
        raise RuleError(f"{fname}: a rule file must be a mapping with a top-level 'kind'")
    errors = sorted(_schema_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = _rule_label(doc, list(err.absolute_path))
        loc = "/".join(str(p) for p in err.absolute_path) or "(top)"
        raise RuleError(f"{fname}: {where}schema: {err.message} at {loc}")
    return doc


def _rule_label(doc: dict[str, Any], path: list[Any]) -> str:
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        rule = doc["rules"][path[1]]
        if isinstance(rule, dict):
            return f"rule {rule.get('id') or rule.get('name') or path[1]!s}: "
        return f"rule #{path[1]}: "
    return ""
