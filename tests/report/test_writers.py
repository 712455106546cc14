"""Writers: every format from the registry, hostile strings as data, output valid against the schema."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hikscan.report.output import dumps
from hikscan.report.schema import ENV as SCHEMA_ENV
from hikscan.report.schema import validate_document, validate_line
from hikscan.report.writers import WRITERS
from hikscan.report.writers.base import TextWriter

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "[/]\x1b[31m=cmd|' /C calc'!A0\x00\u202e[bold]"


def _meta() -> dict[str, Any]:
    return {
        "schema_version": "2.0", "tool": "hikscan", "version": "0.1.0", "command": "analyze", "inputs": ["x"],
        "rules": {"sha256": "0" * 64, "files": 1, "count": 1}, "databases": [], "settings": {},
        "started": "2026-01-01T00:00:00Z", "finished": "2026-01-01T00:00:01Z",
    }  # fmt: skip


def _finding(text: str) -> dict[str, Any]:
    return {
        "severity": "high", "rule": "cctv-to-high-risk-country", "title": text,
        "device": {"ip": "10.0.0.5", "mac": None, "name": text, "vendor": text, "model": text,
                   "category": None},
        "remote": {"ip": "203.0.113.9", "port": 443, "proto": "tcp", "name": text, "country": "CN", "asn": 1,
                   "org": text, "cloud": None, "owner": text, "owner_country": "CN", "located": [],
                   "rtt_ms": None, "ports": ["443/tcp"]},
        "first_seen": "2026-01-01T00:00:00.000Z", "last_seen": "2026-01-01T00:00:01.000Z", "packets": 3,
        "bytes": 300, "evidence": [text], "flows": 1, "capture": text,
    }  # fmt: skip


def _device(text: str) -> dict[str, Any]:
    return {
        "ip": "10.0.0.5", "mac": "58:50:ed:00:00:01", "name": text, "category": "camera", "vendor": text,
        "family": None, "vendor_country": None, "model": text, "serial": text, "firmware": text,
        "activated": None, "cloud_enabled": None, "cves": [], "confidence": 0.5,
        "evidence": [{"source": "x", "key": "k", "value": text}],
        "matched_rules": [], "conflicts": [text], "hostile": [],
    }  # fmt: skip


def _write(fmt: str, text: str, width: int = 100) -> str:
    out = io.StringIO()
    writer = WRITERS[fmt](out, "analyze")
    writer.begin(_meta())
    writer.section(text, {"packets": 1, "warnings": [text]})
    writer.finding(_finding(text))
    writer.device(_device(text))
    writer.end_section()
    writer.end({"headline": text, "notes": [text]}, [{"packets": 1}], _meta())
    return out.getvalue()


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_hostile_text_is_data_in_every_format(fmt: str) -> None:
    text = _write(fmt, HOSTILE)
    if fmt in ("table", "csv"):
        assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text
        assert "\\x1b" in text  # shown, not swallowed
    if fmt == "table":
        assert "[/]" in text and "[bold]" in text  # printed literally, not taken as markup
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert all(not c.startswith(("=", "+", "-", "@")) for row in rows[1:] for c in row)
    if fmt == "json":
        validate_document(json.loads(text))
        assert json.loads(text)["findings"][0]["device"]["name"] == HOSTILE  # JSON keeps the exact value
    if fmt == "jsonl":
        for line in text.splitlines():
            validate_line(json.loads(line))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_any_unicode_through_every_writer(text: str) -> None:
    for fmt in WRITERS:
        out = _write(fmt, text)
        if fmt in ("table", "csv"):
            assert not any(ord(c) < 0x20 and c not in "\r\n" for c in out)


def test_the_schema_rejects_a_broken_report() -> None:
    doc = json.loads(_write("json", "x"))
    doc["findings"][0]["severity"] = "catastrophic"
    with pytest.raises(jsonschema.ValidationError):
        validate_document(doc)


def test_table_is_readable_at_80_columns_without_splitting_addresses() -> None:
    out = io.StringIO()
    writer = WRITERS["table"](out, "analyze")
    writer.console.width = 80
    record = _finding("name")
    record["device"]["ip"] = "2001:db8:70:0:4619:b6ff:fe31:1f16"
    writer.finding(record)
    writer.end_section()
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert any("2001:db8:70:0:4619:b6ff:fe31:1f16" in line for line in lines)


def test_cli_json_output_is_schema_valid(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    subprocess.run(
        [sys.executable, "-m", "hikscan", "analyze", str(ROOT / "pcaps"), "-f", "json", "-o", str(out),
         "--fail-on", "none"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    doc = json.loads(out.read_text())
    validate_document(doc)
    assert doc["meta"]["rules"]["sha256"] and doc["meta"]["finished"] and doc["meta"]["databases"]


def _write_findings(fmt: str, findings: list[dict[str, Any]], blocks: list[bytes] | None = None) -> str:
    out = io.StringIO()
    writer = WRITERS[fmt](out, "analyze")
    writer.begin(_meta())
    if blocks is None:
        for record in findings:
            writer.finding(record)
    else:
        assert isinstance(writer, TextWriter)
        for block in blocks:
            writer.finding_lines(block)
    writer.end({"headline": "x", "notes": []}, [{"packets": 1}], _meta())
    return out.getvalue()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=5), st.integers(min_value=1, max_value=3))
def test_findings_given_as_json_lines_are_written_as_the_findings_are(
    texts: list[str], per_block: int
) -> None:
    """What a worker hands over undecoded (json/jsonl only): the same text as the records themselves, however
    the lines are grouped into blocks (SpilledRecords.line_blocks), an empty block included."""
    writers = {fmt for fmt, cls in WRITERS.items() if isinstance(cls(io.StringIO(), "analyze"), TextWriter)}
    assert writers == {"json", "jsonl"}
    findings = [_finding(text) for text in texts]
    lines = [(dumps(record) + "\n").encode() for record in findings]
    blocks = [b""] + [b"".join(lines[i : i + per_block]) for i in range(0, len(lines), per_block)]
    for fmt in writers:
        want = _write_findings(fmt, findings)
        assert _write_findings(fmt, findings, blocks) == want  # validating (tests/conftest.py)
        with pytest.MonkeyPatch.context() as patch:  # and as users run it: a block at a time
            patch.delenv(SCHEMA_ENV)
            assert _write_findings(fmt, findings, blocks) == want


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_json_lines_reach_a_file_as_the_same_text(encoding: str) -> None:
    """A worker's findings go to a file's buffer as the bytes they are when the file is UTF-8 (cli.output),
    and are decoded and written as text when it is not: the document is the same either way."""
    from hikscan.cli.output import _Guarded

    findings = [_finding(text) for text in ("\u8424\u77f3", HOSTILE, "\u2028")]
    block = "".join(dumps(record) + "\n" for record in findings).encode()
    raw = io.BytesIO()
    handle = io.TextIOWrapper(raw, encoding=encoding)
    out = _Guarded(handle, "test")
    writer = WRITERS["json"](out, "analyze")  # type: ignore[arg-type]
    writer.begin(_meta())
    writer.finding(findings[0])
    writer.finding_lines(block)  # type: ignore[attr-defined]
    writer.finding(findings[1])
    writer.end({"headline": "x", "notes": []}, [{"packets": 1}], _meta())
    handle.flush()
    assert raw.getvalue().decode(encoding) == _write_findings("json", [findings[0], *findings, findings[1]])


def test_json_lines_to_a_full_disk_are_one_line_exit_2() -> None:
    """Bytes written past the text layer fail as any write does: OutputError, the one-line exit 2."""
    from hikscan.cli.output import OutputError, report_output

    block = (dumps(_finding("x")) + "\n").encode() * 200  # past the file's buffer: written at once
    full = pytest.raises(OutputError, match="cannot write -o /dev/full: No space left on device")
    with full, report_output(Path("/dev/full"), atomic=False) as out:
        writer = WRITERS["json"](out, "analyze")
        writer.begin(_meta())
        writer.finding_lines(block)  # type: ignore[attr-defined]
