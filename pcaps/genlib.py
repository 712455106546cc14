"""Building blocks for pcaps/generate.py: deterministic frame builders and pcap/pcapng writers.

Scapy builds the packet bytes; the file formats are written here with struct so that every byte
(timestamps, options, endianness) is under our control and re-running gives identical files.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import Packet, Raw

from hikscan.lab import capwrite

#: Real device payloads: the repository's copies of ../shared/data/active/ (provenance in that directory).
ACTIVE = Path(__file__).resolve().parents[1] / "tests" / "data" / "active"

#: 2026-03-02T09:00:00Z, the start of every generated capture (microseconds since the epoch).
T0_US = int(datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC).timestamp()) * 1_000_000

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113

BCAST = "ff:ff:ff:ff:ff:ff"


def at(seconds: float) -> int:
    """Timestamp in microseconds, `seconds` after T0 (rounded to a whole microsecond)."""
    return T0_US + round(seconds * 1_000_000)


@dataclass(frozen=True)
class Frame:
    ts_us: int
    data: bytes
    wirelen: int = 0  # 0 = same as len(data)
    ifid: int = 0

    @property
    def orig_len(self) -> int:
        return self.wirelen or len(self.data)


@dataclass(frozen=True)
class Host:
    mac: str
    ip: str
    vlan: tuple[int, ...] = ()  # outer first; two tags = QinQ (0x88a8 outer)


def mcast_mac(ip: str) -> str:
    """Ethernet multicast MAC of an IPv4 group (01:00:5e + low 23 bits)."""
    _, b, c, d = (int(x) for x in ip.split("."))
    return f"01:00:5e:{b & 0x7F:02x}:{c:02x}:{d:02x}"


def l2(src_mac: str, dst_mac: str, vlan: tuple[int, ...], l3: Packet) -> Packet:
    """Ethernet header with 0, 1 (802.1Q) or 2 (802.1ad QinQ) tags."""
    if not vlan:
        return Ether(src=src_mac, dst=dst_mac) / l3
    if len(vlan) == 1:
        return Ether(src=src_mac, dst=dst_mac) / Dot1Q(vlan=vlan[0]) / l3
    return Ether(src=src_mac, dst=dst_mac, type=0x88A8) / Dot1AD(vlan=vlan[0]) / Dot1Q(vlan=vlan[1]) / l3


def ip_layer(src: str, dst: str, ident: int, ttl: int = 64) -> Packet:
    if ":" in src:
        return IPv6(src=src, dst=dst, hlim=ttl)
    return IP(src=src, dst=dst, id=ident & 0xFFFF, ttl=ttl, flags="DF")


class Capture:
    """A list of frames with a per-capture deterministic RNG and IP-id counter."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.frames: list[Frame] = []
        self._ipid = seed & 0xFFFF
        #: how an IP packet is framed, and on which pcapng interface; a scenario may switch both.
        self.link: Callable[[str, str, tuple[int, ...], Packet], Packet | bytes] = l2
        self.ifid = 0

    def next_id(self) -> int:
        self._ipid = (self._ipid + 1) & 0xFFFF
        return self._ipid

    def add(self, ts_us: int, pkt: Packet | bytes, wirelen: int = 0) -> None:
        self.frames.append(Frame(ts_us, bytes(pkt), wirelen, self.ifid))

    def sorted_frames(self) -> list[Frame]:
        return sorted(self.frames, key=lambda f: f.ts_us)  # stable: equal times keep insertion order

    def udp(
        self, ts_us: int, src: Host, dst: Host, sport: int, dport: int, payload: bytes, dst_mac: str = ""
    ) -> None:
        l3 = ip_layer(src.ip, dst.ip, self.next_id()) / UDP(sport=sport, dport=dport) / Raw(payload)
        self.add(ts_us, self.link(src.mac, dst_mac or dst.mac, src.vlan or dst.vlan, l3))

    def arp(self, ts_us: int, asker: Host, target: Host) -> None:
        req = Ether(src=asker.mac, dst=BCAST) / ARP(op=1, hwsrc=asker.mac, psrc=asker.ip, pdst=target.ip)
        rep = Ether(src=target.mac, dst=asker.mac) / ARP(
            op=2, hwsrc=target.mac, psrc=target.ip, hwdst=asker.mac, pdst=asker.ip
        )
        self.add(ts_us, req)
        self.add(ts_us + 900, rep)

    def dns(
        self,
        ts_us: int,
        client: Host,
        server: Host,
        name: str,
        answers: list[tuple[str, str, str]],
        qtype: str = "A",
        ttl: int = 300,
    ) -> None:
        """A query and its answer. answers: (owner, type, rdata) in order, e.g. a CNAME chain then A."""
        qid = self.rng.randrange(1, 0xFFFF)
        sport = self.rng.randrange(32768, 61000)
        q = DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
        rrs = [DNSRR(rrname=o, type=t, ttl=ttl, rdata=r) for o, t, r in answers]
        a = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype), an=rrs or None)
        self.udp(ts_us, client, server, sport, 53, bytes(q))
        self.udp(ts_us + 1800, server, client, 53, sport, bytes(a))


@dataclass
class TcpSession:
    """One TCP connection between client and server, with consistent sequence numbers."""

    cap: Capture
    client: Host
    server: Host
    dport: int
    sport: int = 0
    client_mac_dst: str = ""  # next hop MAC for client->server (a router for remote servers)
    server_mac_src: str = ""  # MAC that server->client frames come from
    rtt_us: int = 40_000
    _cseq: int = field(default=0, init=False)
    _sseq: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not self.sport:
            self.sport = self.cap.rng.randrange(32768, 61000)
        self._cseq = self.cap.rng.getrandbits(32)
        self._sseq = self.cap.rng.getrandbits(32)

    def _frame(self, ts_us: int, from_client: bool, flags: str, data: bytes = b"", keep: int = 0) -> None:
        if from_client:
            src, dst, sp, dp = self.client, self.server, self.sport, self.dport
            smac, dmac, seq, ack = (
                self.client.mac,
                self.client_mac_dst or self.server.mac,
                self._cseq,
                self._sseq,
            )
        else:
            src, dst, sp, dp = self.server, self.client, self.dport, self.sport
            smac, dmac, seq, ack = (
                self.server_mac_src or self.server.mac,
                self.client.mac,
                self._sseq,
                self._cseq,
            )
        tcp = TCP(sport=sp, dport=dp, seq=seq, ack=ack if "A" in flags else 0, flags=flags, window=64240)
        if "S" in flags:
            tcp.options = [("MSS", 1460), ("NOP", None), ("WScale", 7), ("SAckOK", b"")]
        l3 = ip_layer(src.ip, dst.ip, self.cap.next_id()) / tcp
        if data:
            l3 = l3 / Raw(data)
        raw = bytes(self.cap.link(smac, dmac, self.client.vlan, l3))
        if keep:  # snaplen-truncated frame: only `keep` payload bytes captured, the wire carried all
            self.cap.add(ts_us, raw[: len(raw) - len(data) + min(len(data), keep)], len(raw))
        else:
            self.cap.add(ts_us, raw)
        step = len(data) + (1 if ("S" in flags or "F" in flags) else 0)
        if from_client:
            self._cseq = (self._cseq + step) & 0xFFFFFFFF
        else:
            self._sseq = (self._sseq + step) & 0xFFFFFFFF

    def handshake(self, ts_us: int) -> int:
        self._frame(ts_us, True, "S")
        self._frame(ts_us + self.rtt_us, False, "SA")
        self._frame(ts_us + self.rtt_us + 200, True, "A")
        return ts_us + self.rtt_us + 300

    def unanswered_syn(self, ts_us: int, tries: int = 3) -> int:
        """A SYN and its retransmissions (1 s, 2 s, ...) that nobody answers."""
        t, gap = ts_us, 1_000_000
        for _ in range(tries):
            self._frame(t, True, "S")
            self._cseq = (self._cseq - 1) & 0xFFFFFFFF  # a retransmission reuses the ISN
            t += gap
            gap *= 2
        return t

    def send(self, ts_us: int, from_client: bool, data: bytes, keep: int = 0) -> int:
        """Data then the peer's ACK; returns the time after both."""
        self._frame(ts_us, from_client, "PA", data, keep)
        self._frame(ts_us + self.rtt_us // 2, not from_client, "A")
        return ts_us + self.rtt_us // 2 + 100

    def close(self, ts_us: int) -> int:
        self._frame(ts_us, True, "FA")
        self._frame(ts_us + self.rtt_us, False, "FA")
        self._frame(ts_us + self.rtt_us + 200, True, "A")
        return ts_us + self.rtt_us + 300

    def reset(self, ts_us: int, from_client: bool = True) -> None:
        self._frame(ts_us, from_client, "RA")


def tls_client_hello(sni: str, rng: random.Random) -> bytes:
    """A TLS 1.2/1.3 ClientHello record with server_name, as a modern embedded client sends it."""
    host = sni.encode("ascii")

    def ext(etype: int, body: bytes) -> bytes:
        return struct.pack("!HH", etype, len(body)) + body

    sni_list = struct.pack("!BH", 0, len(host)) + host
    exts = b"".join(
        [
            ext(0x0000, struct.pack("!H", len(sni_list)) + sni_list),
            ext(0x000A, bytes.fromhex("0006001d00170018")),  # supported_groups x25519, P-256, P-384
            ext(0x000B, bytes.fromhex("0100")),  # ec_point_formats uncompressed
            ext(0x000D, bytes.fromhex("000804030804040105010601")),  # signature_algorithms
            ext(0x0010, bytes.fromhex("000908687474702f312e31")),  # ALPN http/1.1
            ext(0x002B, bytes.fromhex("0403040303")),  # supported_versions 1.3, 1.2
            ext(0x0033, struct.pack("!HHH", 0x24, 0x1D, 32) + rng.randbytes(32)),  # key_share x25519
        ]
    )
    suites = bytes.fromhex("130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f0035")
    body = (
        b"\x03\x03"
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + struct.pack("!H", len(suites))
        + suites
        + b"\x01\x00"
        + struct.pack("!H", len(exts))
        + exts
    )
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def tls_records(rng: random.Random, content_type: int, size: int) -> bytes:
    """An opaque TLS record (encrypted handshake or application data) of `size` body bytes."""
    return bytes([content_type, 3, 3]) + struct.pack("!H", size) + rng.randbytes(size)


# --- real payloads from ../shared/data/active, with per-device fields substituted ---------------


def _sub_tag(xml: str, tag: str, value: str) -> str:
    new, n = re.subn(rf"<{tag}>[^<]*</{tag}>", f"<{tag}>{value}</{tag}>", xml)
    if n != 1:
        raise ValueError(f"template has {n} <{tag}> elements")
    return new


def slaac(prefix: str, mac: str) -> str:
    """IPv6 address from a /64 prefix ('2001:db8:70:0', or 'fe80:') and a MAC by EUI-64, as devices do."""
    b = bytes.fromhex(mac.replace(":", ""))
    eui = bytes([b[0] ^ 0x02]) + b[1:3] + b"\xff\xfe" + b[3:]
    groups = [f"{int.from_bytes(eui[i : i + 2], 'big'):x}" for i in range(0, 8, 2)]
    return f"{prefix}:{':'.join(groups)}"


@dataclass(frozen=True)
class HikCamera:
    """A Hikvision camera whose SADP reply is a real one with its own identity substituted."""

    host: Host
    template: str  # file name in ACTIVE
    serial: str
    ipv6: str = "::"
    hc_enabled: bool | None = None  # None keeps the template's value

    @property
    def model(self) -> str:
        m = re.search(r"<DeviceDescription>([^<]*)<", (ACTIVE / self.template).read_text())
        return m.group(1) if m else ""

    def sadp_reply(self, gateway: str) -> bytes:
        xml = (ACTIVE / self.template).read_bytes().decode("utf-8")
        uid = hashlib.sha256(self.serial.encode()).hexdigest()
        xml = _sub_tag(xml, "Uuid", f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}".upper())
        xml = _sub_tag(xml, "DeviceSN", self.serial)
        xml = _sub_tag(xml, "MAC", self.host.mac.replace(":", "-"))
        xml = _sub_tag(xml, "IPv4Address", self.host.ip)
        xml = _sub_tag(xml, "IPv4Gateway", gateway)
        if "<IPv6Address>" in xml:
            xml = _sub_tag(xml, "IPv6Address", self.ipv6)
        if "<Salt>" in xml:
            xml = _sub_tag(xml, "Salt", hashlib.sha256(b"salt" + self.serial.encode()).hexdigest())
        if self.hc_enabled is not None:
            xml = _sub_tag(xml, "HCPlatformEnable", "true" if self.hc_enabled else "false")
        return xml.encode("utf-8")


def sadp_inquiry() -> bytes:
    """The real SADP inquiry (a client's multicast search), unchanged."""
    return (ACTIVE / "sadp_probe_inquiry.xml").read_bytes()


def dhip_notify(mac: str, ip: str, gateway: str, serial: str) -> bytes:
    """Real Dahua DHIP client.notifyDevInfo with MAC/IP/serial substituted, behind the 32-byte DHIP header.

    Substituted as text so the rest of the real bytes (key order, the escaped "\\/0") stay as sent.
    """
    text = (ACTIVE / "dahua_dhip_response_IPC-HDW1431T1-S4.json").read_text().strip()
    for old, new in (
        ('"08:ed:ed:87:42:7a"', f'"{mac}"'),
        ('"192.168.124.17"', f'"{ip}"'),
        ('"192.168.124.1"', f'"{gateway}"'),
        ("fe80::0aed:edff:fe87:427a", slaac("fe80:", mac)),
        ("6C01E93PAG69A7D", serial),
    ):
        if old not in text:
            raise ValueError(f"DHIP template lacks {old}")
        text = text.replace(old, new)
    json.loads(text)  # still valid JSON
    body = text.encode() + b"\n"
    return dhip_header(len(body)) + body


def dhip_header(length: int) -> bytes:
    """The 32-byte header of dahua_dhip_search_request_37810.hex: 0x20, 'DHIP', ids 0, length twice."""
    return struct.pack("<I4sIIIIII", 0x20, b"DHIP", 0, 0, length, 0, length, 0)


def dhip_search() -> bytes:
    """The real DHIP search request, unchanged."""
    return bytes.fromhex((ACTIVE / "dahua_dhip_search_request_37810.hex").read_text().strip())


# --- file writers -------------------------------------------------------------------------------


def write_pcap(
    path: Path,
    frames: list[Frame],
    *,
    linktype: int = LINKTYPE_ETHERNET,
    nano: bool = False,
    big_endian: bool = False,
    snaplen: int = 262144,
) -> None:
    out = [capwrite.pcap_header(linktype, snaplen, nano, big_endian)]
    for f in frames:
        sec, frac = divmod(f.ts_us, 1_000_000)
        out.append(capwrite.pcap_record(sec, frac * 1000 if nano else frac, f.data, wirelen=f.orig_len,
                                        big=big_endian))  # fmt: skip
    path.write_bytes(b"".join(out))


def write_pcapng(path: Path, frames: list[Frame], interfaces: list[tuple[int, str, int]]) -> None:
    """Little-endian pcapng: one SHB, one IDB per (linktype, name, tsresol-exponent), then EPBs."""
    opt = capwrite.option
    out = [capwrite.shb(options=opt(4, b"hikscan pcaps/generate.py") + opt(0, b""))]
    for linktype, name, exp in interfaces:
        out.append(capwrite.idb(linktype, 262144, opt(2, name.encode()) + opt(9, bytes([exp])) + opt(0, b"")))
    for f in frames:
        exp = interfaces[f.ifid][2]
        out.append(capwrite.epb(f.ifid, f.ts_us * 10**exp // 1_000_000, f.data, wirelen=f.orig_len))
    path.write_bytes(b"".join(out))
