"""WS-Discovery (UDP 3702): a device's ProbeMatch or Hello (not a Bye, not a client's Probe)."""

from hikscan.passive.sources.base import Announcement
from hikscan.protocols import wsdiscovery


def SOURCE() -> Announcement:
    return Announcement(
        "wsdiscovery",
        3702,
        b"Match",
        wsdiscovery.parse_probe_match,
        lambda r: r.kind != "Bye",
        wsdiscovery.evidence,
    )
