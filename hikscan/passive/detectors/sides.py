"""Which side of a closed flow is the local device, and what the flow says about attempts and timing."""

from __future__ import annotations

from typing import Protocol

from hikscan.passive.flows import Flow


class _Sides(Protocol):
    def host_text(self, packed: bytes) -> str: ...
    def is_local(self, ip: str) -> bool: ...


def local_remote(flow: Flow, view: _Sides) -> tuple[str, str] | None:
    """(local host, external remote) of a flow the local host opened; None for any other flow
    (internal, external-only, or opened from outside)."""
    client = view.host_text(flow.client)
    if not view.is_local(client):
        return None
    server = view.host_text(flow.server)
    if view.is_local(server):
        return None
    return client, server


def attempts(flow: Flow) -> list[tuple[float, int]]:
    """What the client tried, as (time, client bytes): one per TCP connection, one per UDP beat."""
    if flow.proto == 17:
        return flow.beat_events() or [(flow.first_seen, flow.bytes_c2s)]
    return [(flow.first_seen, flow.bytes_c2s)]


def answered(flow: Flow) -> bool:
    """Did the remote send anything back (a SYN-ACK, a reply datagram)?"""
    return flow.packets_s2c > 0
