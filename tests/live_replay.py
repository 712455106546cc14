"""Replay a capture into `hikscan watch` across a veth pair of our own (tests and bench/bench_live.py).

    with replay_namespaces() as net:
        run = watch_replay(net, Path("pcaps/x.pcap"), tmp_path / "out.jsonl", pps=1000)
        run.stats["kernel_drops"], run.findings, run.status_lines

tcpreplay sends from the scanner namespace's veth end; `watch` listens on the device end, as on a SPAN
port. Both ends get MTU 9000 (the scenario captures hold a few frames longer than 1514 bytes) and IPv6
off, so the only frames on the link are the replayed ones. Nothing leaves the two namespaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netns import LabNet, lab_namespaces

MTU = "9000"


def tcpreplay() -> str | None:
    return shutil.which("tcpreplay")


@contextlib.contextmanager
def replay_namespaces() -> Iterator[LabNet]:
    with lab_namespaces(n_addresses=1) as net:
        for ns, ifname in ((net.scan_ns, net.scan_if), (net.dev_ns, net.dev_if)):
            net.run_in(ns, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], timeout=10)
            net.run_in(ns, ["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"], timeout=10)
            net.run_in(ns, ["ip", "link", "set", ifname, "mtu", MTU], timeout=10)
        yield net


@dataclass
class WatchRun:
    """What one replay produced: watch's JSONL records, its status lines and tcpreplay's own count."""

    returncode: int
    records: list[dict[str, Any]]
    status_lines: list[str]
    stderr: str
    sent: int
    replay_seconds: float
    rated_pps: float  # the rate tcpreplay reports it achieved
    stats: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def findings(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["type"] == "finding"]


def _sent(report: str) -> int:
    for line in report.splitlines():
        if line.strip().startswith("Successful packets:"):
            return int(line.split(":")[1])
    return -1


def _rated(report: str) -> float:
    for line in report.splitlines():
        if line.strip().startswith("Rated:") and line.strip().endswith("pps"):
            return float(line.split(",")[-1].split()[0])
    return 0.0


def watch_replay(
    net: LabNet,
    pcap: Path,
    out: Path,
    *,
    pps: float | None = None,
    loops: int = 1,
    capture: str = "ring",
    buffer_mb: int = 64,
    bpf: str | None = None,
    settle: float = 2.5,
    timeout: float = 120.0,
    tree: Path | None = None,
) -> WatchRun:
    """Start watch on the device end, replay `pcap` (`loops` times, at `pps` or top speed), stop watch.

    `tree`: run the hikscan of another checkout instead (e.g. an older one, for comparison): it gets
    only the options every version has.
    """
    argv = [net.python, "-m", "hikscan", "watch", "-i", net.dev_if, "--interval", "1", "-f", "jsonl"]
    argv += ["-o", str(out), "--fail-on", "none"]
    if tree is None:
        argv += ["--capture", capture, "--buffer-mb", str(buffer_mb)]
    argv += ["--bpf", bpf] if bpf else []
    out.unlink(missing_ok=True)
    if tree is None:
        watch = net.start_in(net.dev_ns, argv)
    else:  # `python -m` puts the working directory first on sys.path: run from that tree
        env = {**os.environ, "PYTHONPATH": str(tree)}
        watch = net.start_in(net.dev_ns, argv, env=env, cwd=str(tree))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (out.exists() and out.read_text().strip()):
        if watch.poll() is not None:
            break
        time.sleep(0.1)  # the meta line is written once the capture is open
    time.sleep(0.3)
    rate = [f"--pps={pps:g}"] if pps else ["--topspeed"]
    replay_argv = ["tcpreplay", "-K", "-i", net.scan_if, *rate, f"--loop={loops}", str(pcap)]
    started = time.monotonic()
    replay = net.run_in(net.scan_ns, replay_argv, timeout=timeout)
    replay_seconds = time.monotonic() - started
    if replay.returncode != 0:
        watch.kill()
        raise RuntimeError(f"tcpreplay failed: {replay.stderr[-500:]}")
    time.sleep(settle)  # the ring hands over a partly filled block after 100 ms; the watch reads the rest
    if watch.poll() is None:
        watch.send_signal(signal.SIGTERM)
    try:
        _, err = watch.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        watch.kill()
        _, err = watch.communicate(timeout=10)
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    run = WatchRun(
        returncode=watch.returncode,
        records=records,
        status_lines=[line for line in err.splitlines() if line.startswith("hikscan: watch ")],
        stderr=err,
        sent=_sent(replay.stdout),
        replay_seconds=replay_seconds,
        rated_pps=_rated(replay.stdout),
    )
    run.stats = next((r for r in records if r["type"] == "stats"), {})
    run.summary = next((r for r in records if r["type"] == "summary"), {})
    return run


def comparable(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding without what depends on when it was seen (a replay has new timestamps and round trips)."""
    out = {k: v for k, v in finding.items() if k not in ("type", "first_seen", "last_seen", "capture")}
    out["remote"] = {k: v for k, v in finding["remote"].items() if k != "rtt_ms"}
    return out
