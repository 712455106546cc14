"""Capture bytes for tests, on top of the one capture builder (hikscan.lab.capwrite): µs or ns, either
byte order, pcapng with several interfaces and timestamp resolutions."""

from __future__ import annotations

from collections.abc import Iterable

from hikscan.lab import capwrite

# (ts seconds as float or int, frame bytes[, wirelen])
Rec = tuple[float, bytes] | tuple[float, bytes, int]


def pcap(
    records: Iterable[Rec], linktype: int = 1, ns: bool = False, big: bool = False, snaplen: int = 65535
) -> bytes:
    out = [capwrite.pcap_header(linktype, snaplen, ns, big)]
    div = 1_000_000_000 if ns else 1_000_000
    for r in records:
        ts, data = r[0], r[1]
        wire = r[2] if len(r) > 2 else len(data)  # type: ignore[misc]
        units = round(ts * div)
        out.append(capwrite.pcap_record(units // div, units % div, data, wirelen=wire, big=big))
    return b"".join(out)


def shb(big: bool = False) -> bytes:
    return capwrite.shb(big)


def idb(linktype: int, tsresol: int | None = None, snaplen: int = 0, big: bool = False) -> bytes:
    opts = b""
    if tsresol is not None:
        opts = capwrite.option(9, bytes([tsresol]), big) + capwrite.option(0, b"", big)
    return capwrite.idb(linktype, snaplen, opts, big)


def units_per_second(tsresol: int | None) -> int:
    if tsresol is None:
        return 1_000_000
    return 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol


def epb(
    iface: int, ts: float, data: bytes, tsresol: int | None = None, big: bool = False, wire: int = -1
) -> bytes:
    units = round(ts * units_per_second(tsresol))
    return capwrite.epb(iface, units, data, wirelen=None if wire < 0 else wire, big=big)


def spb(data: bytes, wire: int | None = None, big: bool = False) -> bytes:
    return capwrite.spb(data, wire, big)


def other_block(btype: int, body: bytes, big: bool = False) -> bytes:
    """NRB (4), ISB (5), DSB (10), custom … — blocks a reader must skip."""
    return capwrite.block(btype, body, big)
