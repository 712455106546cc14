"""The README's "try it safely" demo, as a test: the loopback lab (no root) scanned as a whole /24
through the CLI, at the default rate and at --rate 20, must be found in full, every run, inside
the deadline the scan prints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from hikscan.knowledge.rules import load_rules
from hikscan.lab.profiles import default_lab
from hikscan.lab.server import Lab

BASE = f"127.77.{100 + os.getpid() % 150}."  # a /24 of our own: parallel runs do not collide
NEGATIVES = {"axis-cam", "web-server", "windows-pc"}


@pytest.fixture(scope="module")
def lab() -> Iterator[list]:
    profiles = default_lab(base=BASE)
    server = Lab(profiles)
    stop = threading.Event()
    runner = threading.Thread(target=server.run, args=(stop,), daemon=True)
    runner.start()
    assert server.ready.wait(15), "loopback lab did not come up (address in use? rerun)"
    yield profiles
    stop.set()
    runner.join(10)


def _scan(*extra: str) -> tuple[dict, str, float]:
    argv = [sys.executable, "-m", "hikscan", "scan", f"{BASE}0/24", "-f", "json", *extra]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=400)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout), proc.stderr, elapsed


@pytest.mark.parametrize("rate", [None, "20"], ids=["default-rate", "rate-20"])
def test_loopback_lab_found_in_full_inside_the_printed_deadline(lab, rate):
    rules = load_rules()
    out, err, elapsed = _scan(*(["--rate", rate] if rate else []))
    printed = re.search(r"scan deadline (\d+) s \(254 addresses at (\d+) sends/s\)", err)
    assert printed, err
    assert int(printed.group(2)) == int(rate or 50)
    assert elapsed < float(printed.group(1)), (elapsed, printed.group(0))
    assert out["stats"][0]["deadline_hit"] is False
    by_ip = {d["ip"]: d for d in out["devices"]}
    for p in lab:
        dev = by_ip.get(p.ip)
        if p.name in NEGATIVES:
            assert dev is None or dev["vendor"] is None, (p.name, dev)
            continue
        assert dev is not None, f"{p.name} not found at rate {rate}: {sorted(by_ip)}"
        assert dev["vendor"], (p.name, dev["evidence"])
        assert rules.vendor(dev["vendor"]).family == p.kind.split("-")[0], (p.name, dev["vendor"])
        keys = {e["key"] for e in dev["evidence"]}
        assert {"http.server", "rtsp.realm"} & keys, (p.name, keys)  # HTTP/RTSP evidence survives the rate
    family = len(lab) - len(NEGATIVES)
    summary = out["summary"]
    assert summary["addresses_probed"] == 254 and summary["hikvision_dahua_family"] == family
    assert summary["headline"] == (
        f"{family} of {summary['responding_hosts']} responding hosts (254 addresses probed) are "
        "Hikvision/Dahua family"
    )


def test_devices_are_streamed_one_call_at_a_time(lab):
    """The unicast workers finish their hosts at about the same moment; on_device (the CLI's writer: a
    temporary file that is not made for concurrent writes) must still be called by one of them at a time.
    Concurrent calls lost devices and garbled the JSON document (CI: "UnicodeDecodeError", a lab device
    missing)."""
    from hikscan.active.scan import run_scan

    inside, overlaps, streamed = [0], [0], []
    guard = threading.Lock()

    def on_device(device) -> None:
        with guard:
            inside[0] += 1
            overlaps[0] += inside[0] > 1
        time.sleep(0.05)  # a slow writer: a second caller arriving meanwhile is an overlap
        streamed.append(device.ip)
        with guard:
            inside[0] -= 1

    result = run_scan([p.ip for p in lab], rate=500, timeout=1.0, on_device=on_device)
    assert overlaps[0] == 0
    found = {d.ip for d in result.devices}
    assert {p.ip for p in lab if p.name not in NEGATIVES} <= found
    assert sorted(streamed) == sorted(found)
