"""`hikscan merge`: scan inventories of several sites as one estate (dedupe by MAC, then IP within a site).

Inventories are made by `hikscan scan` itself: from the real nmap report of the loopback lab
(tests/data/nmap/lab-loopback.xml) with each host's MAC added as nmap records it on a LAN
(`<address addrtype="mac">`, the lab profile's MAC), and by a live scan of the loopback lab.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from hikscan.cli.app import main
from hikscan.lab.profiles import default_lab
from hikscan.lab.server import Lab

XML = Path(__file__).resolve().parents[1] / "data" / "nmap" / "lab-loopback.xml"


def nmap_with_macs(base: str, tmp: Path, name: str) -> Path:
    """The lab's nmap report at another address base, each host with the MAC nmap sees on a LAN."""
    text = XML.read_text()
    for profile in default_lab(base="127.79.3."):
        address = f'<address addr="{profile.ip}" addrtype="ipv4"/>'
        mac = f'<address addr="{profile.mac.upper()}" addrtype="mac" vendor="{profile.vendor}"/>'
        text = text.replace(address, address + "\n" + mac)
    path = tmp / f"{name}.xml"
    path.write_text(text.replace("127.79.3.", base))
    return path


def scan_import(xml: Path, out: Path, fmt: str = "json") -> Path:
    assert main(["scan", "--import", str(xml), "-f", fmt, "-o", str(out)]) == 0
    return out


def merge(tmp: Path, *inventories: Path) -> dict[str, Any]:
    out = tmp / "estate.json"
    assert main(["merge", *map(str, inventories), "-f", "json", "-o", str(out)]) == 0
    return dict(json.loads(out.read_text()))


def test_same_devices_in_two_sites_merge_by_mac_with_conflicts(tmp_path: Path) -> None:
    a = scan_import(nmap_with_macs("127.79.3.", tmp_path, "a"), tmp_path / "site-a.json")
    b = scan_import(nmap_with_macs("10.9.8.", tmp_path, "b"), tmp_path / "site-b.jsonl", "jsonl")
    single = json.loads(a.read_text())["devices"]
    estate = merge(tmp_path, a, b)
    devices = estate["devices"]
    assert len(devices) == len(single) == 10  # every device has a MAC: each one once
    assert {d["mac"] for d in devices} == {d["mac"] for d in single}
    hik = next(d for d in devices if d["mac"] == "58:50:ed:1f:e3:85")
    assert hik["site"] == str(a) and hik["sites"] == [str(a), str(b)]
    assert hik["ip"] == "127.79.3.10" and f"ip: 127.79.3.10 ({a}) vs 10.9.8.10 ({b})" in hik["conflicts"]
    summary = estate["summary"]
    assert summary["hosts"] == 10 and summary["merged_across_sites"] == 10 and summary["conflicts"] == 10
    assert summary["by_vendor"] == json.loads(a.read_text())["summary"]["by_vendor"]
    assert estate["meta"]["command"] == "merge" and estate["meta"]["inputs"] == [str(a), str(b)]


def test_devices_without_mac_are_kept_per_site(tmp_path: Path) -> None:
    """No MAC (a routed scan): one private address in two sites is two devices; twice in one file, one."""
    base = f"127.79.{100 + os.getpid() % 150}."
    profiles = default_lab(base=base)
    lab = Lab(profiles)
    stop = threading.Event()
    runner = threading.Thread(target=lab.run, args=(stop,), daemon=True)
    runner.start()
    a, b = tmp_path / "vlan10.json", tmp_path / "vlan20.json"
    try:
        assert lab.ready.wait(10)
        targets = [p.ip for p in profiles[:3]]
        assert main(["scan", *targets, "--timeout", "1", "-f", "json", "-o", str(a)]) == 0
    finally:
        stop.set()
        runner.join(5)
    b.write_text(a.read_text())
    found = json.loads(a.read_text())["devices"]
    assert found and all(d["mac"] is None for d in found)
    estate = merge(tmp_path, a, b, a)
    assert len(estate["devices"]) == 2 * len(found)
    assert estate["summary"]["by_site"] == {str(a): len(found), str(b): len(found)}
    assert estate["summary"]["cctv_vendor_devices"] == 2 * sum(1 for d in found if d["vendor"])


def test_table_output_and_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = scan_import(nmap_with_macs("127.79.3.", tmp_path, "a"), tmp_path / "a.json")
    assert main(["merge", str(a)]) == 0
    assert "5 of 10 devices are Hikvision across 1 inventories" in capsys.readouterr().out
    for name, text in (
        ("x.json", "not json\n"),
        ("y.json", '{"findings": []}'),
        ("z.json", '{"devices": [1]}'),
    ):
        bad = tmp_path / name
        bad.write_text(text)
        assert main(["merge", str(a), str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"hikscan: error: {bad}") and err.count("\n") == 1
