"""Bounded, defused XML parsing shared by the SADP, WS-Discovery and ONVIF parsers.

Devices send XML that is hostile or merely sloppy: DTDs and entities are refused (billion laughs,
external entities), size is capped before parsing, and fragments that use namespace prefixes they
never declare (bodies cut out of a SOAP envelope) are wrapped with placeholder declarations.
Callers match on local names only, so placeholder namespace URIs never matter.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from hikscan.errors import MalformedInput

MAX_XML_BYTES = 64 * 1024
_MAX_PREFIXES = 32
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]{0,200}\?>", re.IGNORECASE)
_PREFIX = re.compile(rb"</?([A-Za-z_][\w.-]{0,63}):[A-Za-z_]")
_XMLNS = re.compile(rb"xmlns:([A-Za-z_][\w.-]{0,63})\s*=")


def parse_xml(data: bytes, max_bytes: int = MAX_XML_BYTES) -> Element:
    """Parse untrusted XML; raise MalformedInput on anything bad (size, DTD, entities, syntax)."""
    if len(data) > max_bytes:
        raise MalformedInput(f"XML too large: {len(data)} bytes > {max_bytes}")
    if not data.strip():
        raise MalformedInput("empty XML")
    try:
        return _fromstring(data)
    except ParseError as exc:
        if "unbound prefix" not in str(exc):
            raise MalformedInput(f"bad XML: {exc}") from None
    try:
        return _fromstring(_wrap_unbound(data))
    except ParseError as exc:
        raise MalformedInput(f"bad XML: {exc}") from None


def _fromstring(data: bytes) -> Element:
    try:
        return DefusedET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ParseError:
        raise
    except DefusedXmlException as exc:
        raise MalformedInput(f"forbidden XML construct: {type(exc).__name__}") from None
    except (ValueError, UnicodeError, LookupError, RecursionError, TypeError) as exc:
        raise MalformedInput(f"bad XML: {type(exc).__name__}") from None


def _wrap_unbound(data: bytes) -> bytes:
    """Wrap a fragment in a root element that declares every prefix it uses but does not declare."""
    body = _XML_DECL.sub(b"", data, count=1)
    used = dict.fromkeys(_PREFIX.findall(body))
    declared = set(_XMLNS.findall(body))
    missing = [p for p in used if p not in declared and p.lower() != b"xml"]
    if not missing or len(missing) > _MAX_PREFIXES:
        raise MalformedInput("bad XML: unbound namespace prefix")
    decls = b" ".join(b'xmlns:%s="urn:hikscan:unbound:%s"' % (p, p) for p in missing)
    return b"<hikscan-fragment " + decls + b">" + body + b"</hikscan-fragment>"


def local(tag: object) -> str:
    """The local part of an ElementTree tag ('{ns}Name' -> 'Name'); '' for comments/PIs."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def find_local(root: Element, name: str) -> Element | None:
    """First element (depth-first, root included) whose local name equals name, case-insensitively."""
    want = name.lower()
    for el in root.iter():
        if local(el.tag).lower() == want:
            return el
    return None


def child_text(parent: Element, name: str) -> str | None:
    """Stripped text of the first direct child with this local name (case-insensitive), or None."""
    want = name.lower()
    for el in parent:
        if local(el.tag).lower() == want:
            return (el.text or "").strip()
    return None
