"""The hostile-input corpus (issue 9) through the real CLI, each run under a memory and a time limit.

Every case must end with its expected exit code (0, 1 or 2 only), without a traceback or an "internal
error", with every stderr line a `hikscan: ` line, and with valid, complete output. Cases and their
expectations come from tests/corpus/hostile/expected.yaml, written by scripts/make_hostile_corpus.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "corpus" / "hostile"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((HOSTILE / "expected.yaml").read_text())["cases"]
MEMORY = 1024 * 2**20  # address space of one run (a plain run needs ~70 MB resident)
SECONDS = 60


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    max_rss: int  # bytes
    seconds: float


# A small fresh interpreter sets the limits and runs hikscan as its own child, then writes that
# child's peak RSS: a process forked from this (large) pytest process would count pytest's pages too
# (Linux keeps the pre-exec high-water mark in ru_maxrss).
WRAPPER = """
import os, resource, signal, subprocess, sys
m, s, report = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
resource.setrlimit(resource.RLIMIT_AS, (m, m))
resource.setrlimit(resource.RLIMIT_CPU, (s, s + 5))
signal.signal(signal.SIGINT, signal.SIG_IGN)
child = subprocess.Popen(sys.argv[4:])
_, status, usage = os.wait4(child.pid, 0)
with open(report, "w") as fh:
    fh.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def hikscan(args: list[str], stdin: Any = None, memory: int = MEMORY, seconds: int = SECONDS) -> Run:
    """`python -m hikscan ARGS` under RLIMIT_AS/RLIMIT_CPU and a wall-clock timeout, with its peak RSS."""
    tmp = Path(tempfile.mkdtemp(prefix="hk-run-"))
    try:
        with open(tmp / "out", "w+b") as so, open(tmp / "err", "w+b") as se:
            started = time.monotonic()
            wrapper = [sys.executable, "-c", WRAPPER, str(memory), str(seconds), str(tmp / "rss")]
            proc = subprocess.Popen(
                [*wrapper, sys.executable, "-m", "hikscan", *args],
                cwd=ROOT,
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=so,
                stderr=se,
                start_new_session=True,
            )
            try:
                code = proc.wait(timeout=seconds * 2)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise AssertionError(f"hikscan {args} still running after {seconds * 2} s") from None
            so.seek(0)
            se.seek(0)
            return Run(
                code,
                so.read().decode("utf-8", "replace"),
                se.read().decode("utf-8", "replace"),
                int((tmp / "rss").read_text()) * 1024,
                time.monotonic() - started,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def assert_clean(run: Run, allowed: tuple[int, ...] = (0, 1, 2)) -> None:
    assert run.code in allowed, (run.code, run.stderr[-2000:])
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr[-2000:]
    for line in run.stderr.splitlines():
        assert line.startswith("hikscan: "), line


def _args(case: str, spec: dict[str, Any], where: Path) -> list[str]:
    return [a.replace("{case}", str(where / case)).replace("{dir}", str(where)) for a in spec["command"]]


def _stats(report: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    return report["summary"]["packets"], report["stats"]


# -- the committed cases ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_hostile_case(case: str) -> None:
    spec = EXPECTED[case]
    run = hikscan(_args(case, spec, HOSTILE))
    assert_clean(run)
    assert run.code == spec["exit"], run.stderr
    if "error" in spec:
        errors = [line for line in run.stderr.splitlines() if line.startswith("hikscan: error: ")]
        assert errors and any(spec["error"] in line for line in errors), run.stderr
    if "warning" in spec:
        assert spec["warning"] in run.stderr + run.stdout, run.stderr
    if spec["command"][0] != "analyze" or (run.code == 2 and "packets" not in spec):
        return
    report = json.loads(run.stdout)  # valid and complete: one JSON document with its summary
    packets, stats = _stats(report)
    assert packets == spec.get("packets", packets) and packets <= spec.get("packets_max", packets)
    if "captures" in spec:
        files = [f for s in stats for f in s["files"]]
        assert len(files) == spec["captures"]
    if "truncated" in spec:
        assert all(bool(s["truncated_files"]) is spec["truncated"] for s in stats)
    if "device" in spec:
        devices = {d["ip"]: d for d in report["devices"]}
        assert devices[spec["device"]["ip"]]["vendor"] == spec["device"]["vendor"]


def test_corpus_covers_each_cause() -> None:
    causes = {"anchors_bomb", "backtracking_rule", "lookaround_rule", "ring", "ring_broken",
              "many_interfaces.pcapng.gz", "dns_huge.pcap.gz", "cut.pcap.gz", "corrupt.pcap.xz"}  # fmt: skip
    assert causes <= set(EXPECTED)
    assert {c for c in EXPECTED if c.startswith("bomb_")} == {
        "bomb_gzip.pcap.gz", "bomb_xz.pcap.xz", "bomb_bzip2.pcap.bz2", "bomb_zstd.pcap.zst"
    }  # fmt: skip


def test_the_backtracking_case_is_real() -> None:
    """The banner really hangs Python's backtracking `re` on that rule (so the case can fail)."""
    code = "import re; re.search(r'^(a+)+$', 'a' * 40 + '!')"
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", code], timeout=1.0)


def test_anchor_bomb_refused_by_analyze_too() -> None:
    run = hikscan(["analyze", str(HOSTILE / "banner_41.pcap"), "--rules", str(HOSTILE / "anchors_bomb")])
    assert_clean(run)
    assert run.code == 2 and run.stderr.count("\n") == 1 and "aliases" in run.stderr
    assert run.max_rss < 300 * 2**20


def _make_hostile() -> Any:
    path = ROOT / "scripts" / "make_hostile_corpus.py"
    spec = importlib.util.spec_from_file_location("make_hostile_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_hostile_corpus_equals_a_fresh_generation(tmp_path: Path) -> None:
    _make_hostile().write(tmp_path)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {p.relative_to(HOSTILE): p.read_bytes() for p in HOSTILE.rglob("*") if p.is_file()}
    assert sorted(fresh) == sorted(committed), "run scripts/make_hostile_corpus.py and commit the corpus"
    for name, data in fresh.items():
        assert committed[name] == data, f"{name} drifted: run scripts/make_hostile_corpus.py"
    assert sum(map(len, committed.values())) < 400_000


# -- standard input and -o -------------------------------------------------------------------------
def test_capture_from_stdin_compressed_or_not(tmp_path: Path) -> None:
    ring = HOSTILE / "ring"
    for name in ("trace.pcap2", "old.pcap3.gz"):
        with (ring / name).open("rb") as fh:
            run = hikscan(["analyze", "-", "-f", "json", "--fail-on", "none"], stdin=fh)
        assert_clean(run, (0,))
        report = json.loads(run.stdout)
        assert report["stats"][0]["captures"] == ["-"]
        assert report["summary"]["packets"] == (5 if name == "trace.pcap2" else 7)


def test_stdin_pipe_from_a_writer(tmp_path: Path) -> None:
    """`tcpdump -w - | hikscan analyze -`: a real pipe (not a file) on standard input."""
    writer = subprocess.Popen(["cat", str(HOSTILE / "ring" / "trace.pcap10")], stdout=subprocess.PIPE)
    run = hikscan(["analyze", "-", "-f", "jsonl", "--fail-on", "none"], stdin=writer.stdout)
    writer.wait()
    assert_clean(run, (0,))
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines[-1]["type"] == "summary" and lines[-1]["packets"] == 6


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "in.pcap"
    shutil.copy(HOSTILE / "banner_41.pcap", target)
    return target


@pytest.mark.parametrize("fmt", ["json", "jsonl", "table"])
def test_output_onto_an_input_is_refused_before_any_work(tmp_path: Path, fmt: str) -> None:
    capture = _copy(tmp_path)
    before = capture.read_bytes()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "link.pcap").symlink_to(capture)
    os.link(capture, tmp_path / "hard.pcap")
    for out in (str(capture), "sub/link.pcap", "hard.pcap", "./in.pcap"):
        done = subprocess.run(
            [sys.executable, "-m", "hikscan", "analyze", str(capture), "-f", fmt, "-o", out],
            cwd=tmp_path, capture_output=True, text=True, timeout=SECONDS,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and "refusing to overwrite" in done.stderr
        assert capture.read_bytes() == before
    rules = tmp_path / "rules.yaml"
    shutil.copy(HOSTILE / "backtracking_rule" / "rules.yaml", rules)
    run = hikscan(["analyze", str(capture), "--rules", str(rules), "-o", str(rules)])
    assert run.code == 2 and "refusing" in run.stderr
    run = hikscan(["scan", "127.0.0.1", "--rules", str(rules), "-o", str(rules)])
    assert run.code == 2 and "refusing" in run.stderr and "yaml" in rules.read_text() + "yaml"


def test_output_into_a_directory_or_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    capture = _copy(tmp_path)
    for out, why in ((tmp_path, "is a directory"), (tmp_path / "nope" / "r.json", "does not exist")):
        for command in (["analyze", str(capture)], ["scan", "127.0.0.1"]):
            run = hikscan([*command, "-o", str(out)])
            assert_clean(run, (2,))
            assert run.stderr.count("\n") == 1 and why in run.stderr, run.stderr


def test_watch_checks_its_output_before_listening(tmp_path: Path) -> None:
    """watch refuses a bad -o before it opens any socket (no interface is touched here)."""
    inventory = tmp_path / "inventory.json"
    inventory.write_text('{"devices": []}')
    for out, why in ((tmp_path, "is a directory"), (inventory, "refusing to overwrite")):
        args = ["watch", "-i", "hikscan-none0", "--inventory", str(inventory), "-o", str(out)]
        run = hikscan(args)
        assert_clean(run, (2,))
        assert run.stderr.count("\n") == 1 and why in run.stderr, run.stderr
    assert inventory.read_text() == '{"devices": []}'


@pytest.mark.parametrize("fmt", ["json", "jsonl", "table"])
def test_full_disk_is_one_line_exit_2(fmt: str) -> None:
    run = hikscan(["analyze", str(HOSTILE / "banner_41.pcap"), "-f", fmt, "-o", "/dev/full"])
    assert_clean(run, (2,))
    assert run.stderr.strip() == "hikscan: error: cannot write -o /dev/full: No space left on device"


def _in_mount_namespace(script: str) -> subprocess.CompletedProcess[str]:
    command = ["unshare", "-m", "sh", "-c", script]
    return subprocess.run(command, capture_output=True, text=True, timeout=SECONDS)


needs_mounts = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root to mount a tmpfs"
)


@needs_mounts
@pytest.mark.parametrize("options", ["size=8k", "ro"])
def test_tiny_or_read_only_tmpfs(tmp_path: Path, options: str) -> None:
    """A real filesystem that is full (8 KiB, filled first) or refuses writes."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    big = HOSTILE / "ring"
    fill = f"(head -c 16384 /dev/zero > {mnt}/fill 2>/dev/null; true)" if "size" in options else "true"
    cmd = f"{sys.executable} -m hikscan analyze {big} -f json --fail-on none -o {mnt}/r.json"
    done = _in_mount_namespace(f"mount -t tmpfs -o {options} tmpfs {mnt} && {fill} && cd {ROOT} && {cmd}")
    if "mount:" in done.stderr:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("hikscan: error: ")]
    assert len(errors) == 1 and (
        "No space left" in errors[0] or "not writable" in errors[0] or "Read-only" in errors[0]
    ), done.stderr


# -- the big cases: memory under a limit -----------------------------------------------------------
@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    made: dict[str, Path] = _make_hostile().big_cases(tmp_path_factory.mktemp("big"))
    return made


def test_five_million_interfaces_stop_at_the_cap(big: dict[str, Path]) -> None:
    run = hikscan(["analyze", str(big["idb_5m"]), "-f", "json", "--fail-on", "none"], memory=512 * 2**20)
    assert_clean(run, (0,))
    stats = json.loads(run.stdout)["stats"][0]
    assert stats["packets"] == 1 and stats["truncated_files"]
    assert any("interfaces" in w for w in stats["warnings"])
    assert run.max_rss < 150 * 2**20, run.max_rss


def test_huge_dns_answers_are_not_held(big: dict[str, Path]) -> None:
    """3,000 distinct ~60 KiB answers (180 MB): the cache keeps digests, not messages."""
    run = hikscan(["analyze", str(big["dns_huge"]), "-f", "json", "--fail-on", "none"], memory=512 * 2**20)
    assert_clean(run, (0,))
    assert json.loads(run.stdout)["summary"]["packets"] == 3000
    assert run.max_rss < 150 * 2**20, run.max_rss


def test_port_scan_capture_memory(big: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "scan.jsonl"
    run = hikscan(
        ["analyze", str(big["port_scan"]), "-f", "jsonl", "--fail-on", "none", "-o", str(out)],
        memory=1024 * 2**20,
        seconds=120,
    )
    assert_clean(run, (0, 1))
    lines = out.read_text().splitlines()
    assert json.loads(lines[-1])["type"] == "summary" and json.loads(lines[-1])["packets"] == 300_000
    assert sum(1 for line in lines if line.startswith('{"type": "finding"')) < 1000  # one scan, not 300k
    assert run.max_rss < 400 * 2**20, run.max_rss
