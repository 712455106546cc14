"""SADP (Hikvision discovery, UDP 37020): a device's ProbeMatch or Hello."""

from hikscan.passive.sources.base import Announcement
from hikscan.protocols import sadp


def SOURCE() -> Announcement:
    return Announcement(
        "sadp",
        37020,
        b"<",
        sadp.parse_sadp,
        lambda r: r.kind.lower() in ("probematch", "hello"),
        sadp.evidence,
    )
