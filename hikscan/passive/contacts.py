"""Contacts: the traffic between one local host and one external address, folded from its flows.

A contact is what a finding is about (one device, one remote), so the table is keyed by the pair and
not by port: a port scan of one server is one contact with its ports counted, not 65,535 records.
The table is bounded twice, per host and in all; what does not fit is counted, never silently lost.

Flows are folded incrementally: a flow remembers how much of it was already folded, so a live monitor
can fold the open flows every few seconds and again when they close without counting anything twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

MAX_CONTACTS = 200_000
MAX_CONTACTS_PER_HOST = 4_096
MAX_PORTS = 32  # distinct server ports listed per contact; more are counted in `ports_folded`
PROTO_NAMES = {6: "tcp", 17: "udp"}


class Contact:
    """One (local host, external address) pair. Counts cover both directions."""

    __slots__ = (
        "answered",
        "attempts",
        "beacon",
        "bytes",
        "first",
        "flows",
        "host",
        "inbound",
        "last",
        "packets",
        "ports",
        "ports_folded",
        "remote",
        "storm",
    )

    def __init__(self, host: str, remote: str, first: float, last: float) -> None:
        self.host = host
        self.remote = remote
        self.first = first
        self.last = last
        self.packets = self.bytes = self.flows = self.inbound = 0
        self.attempts = 0  # flows the local host opened
        self.answered = 0  # of those, flows the remote answered (any packet back)
        # (server port, proto, flows) per port, flattened: a contact has one or two ports, and a flat
        # tuple costs ~64 bytes where a dict costs ~220 (contacts are the engine's largest state)
        self.ports: tuple[int, ...] = ()
        self.ports_folded = 0
        # Behaviour detectors' state for this pair, owned by detectors.beacon and detectors.storm. Kept on
        # the contact rather than in dicts of their own keyed by (host, remote): one key and one lookup per
        # pair instead of three, and no pair the detectors track without a contact to report.
        self.beacon: Any = None
        self.storm: Any = None

    @property
    def outbound(self) -> bool:
        return self.attempts > 0

    def port_counts(self) -> dict[tuple[int, int], int]:
        """(server port, proto) → flows."""
        p = self.ports
        return {(p[i], p[i + 1]): p[i + 2] for i in range(0, len(p), 3)}

    def count_port(self, port: tuple[int, int], flows: int) -> None:
        """Count flows to a server port (past MAX_PORTS distinct ports, counted in ports_folded)."""
        p = self.ports
        for i in range(0, len(p), 3):
            if p[i] == port[0] and p[i + 1] == port[1]:
                self.ports = (*p[:i], p[i], p[i + 1], p[i + 2] + flows, *p[i + 3 :])
                return
        if len(p) < 3 * MAX_PORTS:
            self.ports = (*p, port[0], port[1], flows)
        else:
            self.ports_folded += flows

    def ranked_ports(self) -> list[tuple[int, str]]:
        """(server port, protocol name), most used first; ties by port, then protocol number."""
        p = self.ports
        if len(p) == 3:  # most contacts: one server port
            return [(p[0], PROTO_NAMES.get(p[1], str(p[1])))]
        ranked = sorted(self.port_counts().items(), key=lambda kv: (-kv[1], kv[0]))
        return [(port, PROTO_NAMES.get(proto, str(proto))) for (port, proto), _n in ranked]

    def port_list(self, ranked: list[tuple[int, str]] | None = None) -> list[str]:
        """Server ports, most used first: "443/tcp" (from `ranked_ports()`, given or computed now)."""
        return [f"{port}/{name}" for port, name in (self.ranked_ports() if ranked is None else ranked)]


class ContactTable:
    """Bounded map (host, remote) → Contact, with per-host and total caps."""

    def __init__(self, max_contacts: int = MAX_CONTACTS, per_host: int = MAX_CONTACTS_PER_HOST) -> None:
        self.max_contacts = max_contacts
        self.per_host = per_host
        self._contacts: dict[tuple[str, str], Contact] = {}
        self._per_host: dict[str, int] = defaultdict(int)
        self.dropped: dict[str, int] = defaultdict(int)  # host → contacts not kept (caps)

    def __len__(self) -> int:
        return len(self._contacts)

    def __iter__(self) -> Iterator[Contact]:
        return iter(self._contacts.values())

    def get(self, host: str, remote: str) -> Contact | None:
        return self._contacts.get((host, remote))

    def fold(
        self,
        host: str,
        remote: str,
        first: float,
        last: float,
        packets: int,
        nbytes: int,
        port: tuple[int, int] | None,
        outbound: bool,
    ) -> Contact | None:
        """Add traffic to the host's contact with remote; `port` (server port, proto) is given once per
        flow, when the flow is first folded, and counts it."""
        key = (host, remote)
        contact = self._contacts.get(key)
        if contact is None:
            if len(self._contacts) >= self.max_contacts or self._per_host[host] >= self.per_host:
                if port is not None:
                    self.dropped[host] += 1
                return None
            contact = self._contacts[key] = Contact(host, remote, first, last)
            self._per_host[host] += 1
        if first < contact.first:
            contact.first = first
        if last > contact.last:
            contact.last = last
        contact.packets += packets
        contact.bytes += nbytes
        if port is not None:
            contact.flows += 1
            if outbound:
                contact.attempts += 1
            else:
                contact.inbound += 1
            contact.count_port(port, 1)
        return contact

    def merge(self, host: str, remote: str, other: Contact) -> None:
        """Fold a whole contact (kept aside until its local side was known) into (host, remote)."""
        target = self.fold(host, remote, other.first, other.last, other.packets, other.bytes, None, True)
        if target is None:
            self.dropped[host] += other.flows
            return
        target.flows += other.flows
        target.attempts += other.attempts if host == other.host else other.inbound
        target.inbound += other.inbound if host == other.host else other.attempts
        target.answered += other.answered
        for port, n in other.port_counts().items():
            target.count_port(port, n)
        target.ports_folded += other.ports_folded

    def remove(self, contact: Contact) -> None:
        del self._contacts[(contact.host, contact.remote)]
        self._per_host[contact.host] -= 1

    def mark_answered(self, contact: Contact) -> None:
        contact.answered += 1
