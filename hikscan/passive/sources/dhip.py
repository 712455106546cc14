"""DHIP (Dahua discovery, UDP 37810): a device's client.notifyDevInfo reply."""

from hikscan.passive.sources.base import Announcement
from hikscan.protocols import dhip


def SOURCE() -> Announcement:
    return Announcement(
        "dhip", 37810, b"notifyDevInfo", dhip.parse_dhip, lambda r: bool(r.info), dhip.evidence
    )
