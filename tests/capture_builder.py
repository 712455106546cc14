"""Write pcap / pcapng bytes for tests: µs or ns, either byte order, pcapng with several interfaces."""

from __future__ import annotations

import struct
from collections.abc import Iterable

# (ts seconds as float or int, frame bytes[, wirelen])
Rec = tuple[float, bytes] | tuple[float, bytes, int]


def pcap(
    records: Iterable[Rec], linktype: int = 1, ns: bool = False, big: bool = False, snaplen: int = 65535
) -> bytes:
    e = ">" if big else "<"
    magic = 0xA1B23C4D if ns else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    div = 1_000_000_000 if ns else 1_000_000
    for r in records:
        ts, data = r[0], r[1]
        wire = r[2] if len(r) > 2 else len(data)  # type: ignore[misc]
        units = round(ts * div)
        out.append(struct.pack(e + "IIII", units // div, units % div, len(data), wire) + data)
    return b"".join(out)


def _block(e: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def _opt(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def shb(big: bool = False) -> bytes:
    e = ">" if big else "<"
    return _block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype: int, tsresol: int | None = None, snaplen: int = 0, big: bool = False) -> bytes:
    e = ">" if big else "<"
    opts = b""
    if tsresol is not None:
        opts = _opt(e, 9, bytes([tsresol])) + _opt(e, 0, b"")
    return _block(e, 1, struct.pack(e + "HHI", linktype, 0, snaplen) + opts)


def units_per_second(tsresol: int | None) -> int:
    if tsresol is None:
        return 1_000_000
    return 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol


def epb(
    iface: int, ts: float, data: bytes, tsresol: int | None = None, big: bool = False, wire: int = -1
) -> bytes:
    e = ">" if big else "<"
    units = round(ts * units_per_second(tsresol))
    wirelen = len(data) if wire < 0 else wire
    return _block(
        e, 6, struct.pack(e + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(data), wirelen) + data
    )


def spb(data: bytes, wire: int | None = None, big: bool = False) -> bytes:
    e = ">" if big else "<"
    return _block(e, 3, struct.pack(e + "I", len(data) if wire is None else wire) + data)


def other_block(btype: int, body: bytes, big: bool = False) -> bytes:
    """NRB (4), ISB (5), DSB (10), custom … — blocks a reader must skip."""
    return _block(">" if big else "<", btype, body)
