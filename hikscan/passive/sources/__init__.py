"""Evidence sources of the passive path: one module per protocol, listed once in SOURCES.

Adding a source is one module with an object that satisfies `base.Source`, one line here, and its
tests. UDP sources are selected by port (`ports`, either side); TCP sources by their first bytes
(`accepts`), in this order; `FALLBACK` (p2p) is tried on for every payload no other source claimed.
"""

from __future__ import annotations

from collections.abc import Callable

from hikscan.passive.sources import dhcp, dhip, dns, mdns, p2p, rtsp, sadp, ssdp, tls, web, wsd
from hikscan.passive.sources.base import Context, Source

# Factories: each Inspector gets its own sources (some keep bounded caches).
SOURCES: tuple[Callable[[], Source], ...] = (
    dns.SOURCE,
    mdns.SOURCE,
    dhcp.SOURCE,
    ssdp.SOURCE,
    sadp.SOURCE,
    wsd.SOURCE,
    dhip.SOURCE,
    tls.SOURCE,
    web.REQUEST,
    web.RESPONSE,
    rtsp.SOURCE,
)
FALLBACK: Callable[[], Source] = p2p.SOURCE

__all__ = ["FALLBACK", "SOURCES", "Context", "Source"]
