"""ONVIF Get* operations of the lab devices for `hikscan audit`: WS-UsernameToken checked for real.

Response bodies follow the ONVIF Device Management Service (devicemgmt.wsdl, onvif.xsd ver10); the
token check is the OASIS UsernameToken Profile's PasswordDigest (see templates/PROVENANCE.md).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from xml.sax.saxutils import escape

from hikscan.lab import responses
from hikscan.lab.audit import AuthState, _is_ipv4
from hikscan.lab.profiles import AuditSettings, DeviceProfile

_WSSE = {
    name: re.compile(rf"<(?:\w+:)?{name}\b[^>]*>([^<]{{0,512}})</(?:\w+:)?{name}>")
    for name in ("Username", "Password", "Nonce", "Created")
}


def has_token(body: bytes) -> bool:
    return b"UsernameToken" in body


def token_ok(body: bytes, settings: AuditSettings) -> bool:
    """WS-Security UsernameToken with PasswordDigest = B64(SHA1(nonce + created + password))."""
    text = body.decode("utf-8", errors="replace")
    found = {k: m.group(1).strip() for k, rx in _WSSE.items() if (m := rx.search(text))}
    if set(found) != set(_WSSE) or found["Username"] != settings.username:
        return False
    try:
        nonce = base64.b64decode(found["Nonce"], validate=True)
    except ValueError:
        return False
    expect = base64.b64encode(
        hashlib.sha1(nonce + found["Created"].encode() + settings.password.encode()).digest()
    )
    return found["Password"] == expect.decode()


def onvif_resource(p: DeviceProfile, a: AuditSettings, action: str) -> str | None:
    """The Body content for an authenticated ONVIF Get* operation (None: not implemented)."""
    if action == "GetNetworkProtocols":
        protos = (("HTTP", True, 80), ("HTTPS", False, 443), ("RTSP", True, 554))
        return (
            "<tds:GetNetworkProtocolsResponse>"
            + "".join(
                f"<tds:NetworkProtocols><tt:Name>{n}</tt:Name><tt:Enabled>{str(e).lower()}</tt:Enabled>"
                f"<tt:Port>{port}</tt:Port></tds:NetworkProtocols>"
                for n, e, port in protos
            )
            + "</tds:GetNetworkProtocolsResponse>"
        )
    if action == "GetNTP":
        manual = ""
        for server in a.ntp_servers:
            kind, tag = ("IPv4", "IPv4Address") if _is_ipv4(server) else ("DNS", "DNSname")
            manual += (
                f"<tt:NTPManual><tt:Type>{kind}</tt:Type><tt:{tag}>{escape(server)}</tt:{tag}></tt:NTPManual>"
            )
        return (
            f"<tds:GetNTPResponse><tds:NTPInformation><tt:FromDHCP>false</tt:FromDHCP>{manual}"
            "</tds:NTPInformation></tds:GetNTPResponse>"
        )
    if action == "GetDNS":
        manual = "".join(
            f"<tt:DNSManual><tt:Type>IPv4</tt:Type><tt:IPv4Address>{d}</tt:IPv4Address></tt:DNSManual>"
            for d in a.dns
        )
        return (
            f"<tds:GetDNSResponse><tds:DNSInformation><tt:FromDHCP>false</tt:FromDHCP>{manual}"
            "</tds:DNSInformation></tds:GetDNSResponse>"
        )
    if action == "GetDynamicDNS":
        kind = "ClientUpdates" if a.ddns_enabled else "NoUpdate"
        return (
            f"<tds:GetDynamicDNSResponse><tds:DynamicDNSInformation><tt:Type>{kind}</tt:Type>"
            "</tds:DynamicDNSInformation></tds:GetDynamicDNSResponse>"
        )
    if action == "GetUsers":
        return (
            "<tds:GetUsersResponse>"
            + "".join(
                f"<tds:User><tt:Username>{escape(n)}</tt:Username><tt:UserLevel>{lvl}</tt:UserLevel></tds:User>"
                for n, lvl in a.users
            )
            + "</tds:GetUsersResponse>"
        )
    return None


def onvif_reply(p: DeviceProfile, action: str, body: bytes, state: AuthState) -> tuple[int, bytes]:
    """(HTTP status, SOAP) for a Get* request carrying a UsernameToken: checked, counted, answered."""
    settings = p.audit
    assert settings is not None
    with state.lock:
        state.attempts += 1
        now = time.monotonic()
        if state.locked_until > now or not token_ok(body, settings):
            state.failures += 1
            if settings.lock_after and state.failures >= settings.lock_after:
                state.locked_until = max(state.locked_until, now + settings.lock_seconds)
            return 401, responses._fault("ter:NotAuthorized", "Sender not Authorized").encode()
        state.failures = 0
    if not action.startswith("Get"):
        return 400, responses._fault("ter:ActionNotSupported", "Optional Action Not Implemented").encode()
    if action == "GetDeviceInformation":
        return 200, responses._device_information(p).encode()
    inner = onvif_resource(p, settings, action)
    if inner is None:
        return 400, responses._fault("ter:ActionNotSupported", "Optional Action Not Implemented").encode()
    return 200, responses._soap(inner).encode()
