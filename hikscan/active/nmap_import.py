"""`hikscan scan --import nmap.xml`: an nmap -oX report as probe Observations for the scan's fusion.

Parsed with defusedxml (nmap's `<!DOCTYPE nmaprun>` has no internal subset and is allowed; entities and
external references are refused), bounded in bytes, hosts, ports and script output. Per open port:
`nmap.service` ("554/rtsp") and `nmap.product` ("App-webs/ 1.0"), as the --nmap probe gives them; and
the banners nmap's scripts captured, through the same parsers the probes use: http-server-header →
http.server, http-title → http.title, http-auth → http.realm, and the raw HTTP/RTSP replies that
nmap prints under fingerprint-strings for services it could not name (Server, WWW-Authenticate realm).
The observations carry probe "nmap", so nmap's MAC never merges hosts (see active/fusion.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from hikscan.active.base import Observation
from hikscan.errors import MalformedInput, UsageError
from hikscan.protocols import httpmsg, rtsp
from hikscan.report.model import Evidence

MAX_BYTES = 64 * 1024 * 1024
MAX_HOSTS = 65_536
MAX_PORTS = 1_024  # per host
MAX_TEXT = 16_384  # characters of one script output
SOURCE = "nmap"
_REALM = re.compile(r'realm=(?:"([^"\r\n]{1,200})"|([^\s,"]{1,200}))', re.IGNORECASE)
_REPLY = re.compile(r"^\s*((?:HTTP|RTSP)/1\.[01] \d{3}.*)$")


def read_nmap_xml(path: Path) -> list[Observation]:
    """The observations of one nmap -oX file, or a one-line UsageError."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise UsageError(f"{path}: larger than {MAX_BYTES // 2**20} MiB")
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return parse_nmap_xml(data)
    except MalformedInput as exc:
        raise UsageError(f"{path}: not an nmap XML report ({exc})") from None


def parse_nmap_xml(data: bytes) -> list[Observation]:
    """nmap -oX bytes → one Observation per host with open ports or a MAC; MalformedInput if not nmap XML."""
    if len(data) > MAX_BYTES:
        raise MalformedInput("too large")
    try:
        root = DefusedET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except ParseError as exc:
        raise MalformedInput(f"bad XML: {exc}") from None
    except DefusedXmlException as exc:
        raise MalformedInput(f"forbidden XML construct: {type(exc).__name__}") from None
    except (ValueError, UnicodeError, LookupError, RecursionError, TypeError) as exc:
        raise MalformedInput(f"bad XML: {exc.__class__.__name__}") from None
    if root.tag != "nmaprun":
        raise MalformedInput(f"root element is <{str(root.tag)[:40]}>, not <nmaprun>")
    out = []
    for host in root.findall("host")[:MAX_HOSTS]:
        obs = _host(host)
        if obs is not None:
            out.append(obs)
    return out


def _host(host: Element) -> Observation | None:
    ip = mac = None
    for address in host.findall("address"):
        kind, addr = address.get("addrtype"), address.get("addr")
        if kind in ("ipv4", "ipv6") and ip is None:
            ip = addr
        elif kind == "mac":
            mac = addr.lower() if addr else None
    if ip is None:
        return None
    evidence: list[Evidence] = []
    ports = host.find("ports")
    for port in (ports.findall("port") if ports is not None else [])[:MAX_PORTS]:
        state = port.find("state")
        if state is None or state.get("state") != "open":
            continue
        evidence += _port(port)
    if not evidence and mac is None:
        return None
    unique = {(e.key, e.value): e for e in reversed(evidence)}  # one of each fact, the first kept
    return Observation(ip, mac, [e for e in evidence if unique[(e.key, e.value)] is e], SOURCE)


def _port(port: Element) -> list[Evidence]:
    number, proto = port.get("portid", "?")[:5], port.get("protocol", "tcp")[:8]
    out: list[Evidence] = []
    service = port.find("service")
    if service is not None:
        if service.get("name"):
            out.append(Evidence(SOURCE, "nmap.service", f"{number}/{service.get('name', '')[:60]}"))
        product = " ".join(x[:200] for x in (service.get("product"), service.get("version")) if x)
        if product:
            out.append(Evidence(SOURCE, "nmap.product", product, raw=f"{number}/{proto}"))
    for script in port.findall("script"):
        out += _script(script.get("id", ""), (script.get("output") or "")[:MAX_TEXT])
    return out


def _script(script_id: str, output: str) -> list[Evidence]:
    if script_id == "http-server-header" and output.strip():
        return [Evidence(SOURCE, "http.server", output.strip().splitlines()[0][:300])]
    if script_id == "http-title" and output.strip() and not output.startswith("Site doesn't have a title"):
        return [Evidence(SOURCE, "http.title", output.strip().splitlines()[0][:300])]
    if script_id == "http-auth":
        realms = [(m.group(1) or m.group(2)).strip() for m in _REALM.finditer(output)]
        return [Evidence(SOURCE, "http.realm", realm) for realm in dict.fromkeys(realms)][:4]
    if script_id == "fingerprint-strings":
        return _replies(output)
    return []


def _replies(output: str) -> list[Evidence]:
    """Raw HTTP/RTSP replies nmap printed (one per probe, indented): parsed as the probes parse them."""
    out: list[Evidence] = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        start = _REPLY.match(line)
        if not start:
            continue
        head = [start.group(1)]
        for more in lines[i + 1 : i + 40]:
            text = more.strip()
            if not text or not more.startswith("    ") or _REPLY.match(more):
                break
            head.append(text)
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "replace")
        try:
            if head[0].startswith("RTSP"):
                found = rtsp.evidence(rtsp.parse_rtsp_response(raw), source=SOURCE)
            else:
                found = httpmsg.evidence(httpmsg.parse_response(raw), source=SOURCE)
        except MalformedInput:
            continue
        out += [e for e in found if e not in out]
    return out[:16]
