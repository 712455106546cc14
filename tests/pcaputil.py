"""Test helper: a flat view of a capture's packets (via scapy, fine for the small bundled captures)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, Ether
from scapy.utils import PcapReader

PCAPS = Path(__file__).resolve().parents[1] / "pcaps"


@dataclass(frozen=True)
class Pkt:
    ts: float
    src_mac: str | None
    src: str | None
    dst: str | None
    proto: str | None  # "tcp", "udp" or None
    sport: int
    dport: int
    flags: str
    payload: bytes
    raw: bytes


def read(path: Path) -> list[Pkt]:
    out = []
    with PcapReader(str(path)) as reader:
        for p in reader:
            mac = None
            if Ether in p:
                mac = p[Ether].src
            elif CookedLinux in p and p[CookedLinux].lladdrlen == 6:
                mac = ":".join(f"{b:02x}" for b in bytes(p[CookedLinux].src)[:6])
            ip = p[IP] if IP in p else p.getlayer(IPv6)
            l4 = p[TCP] if TCP in p else p.getlayer(UDP)
            out.append(
                Pkt(
                    ts=float(p.time),
                    src_mac=mac,
                    src=ip.src if ip is not None else None,
                    dst=ip.dst if ip is not None else None,
                    proto="tcp" if TCP in p else "udp" if UDP in p else None,
                    sport=int(l4.sport) if l4 is not None else 0,
                    dport=int(l4.dport) if l4 is not None else 0,
                    flags=str(p[TCP].flags) if TCP in p else "",
                    payload=bytes(l4.payload) if l4 is not None else b"",
                    raw=bytes(p),
                )
            )
    return out


def shared_real_dir() -> Path | None:
    """../shared/data/pcaps-real (from the main checkout or a worktree under /work/wt), or
    $HIKSCAN_SHARED_DATA/pcaps-real; None when absent. Captures there may not be committed."""
    env = os.environ.get("HIKSCAN_SHARED_DATA")
    root = PCAPS.parent
    candidates = [Path(env) / "pcaps-real"] if env else []
    candidates += [root.parent / "shared/data/pcaps-real", root.parent.parent / "shared/data/pcaps-real"]
    return next((c for c in candidates if c.is_dir()), None)


def capture_path(entry: dict[str, Any]) -> Path | None:
    """Where a manifest entry's capture is: pcaps/<file>, or the shared folder for `shared: true`."""
    if not entry.get("shared"):
        return PCAPS / entry["file"]
    shared = shared_real_dir()
    return shared / entry["file"] if shared is not None else None
