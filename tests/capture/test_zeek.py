"""The Zeek log reader (capture/zeek.py): real Zeek logs, broken lines counted not fatal, detection, fuzz."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
from pathlib import Path

import pytest
import samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hikscan.capture.zeek import (
    MAX_LINE,
    Header,
    ZeekLog,
    find_logs,
    is_zeek_input,
    is_zeek_log,
    parse_json_line,
    parse_tsv_line,
    timestamp,
)
from hikscan.errors import MalformedInput

REAL = Path(__file__).resolve().parents[1] / "data" / "zeek" / "real"
CONN = REAL / "brimdata-zed__conn.log"
FUZZ = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_real_conn_log() -> None:
    log = ZeekLog(CONN)
    records = list(log)
    assert len(records) == 13 and not log.bad
    kind, first = records[0]
    assert kind == "conn"
    assert first["id.orig_h"] == "10.164.94.120" and first["id.resp_p"] == "3389"
    assert first["conn_state"] == "RSTR" and first["orig_pkts"] == "10" and first["resp_ip_bytes"] == "342"
    assert first["service"] is None and first["tunnel_parents"] is None  # "-" is unset
    assert timestamp(first["ts"]) == pytest.approx(1521911721.255387)
    assert [r["conn_state"] for _, r in records].count("REJ") == 4


def test_real_ssl_and_http_logs() -> None:
    ssl = list(ZeekLog(REAL / "zeek__ssl.basic.ssl.log"))
    assert [kind for kind, _ in ssl] == ["ssl"]
    assert ssl[0][1]["server_name"] == "ssl.gstatic.com" and ssl[0][1]["id.resp_h"] == "74.125.224.79"
    log = ZeekLog(REAL / "zeek__http-methods.http.log")
    http = [r for _, r in log]
    assert len(http) == 5 and not log.bad
    assert http[0]["method"] == "OPTIONS" and http[0]["host"] == "www.google.com"
    assert http[0]["tags"] == [] and http[2]["host"] is None  # "(empty)" set, unset field


def test_detection(tmp_path: Path) -> None:
    assert all(is_zeek_log(p) for p in REAL.glob("*.log"))
    assert is_zeek_input(REAL) and not is_zeek_log(REAL / "PROVENANCE.md")
    assert {p.name for p in find_logs(REAL)} == {p.name for p in REAL.glob("*.log")}  # by #path
    js = tmp_path / "conn.json"
    js.write_text(json.dumps({"ts": 1.5, "id.orig_h": "10.0.0.1"}) + "\n")
    assert is_zeek_log(js)
    other = tmp_path / "notes.txt"
    other.write_text('{"a": 1}\n#separator is not first\n')
    assert not is_zeek_log(other) and not is_zeek_input(tmp_path / "missing")
    gz = tmp_path / "conn.00:00:00-01:00:00.log.gz"
    gz.write_bytes(gzip.compress(CONN.read_bytes()))
    assert is_zeek_log(gz) and len(list(ZeekLog(gz))) == 13


def test_json_lines_with_iso_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "dns.log"
    lines = [
        {"ts": "2023-11-14T22:13:20.5Z", "uid": "C1", "id.orig_h": "10.0.0.5", "query": "a.example",
         "answers": ["b.example", "192.0.2.7"], "TTLs": [60.0, 60.0], "AA": False},
        {"ts": 1700000000.25, "_path": "dns", "id.orig_h": "10.0.0.6", "query": "c.example"},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    records = list(ZeekLog(path))
    assert [k for k, _ in records] == ["dns", "dns"]
    assert records[0][1]["answers"] == ["b.example", "192.0.2.7"] and records[0][1]["AA"] == "F"
    assert timestamp(records[0][1]["ts"]) == 1700000000.5 and timestamp(records[1][1]["ts"]) == 1700000000.25


def test_broken_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    text = CONN.read_bytes().splitlines(keepends=True)
    header, data = text[:8], text[8:]
    broken = [
        b"1521911721.0\tonly-three\tfields\n",  # wrong field count
        b"\xff\xfe\x00garbage\n",
        b"x" * (MAX_LINE + 10) + b"\n",  # too long
        b"1521911721.0" + b"\t" * 5000 + b"\n",
    ]
    path = tmp_path / "conn.log"
    path.write_bytes(b"".join(header + data[:3] + broken + data[3:]))
    log = ZeekLog(path)
    assert len(list(log)) == 13
    assert sum(log.bad.values()) == 4 and log.bad["line too long"] == 1
    js = tmp_path / "http.log"
    js.write_bytes(b'{"ts": 1, "id.orig_h": "10.0.0.1"}\n{not json\n[1, 2]\n' + b'{"a":' * 5000 + b"\n")
    log = ZeekLog(js)
    assert len(list(log)) == 1 and sum(log.bad.values()) == 3


def test_line_parsers_refuse_with_malformed_input() -> None:
    header = Header()
    with pytest.raises(MalformedInput):
        parse_tsv_line(b"a\tb", header)  # no #fields yet
    header.directive(b"#fields\tts\tanswers")
    header.directive(b"#types\ttime\tvector[string]")
    assert parse_tsv_line(b"1.0\ta\\x2cb,c", header) == {"ts": "1.0", "answers": ["a,b", "c"]}
    with pytest.raises(MalformedInput):
        parse_tsv_line(b"1.0", header)
    with pytest.raises(MalformedInput):
        header.directive(b"#separator \\x09\\x09")
    for bad in (b"", b"[]", b"nul", b'"text"'):
        with pytest.raises(MalformedInput):
            parse_json_line(bad)
    for ts in (None, "", "yesterday"):
        with pytest.raises(MalformedInput):
            timestamp(ts)


SEEDS = [p.read_bytes() for p in sorted(REAL.glob("*.log"))]


@FUZZ
@given(samples.mutated(SEEDS, random_one_in=10, max_random=2000, max_edits=6, max_delete=64))
def test_fuzz_reader_never_raises(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "conn.log"
    path.write_bytes(data)
    log = ZeekLog(path)
    for kind, record in log:
        assert isinstance(kind, str) and isinstance(record, dict)
    assert log.records <= data.count(b"\n") + 1


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_line_parsers(data: bytes) -> None:
    header = Header()
    header.directive(b"#fields\tts\tid.orig_h\tservice")
    header.directive(b"#types\ttime\taddr\tset[string]")
    for parse in (lambda d: parse_tsv_line(d, header), parse_json_line):
        with contextlib.suppress(MalformedInput):
            assert isinstance(parse(data), dict)
