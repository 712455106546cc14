"""Header decode for the passive hot path: link layer → VLANs → IPv4/IPv6 → TCP/UDP, bounds-checked.

No scapy here: every field is read with precompiled struct code or byte indexing after a length check.
Bad bytes never raise: the packet is counted in `Decoder.malformed` and `decode` returns None.
"""

from __future__ import annotations

import ipaddress
import struct
from socket import inet_ntoa

from hikscan.capture.base import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_BSD,
    LINKTYPE_RAW_OPENBSD,
    Record,
)

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TPIDS = frozenset((0x8100, 0x88A8, 0x9100))
MAX_VLANS = 4
MAX_EXT_HEADERS = 8
PROTO_TCP = 6
PROTO_UDP = 17
# IPv6 extension headers walked to reach the transport header.
_EXT_HBH, _EXT_ROUTING, _EXT_FRAGMENT, _EXT_AH, _EXT_DSTOPTS = 0, 43, 44, 51, 60
_RAW_TYPES = frozenset((LINKTYPE_RAW, LINKTYPE_RAW_BSD, LINKTYPE_RAW_OPENBSD, LINKTYPE_IPV4, LINKTYPE_IPV6))
_BSD_AF_INET6 = frozenset((24, 28, 30))

_U16 = struct.Struct("!H").unpack_from
_U32LE = struct.Struct("<I").unpack_from
_U32BE = struct.Struct("!I").unpack_from
_PORTS = struct.Struct("!HH").unpack_from


class Packet:
    """One decoded IP packet. Addresses are packed bytes (4 or 16); payload is the L4 payload as captured.

    frag: 0 not a fragment, 1 first fragment, 2 a later fragment (no ports, no payload given),
    3 the datagram reassembled from its fragments (given on its last-arriving fragment; whole payload).
    """

    __slots__ = (
        "dport",
        "dst",
        "dst_mac",
        "frag",
        "payload",
        "proto",
        "sport",
        "src",
        "src_mac",
        "tcp_flags",
        "ts",
        "version",
        "vlans",
        "wirelen",
    )

    def __init__(
        self,
        ts: float,
        src_mac: bytes | None,
        dst_mac: bytes | None,
        vlans: tuple[int, ...],
        version: int,
        src: bytes,
        dst: bytes,
        proto: int,
        sport: int,
        dport: int,
        tcp_flags: int,
        wirelen: int,
        payload: bytes,
        frag: int = 0,
    ) -> None:
        self.ts = ts
        self.src_mac = src_mac
        self.dst_mac = dst_mac
        self.vlans = vlans
        self.version = version
        self.src = src
        self.dst = dst
        self.proto = proto
        self.sport = sport
        self.dport = dport
        self.tcp_flags = tcp_flags
        self.wirelen = wirelen
        self.payload = payload
        self.frag = frag

    def __repr__(self) -> str:
        return (
            f"Packet({ip_text(self.src)}:{self.sport} -> {ip_text(self.dst)}:{self.dport} proto={self.proto} "
            f"len={self.wirelen} payload={len(self.payload)} frag={self.frag})"
        )


def ip_text(b: bytes) -> str:
    """Packed 4- or 16-byte address → text ("192.0.2.1", "2001:db8::1")."""
    if len(b) == 4:
        return inet_ntoa(b)
    return str(ipaddress.IPv6Address(bytes(b)))


def mac_text(b: bytes) -> str:
    """6 bytes → "aa:bb:cc:dd:ee:ff"."""
    return bytes(b).hex(":")


class Reassembler:
    """Bounded IP fragment reassembly, so payload inspectors see whole datagrams.

    Devices' discovery replies (a SADP ProbeMatch is ~1.6 KB) are often larger than the MTU. At most
    MAX_PENDING datagrams are held, each at most MAX_DATAGRAM bytes, none older than MAX_AGE seconds
    of capture time; overlapping fragments keep the bytes that arrived first.
    """

    MAX_PENDING = 256
    MAX_DATAGRAM = 65_535
    MAX_AGE = 30.0

    __slots__ = ("pending", "reassembled")

    def __init__(self) -> None:
        self.pending: dict[tuple[bytes, bytes, int, int], tuple[float, dict[int, bytes], list[int]]] = {}
        self.reassembled = 0

    def add(
        self, key: tuple[bytes, bytes, int, int], ts: float, offset: int, data: bytes, more: bool
    ) -> bytes | None:
        """Store one fragment; the whole datagram's payload once every byte of it has arrived."""
        entry = self.pending.get(key)
        if entry is None:
            if len(self.pending) >= self.MAX_PENDING:
                self._expire(ts)
            entry = self.pending[key] = (ts, {}, [-1])
        started, parts, total = entry
        if ts - started > self.MAX_AGE or offset + len(data) > self.MAX_DATAGRAM:
            del self.pending[key]
            return None
        parts.setdefault(offset, bytes(data))
        if not more:
            total[0] = offset + len(data)
        if total[0] < 0:
            return None
        whole = bytearray()
        for start in sorted(parts):
            if start > len(whole):
                return None  # a hole: wait for the missing fragment
            whole += parts[start][len(whole) - start :]
        if len(whole) < total[0]:
            return None
        del self.pending[key]
        self.reassembled += 1
        return bytes(whole[: total[0]])

    def _expire(self, now: float) -> None:
        """Drop stale datagrams, or the oldest one if none is stale."""
        stale = [k for k, (ts, _, _) in self.pending.items() if now - ts > self.MAX_AGE]
        for key in stale or [min(self.pending, key=lambda k: self.pending[k][0])]:
            del self.pending[key]


class Decoder:
    """Decodes Records into Packets and counts what it could not use."""

    __slots__ = ("fragments", "malformed", "non_ip", "reassembler", "unknown_linktypes")

    def __init__(self) -> None:
        self.malformed = 0
        self.fragments = 0
        self.non_ip = 0
        self.unknown_linktypes: set[int] = set()
        self.reassembler = Reassembler()

    def decode(self, rec: Record) -> Packet | None:
        return self.decode_frame(rec.ts, rec.linktype, rec.data, rec.wirelen)

    def decode_frame(self, ts: float, linktype: int, data: bytes, wirelen: int) -> Packet | None:
        """Decode one frame of the given link type; None when it is not IP or is malformed (counted)."""
        n = len(data)
        src_mac = dst_mac = None
        if linktype == LINKTYPE_ETHERNET:
            if n < 14:
                self.malformed += 1
                return None
            dst_mac = data[0:6]
            src_mac = data[6:12]
            etype = (data[12] << 8) | data[13]
            off = 14
        elif linktype == LINKTYPE_LINUX_SLL:
            if n < 16:
                self.malformed += 1
                return None
            if _U16(data, 4)[0] == 6:  # address length: a MAC, the sender's
                src_mac = data[6:12]
            etype = (data[14] << 8) | data[15]
            off = 16
        elif linktype == LINKTYPE_LINUX_SLL2:
            if n < 20:
                self.malformed += 1
                return None
            if data[11] == 6:
                src_mac = data[12:18]
            etype = (data[0] << 8) | data[1]
            off = 20
        elif linktype in _RAW_TYPES:
            if n < 1:
                self.malformed += 1
                return None
            v = data[0] >> 4
            etype = ETH_IPV4 if v == 4 else ETH_IPV6 if v == 6 else 0
            off = 0
        elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if n < 4:
                self.malformed += 1
                return None
            fam = _U32BE(data, 0)[0] if linktype == LINKTYPE_LOOP else _U32LE(data, 0)[0]
            if fam > 0xFFFF:  # NULL is host byte order: a big-endian writer
                fam = _U32BE(data, 0)[0]
            etype = ETH_IPV4 if fam == 2 else ETH_IPV6 if fam in _BSD_AF_INET6 else 0
            off = 4
        else:
            self.unknown_linktypes.add(linktype)
            self.non_ip += 1
            return None
        vlans: tuple[int, ...] = ()
        while etype in VLAN_TPIDS:
            if off + 4 > n or len(vlans) >= MAX_VLANS:
                self.malformed += 1
                return None
            vlans = (*vlans, ((data[off] << 8) | data[off + 1]) & 0x0FFF)
            etype = (data[off + 2] << 8) | data[off + 3]
            off += 4
        if etype == ETH_IPV4:
            return self._ipv4(ts, src_mac, dst_mac, vlans, data, off, wirelen)
        if etype == ETH_IPV6:
            return self._ipv6(ts, src_mac, dst_mac, vlans, data, off, wirelen)
        self.non_ip += 1
        return None

    def _ipv4(
        self,
        ts: float,
        smac: bytes | None,
        dmac: bytes | None,
        vlans: tuple[int, ...],
        data: bytes,
        off: int,
        wirelen: int,
    ) -> Packet | None:
        n = len(data)
        if off + 20 > n:
            self.malformed += 1
            return None
        vihl = data[off]
        ihl = (vihl & 0x0F) * 4
        total = (data[off + 2] << 8) | data[off + 3]
        if vihl >> 4 != 4 or ihl < 20 or off + ihl > n or total < ihl:
            self.malformed += 1
            return None
        end = min(n, off + total)  # drop Ethernet padding; keep what a snaplen left
        proto = data[off + 9]
        src = data[off + 12 : off + 16]
        dst = data[off + 16 : off + 20]
        frag_field = (data[off + 6] << 8) | data[off + 7]
        frag = 0
        if frag_field & 0x3FFF:  # MF flag or a fragment offset
            self.fragments += 1
            key = (src, dst, (data[off + 4] << 8) | data[off + 5], proto)
            offset = (frag_field & 0x1FFF) * 8
            whole = self.reassembler.add(key, ts, offset, data[off + ihl : end], bool(frag_field & 0x2000))
            if whole is not None:
                return self._l4(ts, smac, dmac, vlans, 4, src, dst, proto, whole, 0, len(whole), wirelen, 3)
            if offset:
                return Packet(ts, smac, dmac, vlans, 4, src, dst, proto, 0, 0, 0, wirelen, b"", 2)
            frag = 1
        return self._l4(ts, smac, dmac, vlans, 4, src, dst, proto, data, off + ihl, end, wirelen, frag)

    def _ipv6(
        self,
        ts: float,
        smac: bytes | None,
        dmac: bytes | None,
        vlans: tuple[int, ...],
        data: bytes,
        off: int,
        wirelen: int,
    ) -> Packet | None:
        n = len(data)
        if off + 40 > n or data[off] >> 4 != 6:
            self.malformed += 1
            return None
        plen = (data[off + 4] << 8) | data[off + 5]
        nxt = data[off + 6]
        src = data[off + 8 : off + 24]
        dst = data[off + 24 : off + 40]
        end = n if plen == 0 else min(n, off + 40 + plen)  # plen 0: jumbogram, take what was captured
        pos = off + 40
        frag = 0
        for _ in range(MAX_EXT_HEADERS):
            if nxt in (_EXT_HBH, _EXT_ROUTING, _EXT_DSTOPTS):
                if pos + 8 > end:
                    self.malformed += 1
                    return None
                hlen = (data[pos + 1] + 1) * 8
            elif nxt == _EXT_FRAGMENT:
                if pos + 8 > end:
                    self.malformed += 1
                    return None
                hlen = 8
                self.fragments += 1
                field = _U16(data, pos + 2)[0]
                key = (src, dst, _U32BE(data, pos + 4)[0], data[pos])
                whole = self.reassembler.add(key, ts, field & 0xFFF8, data[pos + 8 : end], bool(field & 1))
                if whole is not None:
                    return self._l4(
                        ts, smac, dmac, vlans, 6, src, dst, data[pos], whole, 0, len(whole), wirelen, 3
                    )
                if field & 0xFFF8:
                    return Packet(ts, smac, dmac, vlans, 6, src, dst, data[pos], 0, 0, 0, wirelen, b"", 2)
                frag = 1
            elif nxt == _EXT_AH:
                if pos + 8 > end:
                    self.malformed += 1
                    return None
                hlen = (data[pos + 1] + 2) * 4
            else:
                break
            nxt = data[pos]
            pos += hlen
        else:
            self.malformed += 1  # more extension headers than any real packet carries
            return None
        if pos > end:
            self.malformed += 1
            return None
        return self._l4(ts, smac, dmac, vlans, 6, src, dst, nxt, data, pos, end, wirelen, frag)

    def _l4(
        self,
        ts: float,
        smac: bytes | None,
        dmac: bytes | None,
        vlans: tuple[int, ...],
        version: int,
        src: bytes,
        dst: bytes,
        proto: int,
        data: bytes,
        pos: int,
        end: int,
        wirelen: int,
        frag: int,
    ) -> Packet | None:
        if proto == PROTO_TCP:
            if pos + 20 > end:
                self.malformed += 1
                return None
            sport, dport = _PORTS(data, pos)
            doff = (data[pos + 12] >> 4) * 4
            if doff < 20 or pos + doff > end:
                self.malformed += 1
                return None
            flags = data[pos + 13] | ((data[pos + 12] & 1) << 8)
            payload = data[pos + doff : end]
            return Packet(
                ts, smac, dmac, vlans, version, src, dst, 6, sport, dport, flags, wirelen, payload, frag
            )
        if proto == PROTO_UDP:
            if pos + 8 > end:
                self.malformed += 1
                return None
            sport, dport = _PORTS(data, pos)
            ulen = (data[pos + 4] << 8) | data[pos + 5]
            if ulen >= 8:
                end = min(end, pos + ulen)
            payload = data[pos + 8 : end]
            return Packet(
                ts, smac, dmac, vlans, version, src, dst, 17, sport, dport, 0, wirelen, payload, frag
            )
        # ICMP, GRE, ESP, …: no ports; the payload is what follows the IP header(s).
        return Packet(ts, smac, dmac, vlans, version, src, dst, proto, 0, 0, 0, wirelen, data[pos:end], frag)
