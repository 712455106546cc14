"""Dahua discovery: DHIP (UDP 37810, group 239.255.255.251) and the legacy binary reply on UDP 5050.

DHIP frame: a 32-byte little-endian header — u32 header length (0x20), magic "DHIP", u32 session,
u32 request id, u32 body length, u32 0, u32 body length (again), u32 0 — then a JSON body. The
reply's JSON is `{"mac", "method": "client.notifyDevInfo", "params": {"deviceInfo": {...}}}`.

Legacy 5050 reply (layout as decoded by julienblitte/UniversalScanner, facts only): a 120-byte
little-endian header — byte 0 = 0xB3, byte 2 = length of section 2, u32 at 4 = length of section 3,
16-byte NUL-padded device type at 40, IPv4 address/mask/gateway at 56/60/64 in network order —
then section 2 (17-character MAC text followed by the device type) and section 3
("Key:Value" lines, CRLF).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from hikscan.errors import MalformedInput
from hikscan.protocols.sadp import normalise_mac
from hikscan.protocols.wire import Reader
from hikscan.report.model import Evidence

DHIP_GROUP = "239.255.255.251"
DHIP_PORT = 37810
LEGACY_PORT = 5050
MAGIC = b"DHIP"
HEADER_LEN = 32
MAX_BODY = 64 * 1024
_HEADER = struct.Struct("<I4sIIIIII")
_FIELD = re.compile(r'"([A-Za-z][\w]{0,63})"\s*:\s*("(?:[^"\\\r\n]|\\.){0,1024}"|-?\d{1,20}|true|false|null)')
_MAX_FIELDS = 256
# The discovery request Dahua's own tools multicast (byte for byte, trailing newline included).
SEARCH_BODY = b'{ "method" : "DHDiscover.search", "params" : { "mac" : "", "uni" : 1 } }\n'


def frame(body: bytes, session: int = 0, request_id: int = 0) -> bytes:
    """Wrap a JSON body in the 32-byte DHIP header."""
    if len(body) > MAX_BODY:
        raise ValueError("DHIP body too large")
    return _HEADER.pack(HEADER_LEN, MAGIC, session, request_id, len(body), 0, len(body), 0) + body


def build_search() -> bytes:
    """The DHDiscover.search request for UDP 37810 (unicast or the 239.255.255.251 group)."""
    return frame(SEARCH_BODY)


def build_legacy_search() -> bytes:
    """The 32-byte legacy discovery request for UDP 5050: 0xA3 0x01 0x00 0x01, version 2 at byte 16."""
    return bytes([0xA3, 0x01, 0x00, 0x01]) + bytes(12) + bytes([0x02]) + bytes(15)


@dataclass(frozen=True, slots=True)
class DhipReply:
    """A DHIP message: its method, the flattened deviceInfo ("IPv4Address.IPAddress" for nested
    values), the top-level MAC, and whether the JSON was invalid and recovered field by field."""

    method: str | None
    info: dict[str, str] = field(default_factory=dict)
    top_mac: str | None = None
    recovered: bool = False
    legacy: bool = False

    def get(self, name: str) -> str | None:
        return self.info.get(name)

    @property
    def device_type(self) -> str | None:
        return self.get("DeviceType") or None

    @property
    def serial(self) -> str | None:
        return self.get("SerialNo") or None

    @property
    def firmware(self) -> str | None:
        return self.get("Version") or None

    @property
    def vendor(self) -> str | None:
        return self.get("Vendor") or None

    @property
    def mac(self) -> str | None:
        return normalise_mac(self.get("MAC") or self.top_mac)

    @property
    def ipv4(self) -> str | None:
        return self.get("IPv4Address.IPAddress") or None


def _scalar(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)[:1024]


def _flatten(obj: dict[str, Any], prefix: str, out: dict[str, str], depth: int = 0) -> None:
    for key, value in obj.items():
        if len(out) >= _MAX_FIELDS:
            raise MalformedInput("DHIP: too many fields")
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < 2:
            _flatten(value, f"{name}.", out, depth + 1)
        elif (text := _scalar(value)) is not None:
            out[name] = text


def _from_json(body: bytes) -> DhipReply:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedInput("DHIP: body is not UTF-8") from None
    text = text.rstrip("\x00 \r\n\t")
    if not text.startswith("{"):
        raise MalformedInput("DHIP: body is not a JSON object")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return _recover(text)
    if not isinstance(doc, dict):
        raise MalformedInput("DHIP: body is not a JSON object")
    method = doc.get("method")
    info: dict[str, str] = {}
    params = doc.get("params")
    device_info = params.get("deviceInfo") if isinstance(params, dict) else None
    if isinstance(device_info, dict):
        _flatten(device_info, "", info)
    return DhipReply(
        method=method if isinstance(method, str) else None,
        info=info,
        top_mac=_scalar(doc.get("mac")),
    )


def _recover(text: str) -> DhipReply:
    """Invalid JSON (some firmware and test vectors send it): take the simple "key": value pairs."""
    pairs: dict[str, str] = {}
    for key, raw in _FIELD.findall(text):
        if len(pairs) >= _MAX_FIELDS:
            break
        value = raw[1:-1].replace("\\/", "/").replace('\\"', '"') if raw.startswith('"') else raw
        pairs.setdefault(key, value.strip(" ,"))
    if "IPAddress" in pairs:  # flat recovery loses nesting; IPv4Address comes first in replies
        pairs.setdefault("IPv4Address.IPAddress", pairs["IPAddress"])
    method = pairs.pop("method", None)
    if not method and "DeviceType" not in pairs:
        raise MalformedInput("DHIP: body is neither JSON nor recognisable key/value pairs")
    top_mac = pairs.pop("mac", None)
    return DhipReply(method=method, info=pairs, top_mac=top_mac, recovered=True)


def parse_dhip(data: bytes | memoryview) -> DhipReply:
    """Parse a framed DHIP packet, or a bare JSON body (as kept in logs and tests)."""
    raw = bytes(data[: HEADER_LEN + MAX_BODY + 1])
    if len(data) > HEADER_LEN + MAX_BODY:
        raise MalformedInput("DHIP: packet too large")
    if raw[:1] == b"{":
        return _from_json(raw)
    r = Reader(raw)
    header = r.bytes(HEADER_LEN)
    hlen, magic, _session, _req, len1, _zero1, len2, _zero2 = _HEADER.unpack(header)
    if magic != MAGIC or hlen != HEADER_LEN:
        raise MalformedInput("DHIP: bad magic or header length")
    if len1 != len2:
        raise MalformedInput(f"DHIP: header lengths disagree ({len1} != {len2})")
    if len1 != r.remaining():
        raise MalformedInput(f"DHIP: body length {len1} but {r.remaining()} bytes follow")
    return _from_json(r.bytes(len1))


def parse_legacy(data: bytes | memoryview) -> DhipReply:
    """Parse the legacy binary discovery reply from UDP 5050 (see the module notes for the layout)."""
    raw = bytes(data[:4097])
    if len(raw) > 4096:
        raise MalformedInput("Dahua 5050: reply too large")
    r = Reader(raw)
    head = r.bytes(120)
    if head[0] != 0xB3:
        raise MalformedInput("Dahua 5050: not a discovery reply (byte 0 is not 0xB3)")
    s2_len = head[2]
    (s3_len,) = struct.unpack_from("<I", head, 4)
    if 120 + s2_len + s3_len != len(raw):
        raise MalformedInput(f"Dahua 5050: section lengths {s2_len}+{s3_len} do not match {len(raw) - 120}")
    info: dict[str, str] = {}
    dev_type = head[40:56].split(b"\x00", 1)[0].decode("latin-1").strip()
    if dev_type:
        info["DeviceType"] = dev_type
    for name, offset in (("IPAddress", 56), ("SubnetMask", 60), ("DefaultGateway", 64)):
        info[f"IPv4Address.{name}"] = ".".join(str(b) for b in head[offset : offset + 4])
    section2 = r.bytes(s2_len).decode("latin-1")
    mac_text = section2[:17]
    if len(section2) > 17 and section2[17:].strip("\x00 "):
        info["DeviceType"] = section2[17:].strip("\x00 ")
    for line in r.bytes(s3_len).decode("latin-1").split("\r\n"):
        key, colon, value = line.partition(":")
        if colon and key.strip() and len(info) < _MAX_FIELDS:
            info.setdefault(key.strip(), value.strip())
    if "SerialNo" not in info and "SN" in info:
        info["SerialNo"] = info["SN"]
    return DhipReply(method=None, info=info, top_mac=mac_text or None, legacy=True)


def evidence(reply: DhipReply, source: str = "dhip") -> list[Evidence]:
    """One `dhip.<field>` per deviceInfo field (nested ones as `dhip.IPv4Address.IPAddress`), and
    `dhip.MAC` from the top-level mac when deviceInfo has none."""
    out = [Evidence(source, f"dhip.{key}", value) for key, value in reply.info.items() if value]
    if "MAC" not in reply.info and reply.mac:
        out.append(Evidence(source, "dhip.MAC", reply.mac))
    return out
