"""The same traffic as a trunk port's pcapng (802.1Q tags, written as dumpcap writes) or as a Linux cooked
capture (tcpdump -i any) gives the same report.

scripts/make_bench_pcap.py writes the bench's many-findings traffic both ways: as classic pcap, and as
pcapng with a VLAN tag on every frame. `hikscan analyze` must find the same devices and findings in both
(only byte counts, which the tags lengthen, and the capture's name differ), and read the pcapng with the
compiled loop when it is built.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from script_module import load_script

from hikscan.passive import pipeline

ROOT = Path(__file__).resolve().parents[2]
DIFFER = {"bytes", "capture", "captures", "path", "format", "inputs", "seconds", "started", "finished"}


def _analyze(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "hikscan", "analyze", str(path), "-f", "json", "--fail-on", "none"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _without(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without(v) for k, v in value.items() if k not in DIFFER}
    if isinstance(value, list):
        return [_without(v) for v in value]
    return value


def test_a_trunk_ports_pcapng_reports_what_its_pcap_reports(tmp_path: Path) -> None:
    write = load_script("make_bench_pcap").write_capture
    plain, trunk = tmp_path / "plain.pcap", tmp_path / "trunk.pcapng"
    write(plain, 30_000, 5, "many-findings")
    write(trunk, 30_000, 5, "many-findings", vlan=10, pcapng=True)
    assert trunk.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    a, b = _analyze(plain), _analyze(trunk)
    assert len(a["findings"]) > 100 and len(a["devices"]) > 50
    for part in ("findings", "devices", "summary"):
        assert _without(a[part]) == _without(b[part]), part
    tagged_bytes = sum(f["bytes"] for f in b["findings"])
    assert tagged_bytes > sum(f["bytes"] for f in a["findings"])
    files = b["stats"][0]["files"]
    assert [f["format"] for f in files] == ["pcapng"] and files[0]["packets"] == 30_000
    assert files[0]["loop"] == ("c" if pipeline.hot_loop() == "c" else "generic")


def test_a_linux_cooked_capture_reports_what_its_ethernet_capture_reports(tmp_path: Path) -> None:
    """The same traffic as `tcpdump -i any` writes it (SLL, SLL2: each sender's MAC, no receiver's) gives
    the same devices, findings and summary (byte counts aside: the header is 2 or 6 bytes longer), read by
    the compiled loop when it is built."""
    write = load_script("make_bench_pcap").write_capture
    plain = tmp_path / "plain.pcap"
    write(plain, 30_000, 5, "many-findings")
    a = _analyze(plain)
    for link in ("sll", "sll2"):
        cooked = tmp_path / f"{link}.pcap"
        write(cooked, 30_000, 5, "many-findings", link=link)
        b = _analyze(cooked)
        for part in ("findings", "devices", "summary"):
            assert _without(a[part]) == _without(b[part]), (link, part)
        assert sum(f["bytes"] for f in b["findings"]) > sum(f["bytes"] for f in a["findings"])
        files = b["stats"][0]["files"]
        assert files[0]["linktypes"] == [113 if link == "sll" else 276] and files[0]["packets"] == 30_000
        assert files[0]["loop"] == ("c" if pipeline.hot_loop() == "c" else "generic")
