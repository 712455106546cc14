"""The shared XML helper: bombs, external entities, size, and bare fragments with unbound prefixes."""

from __future__ import annotations

import pytest

from hikscan.errors import MalformedInput
from hikscan.protocols import onvif, sadp, wsdiscovery
from hikscan.protocols.safexml import MAX_XML_BYTES, local, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<ProbeMatch><DeviceDescription>&lol3;</DeviceDescription></ProbeMatch>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ProbeMatch><DeviceDescription>&xxe;</DeviceDescription></ProbeMatch>"""
DTD_ONLY = b'<?xml version="1.0"?><!DOCTYPE ProbeMatch SYSTEM "http://192.0.2.1/x.dtd"><ProbeMatch><A>1</A></ProbeMatch>'
PARSERS = [
    sadp.parse_sadp,
    wsdiscovery.parse_probe_match,
    onvif.parse_device_information,
    onvif.parse_system_date_and_time,
    parse_xml,
]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY, DTD_ONLY])
def test_entities_and_dtds_are_refused(parser, data: bytes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MalformedInput):
        parser(data)


@pytest.mark.parametrize("parser", PARSERS)
def test_size_checked_before_parsing(parser) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MalformedInput, match="too large"):
        parser(b"<a>" + b" " * MAX_XML_BYTES + b"</a>")


def test_fragment_with_unbound_prefixes_is_wrapped() -> None:
    root = parse_xml(b"<env:Body><d:X>1</d:X></env:Body>")
    assert [local(el.tag) for el in root.iter()] == ["hikscan-fragment", "Body", "X"]


@pytest.mark.parametrize("data", [b"<a:b><c>", b"   ", b"<a></b>", b"\xff\xfe<\x00a\x00"])
def test_garbage(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        parse_xml(data)
