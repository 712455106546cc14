"""cli.analyze on several cores (--jobs 2): the report is the serial one byte for byte, in every format,
with the same exit code; a worker's findings reach the json/jsonl writers as their text, never decoded in
the parent (the worker counts them for the summary: report.tally)."""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from script_module import load_script

from hikscan.cli import analyze
from hikscan.cli.analyze import AnalyzeRequest, run_analyze
from hikscan.report import spool
from hikscan.report.schema import ENV as SCHEMA_ENV
from hikscan.report.spool import SpilledRecords

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
TEXT_ONLY = ("json", "jsonl")  # writers that copy a finding's text
DECODING = ("csv", "table", "html", "ecs", "cef")  # writers that read a finding's fields
MIXED = ("json", *DECODING)  # one writer that would take text is not enough: the parent decodes


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two many-findings captures from the bench's own generator (two seeds: different traffic), then the
    scenario captures of pcaps/ (a directory: expanded as the CLI does)."""
    module = load_script("make_bench_pcap")
    folder = tmp_path_factory.mktemp("jobs")
    made = []
    for seed in (1, 2):
        made.append(folder / f"many_{seed}.pcap")
        module.write_capture(made[-1], 1_000, seed, "many-findings")
    return [*made, PCAPS]


def scrub(text: str, start: float, end: float) -> str:
    """The report without what depends on when it ran: times within the run (ISO, or epoch seconds or
    milliseconds, as CEF writes them) and the seconds each capture took. The captures' own times are years
    earlier, so every finding's times are compared as they are."""

    def now(stamp: float) -> bool:
        return start - 2 <= stamp <= end + 2

    def iso(m: re.Match[str]) -> str:
        stamp = datetime.strptime(m[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        return "<now>" if now(stamp) else m[0]

    def epoch(m: re.Match[str]) -> str:
        value = int(m[0])
        return "<now>" if now(value) or now(value / 1000) else m[0]

    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", iso, text)
    text = re.sub(r"(?<![\d.])1\d{9}(?:\d{3})?(?![\d.])", epoch, text)
    return re.sub(r'"seconds": [0-9.e-]+', '"seconds": <s>', text)


def analyse(captures: list[Path], formats: tuple[str, ...], jobs: int, folder: Path) -> tuple[int, list[str]]:
    folder.mkdir()
    outputs: list[tuple[str, Path | None]] = [(fmt, folder / f"report.{fmt}") for fmt in formats]
    start = time.time()
    code = run_analyze(AnalyzeRequest(captures=captures, outputs=outputs, jobs=jobs))
    end = time.time()
    return code, [scrub(path.read_text(encoding="utf-8"), start, end) for _fmt, path in outputs if path]


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every record this (parent) process decodes from a worker's spill file."""
    seen: list[dict[str, Any]] = []
    real = SpilledRecords.__iter__

    def counting(self: SpilledRecords) -> Iterator[dict[str, Any]]:
        for record in real(self):
            seen.append(record)
            yield record

    monkeypatch.setattr(SpilledRecords, "__iter__", counting)
    monkeypatch.setattr(spool, "TEXT_CHUNK", 4096)  # many chunks, not one: their joins are checked too
    return seen


@pytest.mark.parametrize("formats", [TEXT_ONLY, MIXED])
def test_two_workers_write_the_serial_report_byte_for_byte(
    captures: list[Path],
    formats: tuple[str, ...],
    decoded: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if formats == TEXT_ONLY:  # as users run it: validating writers (tests/conftest.py) go a line at a time
        monkeypatch.delenv(SCHEMA_ENV)
    serial_code, serial = analyse(captures, formats, 1, tmp_path / "serial")
    assert decoded == []  # one process: nothing is spilled
    code, parallel = analyse(captures, formats, 2, tmp_path / "parallel")
    assert code == serial_code == 1  # the many-findings captures have high findings: --fail-on high
    for fmt, want, got in zip(formats, serial, parallel, strict=True):
        assert got == want, fmt
    assert '"findings": 0' not in serial[0] and len(serial[0]) > 100_000
    findings = [record for record in decoded if "rule" in record]
    devices = [record for record in decoded if "rule" not in record]
    assert devices  # devices are decoded, for the estate summary
    if set(formats) <= set(TEXT_ONLY):
        assert findings == []  # copied as text: the parent never decoded one
    else:
        assert len(findings) > 500  # a writer needs their fields: decoded once, in the parent


@pytest.mark.parametrize(
    ("names", "cases"),
    [
        # worst: medium
        (
            ["alibaba_us_p2p.pcap", "beacon_camera.pcap"],
            [("high", 0), ("medium", 1), ("low", 1), ("none", 0)],
        ),
        # worst: info
        (["real/ntop__nDPI__alicloud.pcap", "real/ntop__nDPI__wechat.pcap"], [("low", 0), ("info", 1)]),
    ],
)
def test_fail_on_gives_the_serial_exit_code_with_two_workers(
    names: list[str], cases: list[tuple[str, int]], decoded: list[dict[str, Any]], tmp_path: Path
) -> None:
    """With json output the worst severity comes from the workers' tallies, not from decoded findings."""
    captures = [PCAPS / name for name in names]
    for fail_on, want in cases:
        for jobs in (1, 2):
            out = tmp_path / f"r_{fail_on}_{jobs}.json"
            outputs: list[tuple[str, Path | None]] = [("json", out)]
            request = AnalyzeRequest(captures=captures, outputs=outputs, jobs=jobs, fail_on=fail_on)
            assert run_analyze(request) == want, (fail_on, jobs)
    assert [record for record in decoded if "rule" in record] == []


def test_one_engine_at_a_time_in_the_process_and_in_each_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A traffic set's engine is collected before the next one is made, whether captures run one after
    another in this process or several in one worker: otherwise the next gc.freeze() (AnalyzeRun.analyse)
    would freeze its garbage too, and memory would hold every engine so far (serial peak RSS on two 1M-packet
    captures: 190 MB with, 142 MB without)."""
    made: list[weakref.ref[object]] = []
    real = analyze.AnalyzeRun.new_engine

    def tracked(self: analyze.AnalyzeRun) -> analyze.Engine:
        assert [ref for ref in made if ref() is not None] == []
        engine = real(self)
        made.append(weakref.ref(engine))
        return engine

    monkeypatch.setattr(analyze.AnalyzeRun, "new_engine", tracked)
    captures = sorted(PCAPS.glob("*.pcap"))[:4]
    request = AnalyzeRequest(
        captures=captures, outputs=[("json", tmp_path / "r.json")], fail_on="none", jobs=1
    )
    assert run_analyze(request) == 0
    assert len(made) == len(captures)
    made.clear()
    monkeypatch.setattr(analyze, "_WORKER", analyze.AnalyzeRun(request))  # one worker's jobs, run here
    monkeypatch.setattr(analyze, "_WORKER_RAN", False)
    for capture in captures:
        result = analyze._work([capture])
        assert isinstance(result, analyze.Result)
        result.discard()
    assert len(made) == len(captures)
