"""Classic libpcap files: µs and ns magic, either byte order, streamed in large chunks."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from hikscan.capture.base import MAX_CAPLEN, CaptureReader, Record

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D


class PcapReader(CaptureReader):
    """Reads records by offset from a buffer of CHUNK bytes; never more than one chunk + one record held."""

    format = "pcap"

    def _open(self) -> None:
        if not self._fill(24):
            self._cut("the 24-byte file header")
            self.linktype = 0
            self.snaplen = 0
            self.endian = "<"
            self.ts_div = 1e6
            self.linktypes = set()
            self._header_ok = False
            return
        magic_le = struct.unpack_from("<I", self._buf, 0)[0]
        if magic_le in (MAGIC_US, MAGIC_NS):
            self.endian = "<"
            magic = magic_le
        else:
            self.endian = ">"
            magic = struct.unpack_from(">I", self._buf, 0)[0]
        self.ts_div = 1e9 if magic == MAGIC_NS else 1e6
        fields = struct.unpack_from(self.endian + "IHHiIII", self._buf)
        major, snaplen, network = fields[1], fields[5], fields[6]
        if major != 2:
            self._warn(f"unusual pcap version {major}")
        self.snaplen = snaplen
        self.linktype = network & 0x0FFFFFFF  # upper bits: FCS length flags
        self.linktypes = {self.linktype}
        self._pos = 24
        self._header_ok = True

    def __iter__(self) -> Iterator[Record]:
        if not self._header_ok:
            return
        hdr = struct.Struct(self.endian + "IIII").unpack_from
        linktype = self.linktype
        ts_div = self.ts_div
        limit = MAX_CAPLEN
        warned_snap = warned_orig = False
        snaplen = self.snaplen
        while True:
            buf = self._buf
            pos = self._pos
            end = len(buf)
            # Fast inner loop over the records wholly inside the current chunk.
            while pos + 16 <= end:
                sec, frac, caplen, wirelen = hdr(buf, pos)
                nxt = pos + 16 + caplen
                if nxt > end or caplen > limit:
                    break
                if caplen > wirelen:
                    if not warned_orig:
                        warned_orig = True
                        at = self._base + pos
                        self._warn(f"record at offset {at} has caplen {caplen} > origlen {wirelen}")
                    wirelen = caplen
                if snaplen and caplen > snaplen and not warned_snap:
                    warned_snap = True
                    self._warn(f"record at offset {self._base + pos} has caplen {caplen} > snaplen {snaplen}")
                self._pos = nxt
                self.records += 1
                yield Record(sec + frac / ts_div, linktype, buf[pos + 16 : nxt], wirelen)
                pos = nxt
            self._pos = pos
            if not self.next_record_in_buffer():
                return

    def next_record_in_buffer(self) -> bool:
        """After the records wholly in the buffer: read on until the next whole record is in it. False at
        the end of the file, with a cut or corrupt last record reported (every record loop calls this)."""
        if not self._fill(16):
            if self._leftover():
                self._cut("a record header")
            return False
        caplen = struct.unpack_from(self.endian + "I", self._buf, self._pos + 8)[0]
        if caplen > MAX_CAPLEN:
            self._corrupt(f"record claims {caplen} captured bytes (limit {MAX_CAPLEN})")
            return False
        if not self._fill(16 + caplen):
            self._cut("a record")
            return False
        return True
