"""The one capture builder: pcap and pcapng bytes for scenario captures, the corpus, tests and benchmarks.

Each function packs one structure in either byte order; the `length`/`caplen` overrides exist so the
malformed corpus can write fields that lie (scripts/make_corpus.py), and nothing here checks them.
"""

from __future__ import annotations

import struct

MAGIC_US, MAGIC_NS = 0xA1B2C3D4, 0xA1B23C4D
BOM = 0x1A2B3C4D
SHB, IDB, SPB, EPB = 0x0A0D0D0A, 1, 3, 6


def _e(big: bool) -> str:
    return ">" if big else "<"


def pcap_header(linktype: int = 1, snaplen: int = 65535, ns: bool = False, big: bool = False) -> bytes:
    return struct.pack(_e(big) + "IHHiIII", MAGIC_NS if ns else MAGIC_US, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(
    sec: int, frac: int, data: bytes, caplen: int | None = None, wirelen: int | None = None, big: bool = False
) -> bytes:
    """One record: `frac` in the file's unit (µs, or ns for a nanosecond file)."""
    cap = len(data) if caplen is None else caplen
    wire = len(data) if wirelen is None else wirelen
    return struct.pack(_e(big) + "IIII", sec, frac, cap, wire) + data


def option(code: int, value: bytes, big: bool = False) -> bytes:
    """A pcapng option, padded to 32 bits; option(0, b"") ends an option list."""
    return struct.pack(_e(big) + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def block(btype: int, body: bytes, big: bool = False, length: int | None = None) -> bytes:
    """A pcapng block; `length` overrides the leading total length (the trailing one stays true)."""
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    e = _e(big)
    return struct.pack(e + "II", btype, n if length is None else length) + body + struct.pack(e + "I", n)


def shb(big: bool = False, bom: int = BOM, options: bytes = b"") -> bytes:
    return block(SHB, struct.pack(_e(big) + "IHHq", bom, 1, 0, -1) + options, big)


def idb(linktype: int, snaplen: int = 0, options: bytes = b"", big: bool = False) -> bytes:
    return block(IDB, struct.pack(_e(big) + "HHI", linktype, 0, snaplen) + options, big)


def epb(
    iface: int,
    units: int,
    data: bytes,
    caplen: int | None = None,
    wirelen: int | None = None,
    big: bool = False,
    length: int | None = None,
) -> bytes:
    """An enhanced packet block; `units` is the timestamp in the interface's resolution."""
    cap = len(data) if caplen is None else caplen
    wire = len(data) if wirelen is None else wirelen
    body = struct.pack(_e(big) + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, cap, wire) + data
    return block(EPB, body, big, length)


def spb(data: bytes, wire: int | None = None, big: bool = False) -> bytes:
    return block(SPB, struct.pack(_e(big) + "I", len(data) if wire is None else wire) + data, big)
