"""`hikscan watch`: the passive analysis on live traffic, findings streamed as they appear.

Frames come raw from a capture source (hikscan.capture.ring: a libpcap TPACKET_V3 ring, or scapy's
packet socket as a fallback), in bounded batches, and go through the same Engine as a capture file
(one per-packet path); no per-packet scapy dissection. Every `interval` seconds the open flows are
folded (not closed), any finding not reported before is written at once, and a status line gives
packets, kernel drops and flows, as Suricata's and Zeek's capture statistics do.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from typing import Any

from hikscan.capture.ring import BLOCK_TIMEOUT_MS, Counters, LiveSource, open_source
from hikscan.passive.engine import Engine
from hikscan.passive.pipeline import Stats
from hikscan.report.model import Finding

BATCH = 1024  # frames taken from the kernel per read
WAIT = 0.1  # seconds to wait for traffic before looking at the clock again
DRAIN = 2.0  # seconds spent reading what is still queued when the watch ends


def open_listener(interface: str) -> LiveSource:
    """The default live source on one interface (kept for callers of the old name)."""
    return open_source(interface)


def finding_key(f: Finding) -> tuple[Any, ...]:
    return (f.rule, f.device.get("ip"), f.remote.ip)


class Watcher:
    """Feeds live frames to the Engine and reports each finding once, when it first appears."""

    def __init__(
        self,
        engine: Engine,
        on_finding: Callable[[Finding], None],
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_finding = on_finding
        self.on_status = on_status
        self.stats = Stats()
        self.reported: set[tuple[Any, ...]] = set()
        self.counters: Counters | None = None
        self._last_status = (0.0, 0)

    def feed(self, ts: float, frame: bytes, linktype: int = 1, wirelen: int | None = None) -> None:
        wire = len(frame) if wirelen is None else wirelen
        self.stats.packets += 1
        self.stats.bytes += wire
        if self.engine.feed(ts, linktype, frame, wire):
            self.stats.ip_packets += 1

    def feed_batch(self, frames: list[tuple[float, bytes, int]], linktype: int) -> None:
        feed = self.engine.feed
        ip = nbytes = 0
        for ts, frame, wirelen in frames:
            nbytes += wirelen
            if feed(ts, linktype, frame, wirelen):
                ip += 1
        self.stats.packets += len(frames)
        self.stats.bytes += nbytes
        self.stats.ip_packets += ip

    def report_new(self, final: bool = False) -> list[Finding]:
        """Fold the traffic so far (closing every flow when final) and report findings not reported before."""
        if final:
            self.engine.finish()
        else:
            self.engine.sync()
        fresh = []
        for finding in self.engine.findings():
            key = finding_key(finding)
            if key not in self.reported:
                self.reported.add(key)
                fresh.append(finding)
                self.on_finding(finding)
        return fresh

    def status_line(self, elapsed: float, counters: Counters | None) -> str:
        """packets, kernel drops and flows in one line (rates since the previous line)."""
        packets = self.stats.packets
        before_t, before_p = self._last_status
        rate = (packets - before_p) / (elapsed - before_t) if elapsed > before_t else 0.0
        self._last_status = (elapsed, packets)
        if counters is not None:
            seen = max(counters.kernel_packets, 1)
            drops = f"kernel drops {counters.kernel_drops} ({100.0 * counters.kernel_drops / seen:.2f}%)"
        else:
            drops = "kernel drops n/a"
        flows = self.engine.flows
        return (
            f"watch {elapsed:.0f}s: packets {packets} ({rate:.0f}/s), {drops}, "
            f"flows {len(flows)} open / {flows.total_flows} seen, findings {len(self.reported)}"
        )

    def _status(self, source: LiveSource, started: float) -> None:
        self.counters = source.counters()
        if self.on_status is not None:
            self.on_status(self.status_line(time.monotonic() - started, self.counters))

    def run(
        self, source: LiveSource, stop: threading.Event, interval: float, duration: float | None
    ) -> Stats:
        """Read until `stop` is set or `duration` has passed; each read takes at most BATCH frames."""
        started = last = time.monotonic()
        linktype, fd = source.linktype, source.fileno()
        try:
            while not stop.is_set():
                now = time.monotonic()
                if duration is not None and now - started >= duration:
                    break
                if now - last >= interval:
                    last = now
                    self.report_new()
                    self._status(source, started)
                ready, _, _ = select.select([fd], [], [], WAIT)
                if not ready:
                    continue
                frames = source.read(BATCH)
                if frames:
                    self.feed_batch(frames, linktype)
        except OSError as exc:  # the interface went away: report what was seen
            self.stats.warnings.append(str(exc))
        # What the kernel already holds when we stop is still read (for at most DRAIN seconds); a
        # partly filled ring block is handed over within the ring's block timeout, so wait that once.
        deadline = time.monotonic() + DRAIN
        waited = False
        while time.monotonic() < deadline:
            try:
                frames = source.read(BATCH)
            except OSError:
                break
            if frames:
                self.feed_batch(frames, linktype)
            elif waited or not select.select([fd], [], [], BLOCK_TIMEOUT_MS / 1000 + 0.05)[0]:
                break
            else:
                waited = True
        self.report_new(final=True)
        self._status(source, started)
        decoder = self.engine.decoder
        self.stats.malformed = decoder.malformed
        self.stats.fragments = decoder.fragments
        self.stats.non_ip = decoder.non_ip
        self.stats.seconds = round(time.monotonic() - started, 3)
        self.stats.interrupted = stop.is_set()
        return self.stats

    def capture_record(self) -> dict[str, Any]:
        """The capture layer's counters for the stats record (Suricata: capture.kernel_packets/drops)."""
        c = self.counters
        if c is None:
            return {}
        record: dict[str, Any] = {
            "capture_method": c.method,
            "kernel_packets": c.kernel_packets,
            "kernel_drops": c.kernel_drops,
        }
        if c.interface_drops is not None:
            record["interface_drops"] = c.interface_drops
        return record
