"""`hikscan watch`: the passive analysis on live traffic, findings streamed as they appear.

Frames come raw from scapy's L2 listening socket (AF_PACKET) and go through the same Engine as a
capture file (one per-packet path); no per-packet scapy dissection. Every `interval` seconds the open
flows are folded (not closed) and any finding not reported before is written at once.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from typing import Any

from hikscan.capture.base import LINKTYPE_ETHERNET
from hikscan.errors import UsageError
from hikscan.passive.engine import Engine
from hikscan.passive.pipeline import Stats
from hikscan.report.model import Finding

MAX_FRAME = 65_535


def open_listener(interface: str) -> Any:
    """A raw listening socket on one interface, or a one-line UsageError."""
    try:
        from scapy.arch.linux import L2ListenSocket

        return L2ListenSocket(iface=interface)
    except (OSError, ValueError, ImportError) as exc:
        raise UsageError(f"cannot listen on {interface!r}: {exc}") from None


def finding_key(f: Finding) -> tuple[Any, ...]:
    return (f.rule, f.device.get("ip"), f.remote.ip)


class Watcher:
    """Feeds live frames to the Engine and reports each finding once, when it first appears."""

    def __init__(self, engine: Engine, on_finding: Callable[[Finding], None]) -> None:
        self.engine = engine
        self.on_finding = on_finding
        self.stats = Stats()
        self.reported: set[tuple[Any, ...]] = set()

    def feed(self, ts: float, frame: bytes, linktype: int = LINKTYPE_ETHERNET) -> None:
        self.stats.packets += 1
        self.stats.bytes += len(frame)
        if self.engine.feed(ts, linktype, frame, len(frame)):
            self.stats.ip_packets += 1

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

    def run(self, listener: Any, stop: threading.Event, interval: float, duration: float | None) -> Stats:
        started = last = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                break
            if now - last >= interval:
                last = now
                self.report_new()
            ready, _, _ = select.select([listener], [], [], 0.2)
            if not ready:
                continue
            _cls, frame, ts = listener.recv_raw(MAX_FRAME)
            if frame:
                self.feed(ts if ts is not None else time.time(), frame)
        self.report_new(final=True)
        decoder = self.engine.decoder
        self.stats.malformed = decoder.malformed
        self.stats.fragments = decoder.fragments
        self.stats.non_ip = decoder.non_ip
        self.stats.seconds = round(time.monotonic() - started, 3)
        self.stats.interrupted = stop.is_set()
        return self.stats
