"""DHCP (UDP 67/68): what a client calls itself (`dhcp.hostname|vendor_class|prl|fqdn`), keyed by the
address it has or is given, else by its hardware address; the address it is given is on this LAN."""

from __future__ import annotations

from hikscan.errors import MalformedInput
from hikscan.passive.decode import Packet
from hikscan.passive.sources.base import UDP, Context, Payload
from hikscan.protocols import dhcp


class DhcpSource:
    name = "dhcp"
    proto = UDP
    ports = frozenset({67, 68})
    first_bytes: frozenset[int] = frozenset()

    def accepts(self, head: bytes) -> bool:
        return True

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        try:
            msg = dhcp.parse_dhcp(payload)
        except MalformedInput:
            ctx.bad("dhcp")
            return
        items = dhcp.evidence(msg, source="capture")
        if msg.client_ip:
            ctx.learn_local(msg.client_ip, "DHCP")
            if msg.client_mac:
                ctx.attribution.add_mac(msg.client_ip, msg.client_mac)
            if items:
                ctx.attribution.add(msg.client_ip, items)
        elif msg.client_mac and items:
            ctx.attribution.add_by_mac(msg.client_mac, items)


SOURCE = DhcpSource
