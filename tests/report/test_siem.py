"""ECS and CEF on the scenario captures: field names from the ECS reference, CEF escaping, syslog framing.

The ECS field list (ecs_fields.txt) is copied from elastic/ecs generated/csv/fields.csv (provenance in
its header); CEF lines are parsed back with an independent parser written from the CEF specification
(header split on unescaped '|', extension keys found before unescaped '=').
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_writers import _device, _finding, _meta

from hikscan.report.safe import clean
from hikscan.report.writers import WRITERS

ROOT = Path(__file__).resolve().parents[2]
INCIDENT = ROOT / "pcaps" / "incident_fleet_china.pcapng"
NASTY = "a|b\\c=d [/]\x1b[2J =cmd|' /C calc'!A0\u202e act=blocked"


def ecs_fields() -> dict[str, str]:
    lines = (Path(__file__).parent / "ecs_fields.txt").read_text().splitlines()
    return dict(line.split() for line in lines if line and not line.startswith("#"))  # type: ignore[misc]


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def check_ecs(doc: dict[str, Any], fields: dict[str, str]) -> None:
    for name, value in flatten(doc).items():
        parent = name.split(".")[0]
        if fields.get(parent) in ("object", "flattened"):
            assert isinstance(value, str), (name, value)  # labels.*: keyword values
            assert "." not in name[len(parent) + 1 :]
            continue
        assert name in fields, f"{name} is not an ECS field"
        kind = fields[name]
        values = value if isinstance(value, list) else [value]
        for v in values:
            if kind in ("long",):
                assert isinstance(v, int) and not isinstance(v, bool), (name, v)
            elif kind == "float":
                assert isinstance(v, int | float), (name, v)
            elif kind == "date":
                datetime.fromisoformat(v.replace("Z", "+00:00"))
            else:
                assert isinstance(v, str), (name, v)


def hikscan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hikscan", *args], capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One analyze run over every scenario capture, writing json, ecs, cef and csv at once."""
    out = tmp_path_factory.mktemp("siem")
    paths = {fmt: out / f"r.{fmt}" for fmt in ("json", "ecs", "cef", "csv")}
    args = [a for fmt, p in paths.items() for a in ("-f", fmt, "-o", str(p))]
    done = hikscan("analyze", str(ROOT / "pcaps"), "--fail-on", "none", *args)
    assert done.returncode == 0, done.stderr
    return paths


def test_ecs_names_types_and_content_match_the_json(reports: dict[str, Path]) -> None:
    fields = ecs_fields()
    doc = json.loads(reports["json"].read_text())
    events = [json.loads(line) for line in reports["ecs"].read_text().splitlines()]
    for event in events:
        check_ecs(event, fields)
        assert event["observer"]["version"] == doc["meta"]["version"]
        assert event["rule"]["version"] == doc["meta"]["rules"]["sha256"]
        assert event["labels"]["databases"] == "; ".join(doc["meta"]["databases"])
    alerts = [e for e in events if e["event"]["kind"] == "alert"]
    states = [e for e in events if e["event"]["kind"] == "state"]
    assert len(alerts) == len(doc["findings"]) > 0 and len(states) == len(doc["devices"])
    for alert, finding in zip(alerts, doc["findings"], strict=True):
        remote = finding["remote"]
        assert alert["rule"]["id"] == finding["rule"]
        assert alert["destination"]["ip"] == remote["ip"] and alert["destination"]["port"] == remote["port"]
        assert alert["destination"]["geo"].get("country_iso_code") == remote["country"]
        assert alert["destination"].get("as", {}).get("number") == remote["asn"]
        assert alert["@timestamp"] == finding["first_seen"] and alert["event"]["end"] == finding["last_seen"]
        assert alert["network"]["bytes"] == finding["bytes"]
        if finding["device"].get("ip"):
            assert alert["source"]["ip"] == finding["device"]["ip"]
    assert any(a["destination"].get("domain") for a in alerts)
    assert events[-1]["event"]["dataset"] == "hikscan.summary"
    assert events[-1]["message"] == doc["summary"]["estate"]["headline"]


def test_ecs_field_list_is_the_reference_not_the_writer() -> None:
    """The list is data copied from ECS: spot-check entries the writer does not use, and a non-field."""
    fields = ecs_fields()
    assert fields["event.risk_score_norm"] == "float" and fields["related.user"] == "keyword"
    assert "destination.country" not in fields and "rule.severity" not in fields
    with pytest.raises(AssertionError):
        check_ecs({"destination": {"country": "CN"}}, fields)


def cef_split(line: str) -> tuple[list[str], dict[str, str]]:
    """Parse one CEF line (after any syslog header): 7 header fields and the extension dict, unescaped."""
    body = line[line.index("CEF:") :]
    header, rest, field, i = [], "", "", 0
    while len(header) < 7:
        c = body[i]
        if c == "\\" and body[i + 1] in "\\|":
            field += body[i + 1]
            i += 2
            continue
        if c == "|":
            header.append(field)
            field = ""
        else:
            field += c
        i += 1
    rest = body[i:]
    keys = list(re.finditer(r"(?:^| )([A-Za-z0-9_]+)=", rest))
    ext: dict[str, str] = {}
    for n, m in enumerate(keys):
        # a key starts only where '=' is not escaped: the previous key's value runs up to it
        end = keys[n + 1].start() if n + 1 < len(keys) else len(rest)
        raw = rest[m.end() : end]
        ext[m.group(1)] = re.sub(r"\\(.)", r"\1", raw)
    return header, ext


def test_cef_lines_carry_the_findings(reports: dict[str, Path]) -> None:
    doc = json.loads(reports["json"].read_text())
    lines = reports["cef"].read_text().splitlines()
    parsed = [cef_split(line) for line in lines]
    findings = [(h, e) for h, e in parsed if e.get("cat") == "hikscan/finding"]
    assert len(findings) == len(doc["findings"])
    for (header, ext), finding in zip(findings, doc["findings"], strict=True):
        assert header[0] == "CEF:0" and header[1:4] == ["hikscan", "hikscan", doc["meta"]["version"]]
        assert header[4] == finding["rule"]
        assert int(header[6]) == {"info": 1, "low": 3, "medium": 6, "high": 8}[finding["severity"]]
        assert ext["dst"] == finding["remote"]["ip"] and ext["dpt"] == str(finding["remote"]["port"])
        assert ext["cs5"] == doc["meta"]["rules"]["sha256"]
        if finding["device"].get("ip"):
            assert ext["src"] == finding["device"]["ip"]
    assert all(not any(ord(c) < 0x20 for c in line) for line in lines)


def test_cef_escapes_header_and_extension_separators() -> None:
    out = io.StringIO()
    writer = WRITERS["cef"](out, "analyze")
    writer.begin(_meta())
    record = _finding(NASTY)
    record["rule"] = "rule|with\\pipe"
    writer.finding(record)
    writer.device(_device(NASTY))
    writer.end({"headline": NASTY}, [], _meta())
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    header, ext = cef_split(lines[0])
    assert len(header) == 7 and header[4] == "rule|with\\pipe" and header[5] == clean(NASTY)
    assert "\\|" in lines[0].split("|src=")[0] and "\\\\" in lines[0]
    assert ext["shost"] == clean(NASTY) and ext["dhost"] == clean(NASTY)  # '=' and '\' came back intact
    assert ext["act"] == "observed" and "cmd" not in ext  # " act=…" and "=cmd" started no key
    assert "\x1b" not in out.getvalue() and "\\x1b" in out.getvalue()
    _, dev = cef_split(lines[1])
    assert dev["cs2"] == clean(NASTY)


def test_cef_syslog_framing_is_rfc5424(tmp_path: Path) -> None:
    out = tmp_path / "r.cef"
    done = hikscan("analyze", str(INCIDENT), "--fail-on", "none", "-f", "cef", "--syslog", "-o", str(out))
    assert done.returncode == 0, done.stderr
    header = re.compile(
        r"^<(\d{1,3})>1 (\S+) (\S+) hikscan (\d+) (finding|device|summary) - CEF:0\|hikscan\|"
    )
    for line in out.read_text().splitlines():
        m = header.match(line)
        assert m, line[:120]
        pri = int(m.group(1))
        assert pri // 8 == 1 and 0 <= pri % 8 <= 7
        datetime.fromisoformat(m.group(2).replace("Z", "+00:00"))
        if m.group(5) == "finding" and "|8|" in line:
            assert pri % 8 == 3  # high → error


def test_csv_carries_meta_and_summary_rows_and_stays_valid(reports: dict[str, Path]) -> None:
    doc = json.loads(reports["json"].read_text())
    rows = list(csv.DictReader(io.StringIO(reports["csv"].read_text())))
    assert {len(r) for r in rows} == {len(rows[0])}
    assert rows[0]["record"] == "meta" and rows[0]["rule"] == doc["meta"]["rules"]["sha256"]
    assert rows[0]["name"] == f"hikscan {doc['meta']['version']}"
    assert rows[-1]["record"] == "summary" and rows[-1]["name"] == doc["summary"]["estate"]["headline"]
    assert sum(r["record"] == "finding" for r in rows) == len(doc["findings"])
    assert sum(r["record"] == "device" for r in rows) == len(doc["devices"])


@pytest.mark.parametrize("fmt", ["ecs", "cef", "html", "csv"])
def test_hostile_text_is_data(fmt: str) -> None:
    out = io.StringIO()
    writer = WRITERS[fmt](out, "analyze")
    writer.begin(_meta())
    writer.section(NASTY, {"packets": 1})
    writer.finding(_finding(NASTY))
    writer.device(_device(NASTY))
    writer.end_section()
    writer.end({"headline": NASTY, "notes": [NASTY]}, [{"packets": 1}], _meta())
    text = out.getvalue()
    if fmt == "ecs":
        docs = [json.loads(line) for line in text.splitlines()]
        assert docs[0]["message"] == NASTY and docs[0]["source"]["ip"] == "10.0.0.5"
        for doc in docs:
            check_ecs(doc, ecs_fields())
    else:
        assert "\x1b" not in text and "\u202e" not in text
    if fmt == "csv":
        cells = [c for row in csv.reader(io.StringIO(text)) for c in row[1:]]
        assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
