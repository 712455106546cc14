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


LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW = 113, 276, 101


def relinked(frame: bytes, linktype: int, addr_len: int = 6) -> bytes:
    """An Ethernet frame as another link layer writes the same packet: Linux cooked capture v1 or v2
    (`tcpdump -i any`: the sender's address, `addr_len` bytes of it declared, and the EtherType), or raw IP
    (the bytes after the EtherType and any VLAN tags; a frame that is not IPv4/IPv6 becomes a non-IP record,
    a byte 0 before it, and one shorter than 14 bytes an empty record). Ethernet (1) is returned as it is."""
    if linktype == 1:
        return frame
    if len(frame) < 14:
        return b"" if linktype == LINKTYPE_RAW else frame
    src, etype, rest = frame[6:12], frame[12:14], frame[14:]  # packet type 0: "sent to this host"
    if linktype == LINKTYPE_LINUX_SLL:  # packet type, ARPHRD_ETHER, address length, address (8), protocol
        return struct.pack("!HHH", 0, 1, addr_len) + src + b"\0\0" + etype + rest
    if linktype == LINKTYPE_LINUX_SLL2:  # protocol, reserved, ifindex, ARPHRD_ETHER, packet type, length
        return etype + struct.pack("!HIHBB", 0, 2, 1, 0, addr_len) + src + b"\0\0" + rest
    if linktype == LINKTYPE_RAW:  # no VLAN tags either: they are the Ethernet's
        while etype in (b"\x81\x00", b"\x88\xa8", b"\x91\x00") and len(rest) >= 4:
            etype, rest = rest[2:4], rest[4:]
        return rest if etype in (b"\x08\x00", b"\x86\xdd") else b"\0" + frame
    raise ValueError(f"relinked: link type {linktype} is not written")
