"""What the lab devices say on the discovery protocols and ONVIF, templated from real replies.

Pure functions on bytes (no sockets): parse a request a device receives, build the reply it sends.
Requests are parsed with defusedxml and bounded in size; anything unparseable gets no answer.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import struct
from functools import cache
from importlib import resources
from xml.sax.saxutils import escape

import defusedxml.ElementTree as DefusedET

from hikscan.lab import hostile
from hikscan.lab.profiles import XML_BOMB, XXE, DeviceProfile

MAX_REQUEST = 64 * 1024
NS_ENV = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
NS_WSDP = "http://schemas.xmlsoap.org/ws/2006/02/devprof"
NS_PUB = "http://schemas.microsoft.com/windows/pub/2005/07"
_CAMERA_TYPES = "dn:NetworkVideoTransmitter tds:Device"
_PREFIXES = {"dn": NS_DN, "tds": NS_TDS, "wsdp": NS_WSDP, "pub": NS_PUB}
_XMLNS = re.compile(rb"""xmlns:([A-Za-z_][\w.-]*)\s*=\s*["']([^"']*)["']""")


@cache
def template(name: str) -> str:
    return resources.files("hikscan.lab").joinpath("templates", name).read_text(encoding="utf-8")


def _xml_hostile(xml: str, p: DeviceProfile, tag: str) -> str:
    for behaviour in (XML_BOMB, XXE):
        if behaviour in p.hostile:
            return hostile.inject(xml, tag, behaviour)
    return xml


def _set_element(xml: str, tag: str, value: str) -> str:
    """Replace the text of the first <tag>…</tag> (a leaf element) with `value`, escaped."""
    replacement = f"<{tag}>{escape(value)}</{tag}>"
    return re.sub(rf"<{re.escape(tag)}>[^<]*</{re.escape(tag)}>", lambda _m: replacement, xml, count=1)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse(data: bytes):  # type: ignore[no-untyped-def]
    """Defused parse of a request; None when too big or bad (the device then stays silent)."""
    if len(data) > MAX_REQUEST:
        return None
    try:
        return DefusedET.fromstring(data)
    except Exception:
        return None


# --- SADP -------------------------------------------------------------------------------------


def sadp_inquiry_uuid(data: bytes) -> str | None:
    """The Uuid of a SADP `inquiry` Probe, or None for anything else (other verbs are never answered)."""
    root = _parse(data)
    if root is None or _local(root.tag) != "Probe":
        return None
    fields = {_local(c.tag).lower(): (c.text or "").strip() for c in root}
    if fields.get("types", "").lower() != "inquiry":
        return None
    return fields.get("uuid") or None


def sadp_firmware(firmware: str) -> str:
    """SADP writes 'V5.6.2build 190701' (no space before build)."""
    return re.sub(r"\s+build", "build", firmware)


def _sadp_bool(value: bool) -> str:
    return "true" if value else "flase"  # the firmware's own spelling of false


def sadp_reply(p: DeviceProfile, probe_uuid: str) -> bytes:
    """A SADP ProbeMatch for `p` answering the inquiry `probe_uuid`, CRLF line ends as devices send."""
    gateway = p.ip.rsplit(".", 1)[0] + ".1"
    values = {
        "Uuid": probe_uuid,
        "DeviceType": p.device_type or "141945",
        "DeviceDescription": p.model,
        "DeviceSN": p.serial,
        "MAC": p.mac.replace(":", "-").lower(),
        "IPv4Address": p.ip,
        "IPv4Gateway": gateway,
        "SoftwareVersion": sadp_firmware(p.firmware),
        "Activated": _sadp_bool(p.activated),
        "HCPlatformEnable": _sadp_bool(p.cloud),
        "DigitalChannelNum": "8" if p.model.startswith("DS-76") else "1",
    }
    xml = template("sadp_response_2_DS-2CD2385G1-I.xml")
    for tag, value in values.items():
        xml = _set_element(xml, tag, value)
    xml = _xml_hostile(xml, p, "DeviceDescription")
    return xml.replace("\r\n", "\n").replace("\n", "\r\n").encode()


# --- WS-Discovery -----------------------------------------------------------------------------


def wsd_probe(data: bytes) -> tuple[str, set[tuple[str | None, str]]] | None:
    """(MessageID, requested types as (namespace, local name)) of a WS-Discovery Probe, else None."""
    root = _parse(data)
    if root is None:
        return None
    message_id = ""
    probe = None
    for el in root.iter():
        name = _local(el.tag)
        if name == "MessageID":
            message_id = (el.text or "").strip()
        elif name == "Probe":
            probe = el
    if probe is None or not message_id:
        return None
    prefixes = {m.group(1).decode(): m.group(2).decode() for m in _XMLNS.finditer(data)}
    wanted: set[tuple[str | None, str]] = set()
    for el in probe:
        if _local(el.tag) == "Types":
            for qname in (el.text or "").split():
                prefix, _, local = qname.rpartition(":")
                wanted.add((prefixes.get(prefix) if prefix else None, local))
    return message_id, wanted


def wsd_types(p: DeviceProfile) -> str:
    return "wsdp:Device pub:Computer" if p.kind == "windows" else _CAMERA_TYPES


def wsd_matches(p: DeviceProfile, wanted: set[tuple[str | None, str]]) -> bool:
    """A device answers an untyped probe, or one whose every type it offers (namespace-aware)."""
    offered = {(_PREFIXES[q.split(":")[0]], q.split(":")[1]) for q in wsd_types(p).split()}
    return all(
        (ns, local) in offered or (ns is None and any(o[1] == local for o in offered)) for ns, local in wanted
    )


def _eui64_link_local(mac: str) -> str:
    b = [int(x, 16) for x in mac.split(":")]
    b[0] ^= 0x02
    words = [b[0] << 8 | b[1], b[2] << 8 | 0xFF, 0xFE << 8 | b[3], b[4] << 8 | b[5]]
    return "fe80::" + ":".join(f"{w:x}" for w in words)


def wsd_scopes(p: DeviceProfile) -> str:
    if p.scopes:
        return " ".join(p.scopes)
    model = p.model.replace(" ", "%20")
    if p.kind.startswith("hikvision"):
        brand = "HIKVISION" if p.kind == "hikvision" else p.vendor.upper().replace(" ", "%20")
        return (
            "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming "
            "onvif://www.onvif.org/Profile/G onvif://www.onvif.org/Profile/T "
            f"onvif://www.onvif.org/MAC/{p.mac} onvif://www.onvif.org/hardware/{model} "
            f"onvif://www.onvif.org/name/{brand}%20{model} onvif://www.onvif.org/location/city/hangzhou"
        )
    if p.kind.startswith("dahua"):
        sets = json.loads(template("onvif_scopes_dahua_and_cpplus_oem.json"))
        chosen = sets[0] if p.kind == "dahua" else sets[1]
        return " ".join(
            f"onvif://www.onvif.org/hardware/{model}"
            if s.startswith("onvif://www.onvif.org/hardware/")
            else s
            for s in chosen["scopes"]
        )
    if p.kind == "axis":
        return (
            "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming "
            f"onvif://www.onvif.org/hardware/{model} onvif://www.onvif.org/name/AXIS%20{model} "
            "onvif://www.onvif.org/location/country/sweden"
        )
    return ""


def wsd_xaddrs(p: DeviceProfile) -> str:
    if p.kind == "windows":
        return f"http://{p.ip}:5357/{p.endpoint_uuid.rsplit(':', 1)[-1]}/"
    if p.kind.startswith("hikvision"):
        return f"http://{p.ip}/onvif/device_service http://[{_eui64_link_local(p.mac)}]/onvif/device_service"
    return f"http://{p.ip}/onvif/device_service"


def wsd_probematch(p: DeviceProfile, relates_to: str, message_id: str) -> bytes:
    """The ProbeMatches envelope: header as devices send it, body in the real devices' layout."""
    body = (
        "<d:ProbeMatches><d:ProbeMatch>"
        f"<wsa:EndpointReference><wsa:Address>{p.endpoint_uuid}</wsa:Address></wsa:EndpointReference>"
        f"<d:Types>{wsd_types(p)}</d:Types><d:Scopes>{escape(wsd_scopes(p))}</d:Scopes>"
        f"<d:XAddrs>{wsd_xaddrs(p)}</d:XAddrs><d:MetadataVersion>10</d:MetadataVersion>"
        "</d:ProbeMatch></d:ProbeMatches>"
    )
    if p.kind.startswith("hikvision"):
        # The real camera's body, with this device's values.
        body = template("onvif_probematch_hikvision_DS-2CD2385G1-I_body.xml")
        body = body.replace("<env:Body>", "").replace("</env:Body>", "").strip()
        body = re.sub(r"<wsadis:Address>[^<]*<", f"<wsadis:Address>{p.endpoint_uuid}<", body)
        body = re.sub(r"<d:Scopes>[^<]*<", lambda _m: f"<d:Scopes>{escape(wsd_scopes(p))}<", body)
        body = re.sub(r"<d:XAddrs>[^<]*<", f"<d:XAddrs>{wsd_xaddrs(p)}<", body)
        body = body.replace("wsadis:", "wsa:")
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<env:Envelope xmlns:env="{NS_ENV}" xmlns:wsa="{NS_WSA}" xmlns:d="{NS_WSD}" '
        f'xmlns:dn="{NS_DN}" xmlns:tds="{NS_TDS}" xmlns:wsdp="{NS_WSDP}" xmlns:pub="{NS_PUB}">'
        f"<env:Header><wsa:MessageID>{escape(message_id)}</wsa:MessageID>"
        f"<wsa:RelatesTo>{escape(relates_to)}</wsa:RelatesTo>"
        "<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>"
        "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>"
        '<d:AppSequence InstanceId="2" MessageNumber="1"></d:AppSequence>'
        f"</env:Header><env:Body>{body}</env:Body></env:Envelope>"
    )
    return _xml_hostile(xml, p, "d:Scopes").encode()


# --- ONVIF device service -----------------------------------------------------------------------


def _soap(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<env:Envelope xmlns:env="{NS_ENV}" xmlns:tds="{NS_TDS}" '
        'xmlns:tt="http://www.onvif.org/ver10/schema" '
        'xmlns:ter="http://www.onvif.org/ver10/error">'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    )


def _fault(subcode: str, reason: str) -> str:
    return _soap(
        "<env:Fault><env:Code><env:Value>env:Sender</env:Value>"
        f"<env:Subcode><env:Value>{subcode}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason></env:Fault>'
    )


def onvif_action(data: bytes) -> str | None:
    """The local name of the first element in the SOAP Body, or None if the request does not parse."""
    root = _parse(data)
    if root is None:
        return None
    for el in root.iter():
        if _local(el.tag) == "Body":
            children = list(el)
            return _local(children[0].tag) if children else None
    return None


def onvif_reply(p: DeviceProfile, action: str | None, now: dt.datetime | None = None) -> tuple[int, bytes]:
    """(HTTP status, SOAP body) for one ONVIF device-service request."""
    if action == "GetSystemDateAndTime":  # unauthenticated by the ONVIF spec
        t = now or dt.datetime.now(dt.UTC)
        xml = _soap(
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:TimeZone><tt:TZ>CST-8:00:00</tt:TZ></tt:TimeZone><tt:UTCDateTime>"
            f"<tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute><tt:Second>{t.second}</tt:Second></tt:Time>"
            f"<tt:Date><tt:Year>{t.year}</tt:Year><tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day></tt:Date>"
            "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )
        return 200, xml.encode()
    if action == "GetDeviceInformation":
        if p.onvif_auth and not p.hostile:
            return 401, _fault("ter:NotAuthorized", "Sender not Authorized").encode()
        return 200, _xml_hostile(_device_information(p), p, "tds:Model").encode()
    if action is None:
        return 400, _fault("ter:WellFormed", "Not well-formed request").encode()
    return 400, _fault("ter:ActionNotSupported", "Optional Action Not Implemented").encode()


def _device_information(p: DeviceProfile) -> str:
    if p.kind.startswith("dahua"):
        xml = template("onvif_getdeviceinformation_dahua_DH-2H3400-ADP.xml")
        values = {
            "Manufacturer": p.vendor,
            "Model": p.model,
            "FirmwareVersion": p.firmware,
            "SerialNumber": p.serial,
        }
        for tag, value in values.items():
            xml = _set_element(xml, f"tds:{tag}", value)
        return xml
    manufacturer = {"hikvision": "HIKVISION", "axis": "AXIS"}.get(p.kind, p.vendor)
    return _soap(
        f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{escape(manufacturer)}</tds:Manufacturer>"
        f"<tds:Model>{escape(p.model)}</tds:Model><tds:FirmwareVersion>{escape(p.firmware)}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{escape(p.serial)}</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


# --- DHIP (Dahua discovery, UDP 37810) ------------------------------------------------------------

_DHIP = struct.Struct("<I4sIIIIII")  # header size 0x20, magic, session, id, len, 0, len, 0


def dhip_is_search(data: bytes) -> bool:
    """True for a DHIP `DHDiscover.search` request (32-byte header + JSON)."""
    if len(data) < _DHIP.size or len(data) > MAX_REQUEST:
        return False
    size, magic, _s, _i, length, _z, _l2, _z2 = _DHIP.unpack_from(data)
    if size != 0x20 or magic != b"DHIP" or length > len(data) - _DHIP.size:
        return False
    try:
        request = json.loads(data[_DHIP.size : _DHIP.size + length])
    except ValueError:
        return False
    return isinstance(request, dict) and request.get("method") == "DHDiscover.search"


def dhip_reply(p: DeviceProfile) -> bytes:
    """client.notifyDevInfo from the real IPC-HDW1431T1-S4 reply, with this device's values."""
    doc = json.loads(template("dahua_dhip_response_IPC-HDW1431T1-S4.json"))
    info = doc["params"]["deviceInfo"]
    doc["mac"] = p.mac
    info.update(
        DeviceType=p.model, SerialNo=p.serial, MachineName=p.serial, Version=p.firmware,
        Vendor=p.vendor if p.kind == "dahua-oem" else "Dahua", Manufacturer=p.vendor,
    )  # fmt: skip
    info["IPv4Address"].update(IPAddress=p.ip, DefaultGateway=p.ip.rsplit(".", 1)[0] + ".1")
    info["IPv6Address"]["LinkLocalAddress"] = _eui64_link_local(p.mac) + "/64"
    body = json.dumps(doc, separators=(",", ":")).replace("/", "\\/").encode()
    return _DHIP.pack(0x20, b"DHIP", 0, 0, len(body), 0, len(body), 0) + body
