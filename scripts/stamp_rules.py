"""Check the bundled rules in full and record their digest and documents in rules/validated.json.

Every file under rules/ goes through the checks any user rule file gets (size, UTF-8, YAML without
anchors or aliases, the JSON Schema, then the whole rule set built: vendors, ids, regexes, CIDRs). Only
when all pass are the SHA-256 of the schema and the files, and each file's document as read, written;
`hikscan` then uses those documents while the files are those exact bytes, without reading the YAML
or repeating the alias and schema checks (hikscan/knowledge/rulefiles.py). Run it after editing
anything in rules/; tests/knowledge/test_rules_stamp.py fails while the record is stale.

Usage: python scripts/stamp_rules.py [--check]   (--check: exit 1 if the record is stale, write nothing)
"""

from __future__ import annotations

import argparse
import json
import sys

from hikscan.errors import RuleError
from hikscan.knowledge.rulefiles import (
    STAMP_FILE,
    bundle_digest,
    checked_documents,
    default_files,
    parse_file,
    rules_dir,
)
from hikscan.knowledge.rules import load_rules


def _json_keeps(doc: object) -> bool:
    """True when JSON gives back exactly this document (not so for a date, a set, a NaN or a number as a
    key, which YAML can make)."""
    try:
        return bool(json.loads(json.dumps(doc, allow_nan=False)) == doc)
    except (TypeError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether the record is current")
    args = parser.parse_args(argv)
    files = default_files()
    digest = bundle_digest(files)
    if args.check:
        current = checked_documents(files) is not None
        print(f"{STAMP_FILE}: {'current' if current else 'stale'} ({digest})")
        return 0 if current else 1
    try:
        rules = load_rules(full_check=True)
        documents = {fname: parse_file(fname, text) for fname, text in files}
    except RuleError as exc:
        print(f"stamp_rules: not stamped: {exc}", file=sys.stderr)
        return 2
    for fname, doc in documents.items():
        if not _json_keeps(doc):
            print(f"stamp_rules: not stamped: {fname}: a value JSON cannot keep", file=sys.stderr)
            return 2
    record = {
        "sha256": digest,
        "files": [fname for fname, _ in files],
        "rules": rules.describe(),
        "note": "written by scripts/stamp_rules.py once every check passed (hikscan/knowledge/rulefiles.py)",
        "documents": documents,
    }
    path = rules_dir() / STAMP_FILE
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{path}: {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
