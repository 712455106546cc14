"""pcapng: sections in either byte order, interfaces with their own link type and if_tsresol, EPB/SPB/PB.

Other blocks (NRB, ISB, DSB, custom, …) are skipped by their length without being held in memory.
`fast_reader`: a callable the pipeline's compiled loop sets, given the buffer and position before each
block; it takes the run of whole Enhanced Packet Blocks there that it can read (Ethernet interfaces, no
warning due) and returns where it stopped and whether reading must end. `sections` counts the section
headers read; with the interfaces' count it tells that reader which interfaces are new.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from hikscan.capture.base import MAX_CAPLEN, MAX_SKIP_BLOCK, MAX_TS, CaptureReader, Record

SHB = 0x0A0D0D0A
IDB = 0x00000001
PB = 0x00000002  # obsolete Packet Block
SPB = 0x00000003
EPB = 0x00000006
BOM = 0x1A2B3C4D
#: Largest packet block: a record of MAX_CAPLEN plus the EPB fields and generous room for options.
MAX_PACKET_BLOCK = MAX_CAPLEN + 64 * 1024
#: Interfaces one section may declare (real captures have a handful; each costs ~100 bytes held).
MAX_INTERFACES = 65_536
#: Bytes of interface description blocks one section may hold (options included).
MAX_INTERFACE_BYTES = 64 * 2**20


class _Iface:
    __slots__ = ("linktype", "snaplen", "ts_div", "ts_offset")

    def __init__(self, linktype: int, snaplen: int, ts_div: float, ts_offset: int) -> None:
        self.linktype = linktype
        self.snaplen = snaplen
        self.ts_div = ts_div  # timestamp units per second
        self.ts_offset = ts_offset


def _tsresol(v: int) -> float:
    """Units per second from if_tsresol: MSB clear → 10^v; MSB set → 2^(v & 0x7f)."""
    if v & 0x80:
        return float(2 ** (v & 0x7F))
    return float(10**v)


class PcapngReader(CaptureReader):
    format = "pcapng"

    def _open(self) -> None:
        self.linktypes: set[int] = set()
        self._ifaces: list[_Iface] = []
        self.endian = "<"
        self._bad_ts = False
        self._idb_bytes = 0
        self.sections = 0
        self.fast_reader: Callable[[bytes, int], tuple[int, bool]] | None = None

    def _parse_idb(self, body: bytes, e: str) -> None:
        if len(body) < 8:
            self._warn("interface description block too short; ignored")
            self._ifaces.append(_Iface(-1, 0, 1e6, 0))
            return
        linktype, _res, snaplen = struct.unpack_from(e + "HHI", body)
        ts_div, ts_offset = 1e6, 0
        opts = struct.Struct(e + "HH")
        pos = 8
        while pos + 4 <= len(body):
            code, length = opts.unpack_from(body, pos)
            pos += 4
            if code == 0 or pos + length > len(body):
                break
            if code == 9 and length >= 1:
                ts_div = _tsresol(body[pos])
            elif code == 14 and length >= 8:
                ts_offset = struct.unpack_from(e + "q", body, pos)[0]
            pos += (length + 3) & ~3
        self._ifaces.append(_Iface(linktype, snaplen, ts_div, ts_offset))
        self.linktypes.add(linktype)

    @property
    def interface_count(self) -> int:
        return len(self._ifaces)

    def interfaces_from(self, first: int) -> list[tuple[int, float, int]]:
        """The section's interfaces numbered `first` on: (link type, timestamp units per second, offset)."""
        return [(f.linktype, f.ts_div, f.ts_offset) for f in self._ifaces[first:]]

    def _read_shb_head(self) -> tuple[str, int] | None:
        """At an SHB: return (endian, block length) or None if the file ends."""
        if not self._fill(12):
            return None
        bom_le = struct.unpack_from("<I", self._buf, self._pos + 8)[0]
        if bom_le == BOM:
            e = "<"
        elif struct.unpack_from(">I", self._buf, self._pos + 8)[0] == BOM:
            e = ">"
        else:
            raise self._not_capture("bad pcapng byte-order magic") if self.records == 0 else _Stop()
        return e, struct.unpack_from(e + "I", self._buf, self._pos + 4)[0]

    def __iter__(self) -> Iterator[Record]:
        try:
            yield from self._blocks()
        except _Stop:
            self._corrupt("bad byte-order magic in a section header block")

    def _blocks(self) -> Iterator[Record]:
        e = self.endian
        head = struct.Struct(e + "II")
        epb = struct.Struct(e + "IIIII")
        first = True
        while True:
            seen = -1  # bytes the fast reader had before it from here (-1: none asked)
            if self.fast_reader is not None:
                self._pos, stop = self.fast_reader(self._buf, self._pos)
                if stop:
                    return
                seen = len(self._buf) - self._pos
            if not self._fill(8):
                if self._leftover():
                    self._cut("a block header")
                return
            btype = struct.unpack_from("<I", self._buf, self._pos)[0]
            if btype == SHB:
                got = self._read_shb_head()
                if got is None:
                    self._cut("a section header block")
                    return
                e, blen = got
                self.endian = e
                head = struct.Struct(e + "II")
                epb = struct.Struct(e + "IIIII")
                self._ifaces = []
                self._idb_bytes = 0
                self.sections += 1
                limit = MAX_SKIP_BLOCK
            else:
                if first:
                    raise self._not_capture("does not start with a section header block")
                btype, blen = head.unpack_from(self._buf, self._pos)
                limit = MAX_PACKET_BLOCK if btype in (EPB, SPB, PB, IDB) else MAX_SKIP_BLOCK
            first = False
            if blen < 12 or blen % 4:
                self._corrupt(f"block of type {btype:#x} has impossible length {blen}")
                return
            if blen > limit:
                self._corrupt(f"block of type {btype:#x} claims {blen} bytes (limit {limit})")
                return
            if btype not in (EPB, SPB, PB, IDB, SHB):
                if not self._skip(blen):
                    self._cut(f"a block of type {btype:#x}")
                    return
                continue
            if not self._fill(blen):
                self._cut(f"a block of type {btype:#x}")
                return
            if btype == EPB and 0 <= seen < blen:
                continue  # the fast reader saw it cut; whole now, it may take it (if not, it is read below)
            buf, pos = self._buf, self._pos
            self._pos = pos + blen
            body_end = pos + blen - 4
            if btype == EPB:
                if blen < 32:
                    self._corrupt(f"enhanced packet block of length {blen} is too short")
                    return
                ifid, ts_hi, ts_lo, caplen, wirelen = epb.unpack_from(buf, pos + 8)
                start = pos + 28
                yield from self._packet(ifid, (ts_hi << 32) | ts_lo, buf, start, caplen, wirelen, body_end)
            elif btype == SPB:
                if blen < 16 or not self._ifaces:
                    self._warn("simple packet block without an interface; skipped")
                    continue
                wirelen = struct.unpack_from(e + "I", buf, pos + 8)[0]
                iface = self._ifaces[0]
                caplen = min(wirelen, body_end - (pos + 12))
                if iface.snaplen:
                    caplen = min(caplen, iface.snaplen)
                yield from self._packet(0, None, buf, pos + 12, caplen, wirelen, body_end)
            elif btype == PB:
                if blen < 32:
                    self._corrupt(f"packet block of length {blen} is too short")
                    return
                ifid, _drops, ts_hi, ts_lo, caplen, wirelen = struct.unpack_from(e + "HHIIII", buf, pos + 8)
                yield from self._packet(ifid, (ts_hi << 32) | ts_lo, buf, pos + 28, caplen, wirelen, body_end)
            elif btype == IDB:
                self._idb_bytes += blen
                if len(self._ifaces) >= MAX_INTERFACES or self._idb_bytes > MAX_INTERFACE_BYTES:
                    self._corrupt(
                        f"a section declares more than {MAX_INTERFACES} interfaces or "
                        f"{MAX_INTERFACE_BYTES} bytes of interface blocks (the limits)"
                    )
                    return
                self._parse_idb(buf[pos + 8 : body_end], e)
            # SHB: options (section length, hardware, OS) are not needed.

    def _packet(
        self, ifid: int, ts: int | None, buf: bytes, start: int, caplen: int, wirelen: int, body_end: int
    ) -> Iterator[Record]:
        if ifid >= len(self._ifaces):
            self._warn(f"packet for undeclared interface {ifid} at offset {self._base + start}; skipped")
            return
        if start + caplen > body_end:
            self._warn(f"packet at offset {self._base + start} claims {caplen} bytes beyond its block; cut")
            caplen = max(0, body_end - start)
        if caplen > wirelen:
            wirelen = caplen
        iface = self._ifaces[ifid]
        secs = 0.0 if ts is None else ts / iface.ts_div + iface.ts_offset
        if not 0.0 <= secs < MAX_TS:  # a lying if_tsresol/if_tsoffset or timestamp: no date to show
            if not self._bad_ts:
                self._bad_ts = True
                self._warn(f"packet at offset {self._base + start} has timestamp {secs:.6g} s; read as 0")
            secs = 0.0
        self.records += 1
        yield Record(secs, iface.linktype, buf[start : start + caplen], wirelen)


class _Stop(Exception):
    """A later section header with a bad byte-order magic: stop as for corruption."""
