"""What a closed flow says about attempts and timing."""

from __future__ import annotations

from hikscan.passive.flows import Flow


def attempts(flow: Flow) -> list[tuple[float, int]]:
    """What the client tried, as (time, client bytes): one per TCP connection, one per UDP beat."""
    if flow.proto == 17:
        return flow.beat_events() or [(flow.first_seen, flow.bytes_c2s)]
    return [(flow.first_seen, flow.bytes_c2s)]


def answered(flow: Flow) -> bool:
    """Did the remote send anything back (a SYN-ACK, a reply datagram)?"""
    return flow.packets_s2c > 0
