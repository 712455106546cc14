"""What a closed flow says about attempts and timing."""

from __future__ import annotations

from hikscan.passive.flows import Flow


def attempts(flow: Flow) -> list[float]:
    """What the client tried, flat as time, client bytes, time, …: one per TCP connection, one per UDP
    beat."""
    if flow.proto == 17:
        return flow.beat_marks() or [flow.first_seen, float(flow.bytes_c2s)]
    return [flow.first_seen, float(flow.bytes_c2s)]


def answered(flow: Flow) -> bool:
    """Did the remote send anything back (a SYN-ACK, a reply datagram)?"""
    return flow.packets_s2c > 0
