"""The command line as a user meets it: exit codes, one-line errors, output files, --version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hikscan import __version__
from hikscan.cli.app import main

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
INCIDENT = PCAPS / "incident_fleet_china.pcapng"
CLEAN = PCAPS / "clean_vlan_rtsp.pcap"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hikscan", *args], capture_output=True, text=True, timeout=120
    )


def test_not_a_capture_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("this is not a capture\n" * 10)
    done = run_cli("analyze", str(bogus))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not a pcap or pcapng file" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_file_and_bad_options(tmp_path: Path) -> None:
    done = run_cli("analyze", str(tmp_path / "absent.pcap"))
    assert done.returncode == 2 and "no such file" in done.stderr and done.stderr.count("\n") == 1
    done = run_cli("analyze", str(CLEAN), "--home-country", "Britain")
    assert done.returncode == 2 and "two-letter" in done.stderr
    done = run_cli("analyze", str(CLEAN), "--format", "xml")
    assert done.returncode == 2 and done.stderr.startswith("hikscan: error:")


def test_version_names_the_databases() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert f"hikscan {__version__}" in done.stdout
    assert "country" in done.stdout and "asn" in done.stdout.lower() and "rules" in done.stdout
    assert "registry-country" in done.stdout  # the second, independent country database


def test_fail_on_sets_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert main(["analyze", str(INCIDENT), "-f", "json", "-o", str(out), "--fail-on", "high"]) == 1
    assert main(["analyze", str(INCIDENT), "-f", "json", "-o", str(out), "--fail-on", "none"]) == 0
    assert main(["analyze", str(CLEAN), "-f", "json", "-o", str(out), "--fail-on", "info"]) == 0


def test_json_contract(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    main(["analyze", str(INCIDENT), "-f", "json", "-o", str(out), "--fail-on", "none"])
    report = json.loads(out.read_text())
    assert set(report) == {"schema_version", "meta", "findings", "devices", "summary", "stats"}
    finding = report["findings"][0]
    for key in (
        "severity",
        "rule",
        "device",
        "remote",
        "first_seen",
        "last_seen",
        "packets",
        "bytes",
        "evidence",
    ):
        assert key in finding
    assert set(finding["device"]) >= {"ip", "mac", "vendor"}
    assert set(finding["remote"]) >= {"ip", "port", "proto", "name", "country", "asn", "org"}
    assert report["stats"][0]["packets"] > 0


def test_jsonl_streams_one_object_per_line(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    assert main(["analyze", str(PCAPS), "-f", "jsonl", "-o", str(out), "--fail-on", "none"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = {line["type"] for line in lines}
    assert {"finding", "device", "stats", "summary"} <= kinds
    assert lines[-1]["type"] == "summary"


def test_table_output_names_device_and_server() -> None:
    done = run_cli("analyze", str(INCIDENT), "--fail-on", "none")
    assert done.returncode == 0, done.stderr
    assert "116.62.10.20" in done.stdout and "Hikvision" in done.stdout and "CN" in done.stdout


def test_truncated_capture_reports_what_was_read_with_a_warning(tmp_path: Path) -> None:
    data = INCIDENT.read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[: int(len(data) * 0.8) + 3])  # mid-block
    done = run_cli("analyze", str(cut), "--fail-on", "none")
    assert done.returncode == 0, done.stderr
    assert "truncated" in done.stdout and "116.62.10.20" in done.stdout
    out = tmp_path / "r.json"
    assert main(["analyze", str(cut), "-f", "json", "-o", str(out), "--fail-on", "none"]) == 0
    stats = json.loads(out.read_text())["stats"][0]
    assert stats["truncated_files"] == [str(cut)] and stats["warnings"]


def test_sigint_leaves_complete_jsonl_and_a_summary(tmp_path: Path) -> None:
    import contextlib
    import signal
    import threading
    import time

    big = tmp_path / "big.pcap"
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, str(root / "scripts" / "make_bench_pcap.py"), str(big), "--packets", "100000"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    out = tmp_path / "r.jsonl"
    data = big.read_bytes()
    # The capture comes on standard input, so the run is still reading when the signal arrives however
    # fast it is: a first part is read, SIGINT is sent while the reader waits, then more records come.
    proc = subprocess.Popen(
        [sys.executable, "-m", "hikscan", "analyze", "-", "-f", "jsonl", "-o", str(out)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None

    def feed() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(OSError):  # the run may stop reading first: a broken pipe
            proc.stdin.write(data)
            proc.stdin.flush()
            time.sleep(2.0)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            proc.stdin.write(data[24:])  # the same records again, past the file header
            proc.stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")  # not communicate(): it would close stdin
    proc.wait(timeout=60)
    writer.join(timeout=10)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[-1]["type"] == "summary" and lines[-1]["interrupted"] is True
    stats = [line for line in lines if line["type"] == "stats"]
    assert stats and 0 < stats[0]["packets"] < 3_000_000
    assert any(line["type"] == "finding" for line in lines)


def test_one_bad_file_in_a_directory_does_not_hide_the_others(tmp_path: Path) -> None:
    (tmp_path / "a_bad.pcap").write_text("not a capture")
    (tmp_path / "b_incident.pcapng").write_bytes(INCIDENT.read_bytes())
    out = tmp_path / "r.json"
    done = run_cli("analyze", str(tmp_path), "-f", "json", "-o", str(out))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "a_bad.pcap is not a pcap or pcapng file" in done.stderr
    report = json.loads(out.read_text())
    assert report["findings"] and report["summary"]["errors"]


def test_several_captures_on_several_cores_give_the_serial_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--jobs 2 runs captures in worker processes; the report is the same as one process's, in order, and
    the workers' spill files (report.spool.SpilledRecords) are all read back and deleted."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    docs, lines = [], []
    for jobs in ("1", "2"):
        out, out_lines = tmp_path / f"r{jobs}.json", tmp_path / f"r{jobs}.jsonl"
        proc = run_cli(
            "analyze", str(PCAPS), "-f", "json", "-o", str(out), "-f", "jsonl", "-o", str(out_lines),
            "--fail-on", "none", "--jobs", jobs,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert list(scratch.iterdir()) == []
        doc = json.loads(out.read_text())
        for stats in doc["stats"]:
            stats.pop("seconds")
        docs.append({k: doc[k] for k in ("findings", "devices", "summary", "stats")})
        # records a worker handed over keep their JSON text: the lines must be what encoding them gives
        lines.append([line for line in out_lines.read_text().splitlines() if '"type": "finding"' in line])
    assert docs[0] == docs[1]
    assert len(docs[0]["stats"]) >= 10 and docs[0]["findings"]
    assert lines[0] == lines[1] and len(lines[0]) == len(docs[0]["findings"])


def test_each_capture_engine_is_freed_after_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """analyse() freezes the collector's view of a traffic set's objects while its report is written
    (speed); once written they must be collectable again, or a directory of captures would keep them all."""
    import gc
    import weakref

    from hikscan.cli import analyze

    made: list[weakref.ref[object]] = []
    real = analyze.AnalyzeRun.new_engine

    def tracked(self: analyze.AnalyzeRun) -> analyze.Engine:
        engine = real(self)
        made.append(weakref.ref(engine))
        return engine

    monkeypatch.setattr(analyze.AnalyzeRun, "new_engine", tracked)
    captures = sorted(PCAPS.glob("*.pcap"))[:4]
    request = analyze.AnalyzeRequest(
        captures=captures, outputs=[("json", tmp_path / "r.json")], fail_on="none", jobs=1
    )
    assert analyze.run_analyze(request) == 0
    gc.collect()
    assert len(made) == len(captures) >= 3
    assert gc.get_freeze_count() == 0
    assert [ref for ref in made if ref() is not None] == []
