"""The malformed-capture corpus through the real CLI: each file gives results or a one-line error, never a
traceback or a hang. Expectations come from tests/corpus/expected.yaml, written by scripts/make_corpus.py
from how each file was built.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from script_module import load_script

from hikscan.capture import open_capture
from hikscan.passive.flows import FlowTable
from hikscan.passive.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "expected.yaml").read_text())["files"]
READABLE = sorted(name for name, e in EXPECTED.items() if e["exit"] == 0)
ERRORS = sorted(name for name, e in EXPECTED.items() if e["exit"] == 2)
TIMEOUT = 60  # seconds for one CLI run; any file taking longer is a hang


def _analyze(paths: list[Path], out: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "hikscan", "analyze", *map(str, paths)]
    cmd += ["--format", "json", "-o", str(out), "--fail-on", "none", "--no-progress"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)


def _make_corpus() -> Any:
    return load_script("make_corpus")


@pytest.fixture(scope="module")
def readable_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """All readable corpus files in one CLI run (per-capture stats, one entry each, in order)."""
    out = tmp_path_factory.mktemp("corpus") / "report.json"
    done = _analyze([CORPUS / name for name in READABLE], out)
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert [Path(s["captures"][0]).name for s in report["stats"]] == READABLE
    return report


def test_corpus_covers_the_issue() -> None:
    names = set(EXPECTED)
    for needed in ("empty.pcap", "header_only.pcap", "truncated_mid_record.pcap", "caplen_huge.pcap",
                   "unknown_linktype.pcap", "dns_compression_loop.pcap", "tls_client_hello_overrun.pcap",
                   "ipv6_ext_chains.pcapng", "fragments.pcap", "random_frames.pcap",
                   "pcapng_block_huge.pcapng", "sadp_xml_bomb.pcap", "http_head_64k.pcap"):  # fmt: skip
        assert needed in names
    assert len(ERRORS) >= 3 and len(READABLE) >= 20


@pytest.mark.parametrize("name", ERRORS)
def test_unreadable_file_is_one_line_and_exit_2(name: str, tmp_path: Path) -> None:
    done = _analyze([CORPUS / name], tmp_path / "out.json")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("hikscan: error: ")
    assert EXPECTED[name]["error"] in lines[0]
    assert name in lines[0]  # the message names the file


@pytest.mark.parametrize("name", READABLE)
def test_readable_file_matches_expectations(name: str, readable_report: dict[str, Any]) -> None:
    expect = EXPECTED[name]
    stats = readable_report["stats"][READABLE.index(name)]
    assert stats["packets"] == expect["packets"]
    assert len(stats["files"]) == 1
    if "truncated" in expect:
        assert stats["files"][0]["truncated"] is expect["truncated"]
        assert bool(stats["truncated_files"]) is expect["truncated"]
    for key in ("ip_packets", "malformed", "fragments", "non_ip"):
        if key in expect:
            assert stats[key] == expect[key], key
    if "malformed_min" in expect:
        assert stats["malformed"] >= expect["malformed_min"]
    for proto, least in expect.get("malformed_payloads_min", {}).items():
        assert stats["malformed_payloads"].get(proto, 0) >= least, proto
    if "warning" in expect:
        assert any(expect["warning"] in w for w in stats["warnings"]), stats["warnings"]
    assert stats["ip_packets"] + stats["malformed"] + stats["non_ip"] == stats["packets"]
    findings = [f for f in readable_report["findings"] if f.get("capture", "").endswith(name)]
    assert len(findings) >= expect.get("findings_min", 0)
    devices = {d["ip"]: d for d in readable_report["devices"] if d.get("capture", "").endswith(name)}
    for want in expect.get("devices", []):
        assert devices[want["ip"]]["vendor"] == want["vendor"]
    for ip in expect.get("not_devices", []):
        assert ip not in devices


def test_each_readable_file_alone(tmp_path: Path) -> None:
    """A sample of files on their own (the batch run could hide a file that only fails first)."""
    for name in ("header_cut.pcap", "random_frames.pcap", "pcapng_second_section_bad_bom.pcapng"):
        done = _analyze([CORPUS / name], tmp_path / "out.json")
        assert done.returncode == 0 and not done.stderr.strip(), done.stderr
        assert (
            json.loads((tmp_path / "out.json").read_text())["stats"][0]["packets"]
            == EXPECTED[name]["packets"]
        )


def test_fast_loop_warns_like_the_reader() -> None:
    """Regression: the pipeline's fast pcap+Ethernet loop dropped the snaplen/origlen warnings."""
    for name in ("caplen_over_snaplen.pcap", "caplen_over_origlen.pcap"):
        with open_capture(CORPUS / name) as reader:
            assert len(list(reader)) == EXPECTED[name]["packets"]
            slow = reader.warnings
        fast = run([CORPUS / name], None, FlowTable()).warnings
        assert fast == slow and len(fast) == 1


def test_corpus_is_small() -> None:
    assert sum(p.stat().st_size for p in CORPUS.iterdir()) < 1_000_000


def test_committed_corpus_equals_a_fresh_generation(tmp_path: Path) -> None:
    module = _make_corpus()
    module.write(tmp_path)
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in CORPUS.iterdir() if p.is_file()}
    assert sorted(fresh) == sorted(committed), "run scripts/make_corpus.py and commit tests/corpus"
    for name, data in fresh.items():
        assert committed[name] == data, f"{name} drifted: run scripts/make_corpus.py"
    module.write(tmp_path / "again")  # deterministic: a second run gives the same bytes
    assert all((tmp_path / "again" / n).read_bytes() == d for n, d in fresh.items())
