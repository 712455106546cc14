"""`hikscan identify EVIDENCE_FILE`: verdicts from evidence someone else collected.

For banner exports (Shodan, Censys, masscan, zgrab2) turned into one of two shapes:
- TSV, `key<TAB>value` per line: one verdict per line (`host<TAB>key<TAB>value` groups by host);
- JSONL, `{"host": ..., "key": ..., "value": ...}` per line: one verdict per host, emitted when
  the host changes (exports list a host's banners together; a host seen again later gets a
  second verdict rather than the whole file being held in memory).
Streaming and bounded: lines are read one at a time up to MAX_LINE bytes, a host keeps at most
MAX_PER_HOST evidence items, values are cut at MAX_VALUE. A bad line is counted and named on
stderr, never fatal; a file that cannot be read, or has lines but no good one, is exit 2.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hikscan.errors import UsageError
from hikscan.knowledge import fingerprint
from hikscan.knowledge.rules import RuleSet, load_rules
from hikscan.report.model import Evidence

MAX_LINE = 64 * 1024
MAX_PER_HOST = 512
MAX_VALUE = 4096
MAX_ROW = 512  # a table row never gets longer than this
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SOURCE = "identify"


def verdict_record(evidence: list[Evidence], rules: RuleSet) -> dict[str, Any]:
    """The engine's answer for one host's evidence, as the identify command prints it."""
    v = fingerprint.identify(evidence, rules)
    category = None
    if v.vendor is not None:
        category = "cctv" if rules.vendors[v.vendor].cctv else "other"
    return {
        "vendor": v.vendor,
        "family": v.family,
        "category": category,
        "confidence": v.confidence,
        "rules": v.matched_rules,
        "model": v.model,
        "firmware": v.firmware,
    }


@dataclass
class Counts:
    lines: int = 0
    good: int = 0
    bad: int = 0
    verdicts: int = 0
    first_bad: list[str] = field(default_factory=list)

    def reject(self, lineno: int, why: str) -> None:
        self.bad += 1
        if len(self.first_bad) < 5:
            self.first_bad.append(f"line {lineno}: {why}")


def _parse(line: str, lineno: int, counts: Counts) -> tuple[str | None, str, str] | None:
    """(host or None, key, value) of one input line; None (counted) when it is bad."""
    text = line.rstrip("\r\n")
    if not text.strip() or text.lstrip().startswith("#"):
        return None
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            counts.reject(lineno, "not valid JSON")
            return None
        if not isinstance(obj, dict):
            counts.reject(lineno, "JSON line is not an object")
            return None
        host, key, value = obj.get("host"), obj.get("key"), obj.get("value")
        if not isinstance(key, str) or not isinstance(value, str | int | float):
            counts.reject(lineno, 'JSON line needs string "key" and "value"')
            return None
        host = None if host is None else str(host)
        value = str(value)
    else:
        cols = text.split("\t")
        if len(cols) == 2:
            host, key, value = None, cols[0], cols[1]
        elif len(cols) >= 3:
            host, key, value = cols[0], cols[1], "\t".join(cols[2:])
        else:
            counts.reject(lineno, "not key<TAB>value")
            return None
    key = key.strip()
    if not _KEY.match(key):
        counts.reject(lineno, f"bad evidence key {key[:40]!r}")
        return None
    return host, key, value[:MAX_VALUE]


def _lines(fh: IO[str], counts: Counts) -> Iterator[tuple[int, str]]:
    lineno = 0
    while True:
        line = fh.readline(MAX_LINE + 1)
        if not line:
            return
        lineno += 1
        counts.lines += 1
        if len(line) > MAX_LINE and not line.endswith("\n"):
            counts.reject(lineno, f"longer than {MAX_LINE} characters")
            while line and not line.endswith("\n"):  # skip the rest of the long line
                line = fh.readline(MAX_LINE + 1)
            continue
        yield lineno, line


def identify_lines(fh: IO[str], rules: RuleSet, counts: Counts) -> Iterator[dict[str, Any]]:
    """One verdict record per TSV line, or per host run of lines; see the module notes."""
    host: str | None = None
    evidence: list[Evidence] = []
    first_line = 0

    def flush() -> dict[str, Any] | None:
        if not evidence:
            return None
        return {"host": host, "line": first_line, **verdict_record(evidence, rules)}

    for lineno, line in _lines(fh, counts):
        parsed = _parse(line, lineno, counts)
        if parsed is None:
            continue
        counts.good += 1
        h, key, value = parsed
        if h is None:
            record = flush()
            if record is not None:
                yield record
            host, evidence = None, []
            yield {"host": None, "line": lineno, **verdict_record([Evidence(SOURCE, key, value)], rules)}
            continue
        if h != host:
            record = flush()
            if record is not None:
                yield record
            host, evidence, first_line = h, [], lineno
        if len(evidence) < MAX_PER_HOST:
            evidence.append(Evidence(SOURCE, key, value))
    record = flush()
    if record is not None:
        yield record


def _clean(text: object) -> str:
    return _CONTROL.sub("?", "" if text is None else str(text))


def _table_row(r: dict[str, Any]) -> str:
    who = r["host"] if r["host"] is not None else f"line {r['line']}"
    conf = f"{r['confidence']:.2f}"
    rules = ",".join(r["rules"]) or "-"
    cols = (who, r["vendor"] or "-", r["family"] or "-", r["category"] or "-", conf, rules)
    return "  ".join(_clean(c) for c in cols)[:MAX_ROW]


def run_identify(path: str, output_format: str = "jsonl", rules_dir: Path | None = None,
                 out: IO[str] | None = None) -> int:  # fmt: skip
    """Read `path` (or `-` for stdin), print verdicts as they are reached; exit code."""
    rules = load_rules(rules_dir)
    out = out or sys.stdout
    counts = Counts()
    try:
        if path == "-":
            fh: IO[str] = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        else:
            fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if output_format == "table":
            out.write("host/line  vendor  family  category  confidence  rules\n")
        for record in identify_lines(fh, rules, counts):
            counts.verdicts += 1
            out.write((json.dumps(record) if output_format == "jsonl" else _table_row(record)) + "\n")
            out.flush()
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    finally:
        if path != "-":
            fh.close()
    print(
        f"hikscan: identify: {counts.lines} lines, {counts.good} read, {counts.bad} bad, "
        f"{counts.verdicts} verdicts" + (f" ({'; '.join(counts.first_bad)})" if counts.bad else ""),
        file=sys.stderr,
    )
    if counts.good == 0 and counts.bad > 0:
        return 2
    return 0


def identify_values(items: Iterable[tuple[str, str]], rules: RuleSet) -> list[dict[str, Any]]:
    """Verdicts for (key, value) pairs one at a time, through the same path as the command."""
    return [verdict_record([Evidence(SOURCE, k, v)], rules) for k, v in items]
