"""The passive hot loop: read captures → decode headers → flow table → on_payload for packets with data.

python -m hikscan.pipeline FILE…    # decode + flows with a no-op on_payload; prints Stats as JSON
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hikscan.capture import open_capture
from hikscan.decode import Decoder, Packet
from hikscan.flows import FlowTable

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".dmp")
PROGRESS_EVERY = 0.25  # seconds


@dataclass
class FileStats:
    path: str
    format: str
    packets: int = 0
    bytes: int = 0
    truncated: bool = False
    linktypes: list[int] = field(default_factory=list)


@dataclass
class Stats:
    """Counts over all files. `bytes` is the sum of on-the-wire lengths."""

    packets: int = 0
    bytes: int = 0
    ip_packets: int = 0
    malformed: int = 0
    fragments: int = 0
    non_ip: int = 0
    payload_packets: int = 0
    truncated_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[FileStats] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given; directories → their capture files (by suffix), sorted, recursively."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in CAPTURE_SUFFIXES)
            )
        else:
            out.append(p)
    return out


def run(
    paths: Iterable[str | os.PathLike[str]],
    on_payload: Callable[[Packet], object] | None,
    flows: FlowTable,
    progress: Callable[[int, int], object] | None = None,
    decoder: Decoder | None = None,
) -> Stats:
    """Stream every capture through decode and the flow table.

    on_payload(pkt) is called for each packet with a non-empty L4 payload that is not a later fragment.
    progress(bytes_read, total_bytes) is called at most every PROGRESS_EVERY seconds, and once at the end.
    A file that is not a capture raises MalformedInput (naming it); a truncated one is read to its cut.
    The caller flushes `flows` when it wants the remaining flows.
    """
    files = expand_paths(paths)
    total = sum(p.stat().st_size for p in files)
    dec = decoder or Decoder()
    stats = Stats()
    started = time.monotonic()
    done_bytes = 0
    last_report = started
    add = flows.add
    decode = dec.decode_frame
    for path in files:
        with open_capture(path) as reader:
            fs = FileStats(str(path), reader.format)
            n = wire = ip = with_payload = 0
            for rec in reader:
                n += 1
                wire += rec.wirelen
                pkt = decode(rec.ts, rec.linktype, rec.data, rec.wirelen)
                if pkt is not None:
                    ip += 1
                    add(pkt)
                    if pkt.payload and pkt.frag != 2 and on_payload is not None:
                        with_payload += 1
                        on_payload(pkt)
                if progress is not None and not n & 0x3FF:
                    now = time.monotonic()
                    if now - last_report >= PROGRESS_EVERY:
                        last_report = now
                        progress(done_bytes + reader.bytes_read, total)
            fs.packets, fs.bytes, fs.truncated = n, wire, reader.truncated
            fs.linktypes = sorted(getattr(reader, "linktypes", ()))
            stats.files.append(fs)
            stats.packets += n
            stats.bytes += wire
            stats.ip_packets += ip
            stats.payload_packets += with_payload
            stats.warnings.extend(reader.warnings)
            if reader.truncated:
                stats.truncated_files.append(str(path))
            done_bytes += reader.size
    stats.malformed, stats.fragments, stats.non_ip = dec.malformed, dec.fragments, dec.non_ip
    stats.seconds = round(time.monotonic() - started, 3)
    if progress is not None:
        progress(total, total)
    return stats


def main(argv: list[str] | None = None) -> int:
    """Decode + flows with a no-op on_payload: the pipeline's own speed, for the benchmark."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m hikscan.pipeline FILE…", file=sys.stderr)
        return 2
    evicted = 0

    def count(_flow: object) -> None:
        nonlocal evicted
        evicted += 1

    table = FlowTable(on_evict=count)
    stats = run(args, lambda _pkt: None, table)
    table.flush()
    out = stats.to_dict()
    out["flows"] = table.total_flows
    out["packets_per_second"] = round(stats.packets / stats.seconds) if stats.seconds else None
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
