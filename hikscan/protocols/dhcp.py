"""BOOTP/DHCPv4 messages (RFC 2131/2132): who the client is and what it says about itself.

A device names itself in its requests (option 12 host name, 60 vendor class, 55 parameter request
list, 81 client FQDN); many servers echo option 12 back in the OFFER/ACK, so a reply's host name is
also the client's (chaddr/yiaddr), never the server's. Read with the one bounded `wire.Reader`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hikscan.errors import MalformedInput
from hikscan.protocols.wire import Reader
from hikscan.report.model import Evidence

MAGIC = b"\x63\x82\x53\x63"
FIXED = 236  # op .. file, before the magic cookie
MAX_DHCP = 4096
MAX_TEXT = 255
BOOTREQUEST, BOOTREPLY = 1, 2
_PAD, _END = 0, 255
_HOSTNAME, _REQUESTED_IP, _MSG_TYPE, _PRL, _VENDOR_CLASS, _FQDN = 12, 50, 53, 55, 60, 81


@dataclass(frozen=True, slots=True)
class DhcpMessage:
    """One BOOTP/DHCP message; `client_ip` is the address the client has or is given (None if unknown)."""

    op: int
    message_type: int | None
    client_mac: str | None
    client_ip: str | None
    hostname: str | None
    vendor_class: str | None
    prl: tuple[int, ...]
    fqdn: str | None

    @property
    def from_client(self) -> bool:
        return self.op == BOOTREQUEST


def _ip(raw: bytes) -> str | None:
    return None if raw == b"\0\0\0\0" else str(ipaddress.IPv4Address(raw))


def _text(raw: bytes) -> str | None:
    """Printable text of an option (NUL-terminated by some clients), or None when empty."""
    text = raw.split(b"\0", 1)[0].decode("latin-1").strip()
    text = "".join(c if c.isprintable() else "?" for c in text)[:MAX_TEXT]
    return text or None


def _fqdn(raw: bytes) -> str | None:
    """Option 81: flags, two obsolete rcodes, then the name (DNS wire format when flag E is set)."""
    if len(raw) < 3:
        raise MalformedInput("DHCP option 81 shorter than 3 bytes")
    flags, name = raw[0], raw[3:]
    if not flags & 0x04:
        return _text(name)
    labels: list[str] = []
    r = Reader(name)
    while r.remaining():
        n = r.u8()
        if n == 0:
            break
        if n > 63:
            raise MalformedInput("DHCP option 81: label longer than 63 bytes")
        labels.append(r.bytes(n).decode("latin-1"))
    return _text(".".join(labels).encode("latin-1"))


def parse_dhcp(payload: bytes | memoryview) -> DhcpMessage:
    """Parse a BOOTP/DHCP message (UDP 67/68 payload); MalformedInput on anything inconsistent."""
    if len(payload) > MAX_DHCP:
        raise MalformedInput(f"DHCP message longer than {MAX_DHCP} bytes")
    r = Reader(bytes(payload))
    op, htype, hlen = r.u8(), r.u8(), r.u8()
    if op not in (BOOTREQUEST, BOOTREPLY):
        raise MalformedInput(f"BOOTP op {op} is neither request nor reply")
    r.skip(1 + 4 + 2 + 2)  # hops, xid, secs, flags
    ciaddr, yiaddr = r.bytes(4), r.bytes(4)
    r.skip(8)  # siaddr, giaddr
    chaddr = r.bytes(16)
    r.skip(64 + 128)  # sname, file
    if r.bytes(4) != MAGIC:
        raise MalformedInput("no DHCP magic cookie")
    options: dict[int, bytes] = {}
    while r.remaining():
        code = r.u8()
        if code == _PAD:
            continue
        if code == _END:
            break
        value = r.bytes(r.u8())
        # RFC 3396: a long option may be split over several instances; concatenate them.
        options[code] = options.get(code, b"") + value
    mac = ":".join(f"{b:02x}" for b in chaddr[:6]) if htype == 1 and hlen == 6 else None
    msg_type = options.get(_MSG_TYPE, b"")[:1]
    requested = options.get(_REQUESTED_IP, b"")
    client_ip = _ip(yiaddr) if op == BOOTREPLY else _ip(ciaddr)
    if client_ip is None and op == BOOTREQUEST and len(requested) == 4:
        client_ip = _ip(requested)
    fqdn_raw = options.get(_FQDN)
    return DhcpMessage(
        op=op,
        message_type=msg_type[0] if msg_type else None,
        client_mac=mac,
        client_ip=client_ip,
        hostname=_text(options.get(_HOSTNAME, b"")),
        vendor_class=_text(options.get(_VENDOR_CLASS, b"")) if op == BOOTREQUEST else None,
        prl=tuple(options.get(_PRL, b"")) if op == BOOTREQUEST else (),
        fqdn=_fqdn(fqdn_raw) if fqdn_raw is not None else None,
    )


def evidence(msg: DhcpMessage, source: str = "dhcp") -> list[Evidence]:
    """What the message says about its client: `dhcp.hostname`, `.vendor_class`, `.prl`, `.fqdn`."""
    out = []
    if msg.hostname:
        out.append(Evidence(source, "dhcp.hostname", msg.hostname))
    if msg.vendor_class:
        out.append(Evidence(source, "dhcp.vendor_class", msg.vendor_class))
    if msg.prl:
        out.append(Evidence(source, "dhcp.prl", ",".join(map(str, msg.prl))))
    if msg.fqdn:
        out.append(Evidence(source, "dhcp.fqdn", msg.fqdn))
    return out
