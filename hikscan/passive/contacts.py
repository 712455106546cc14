"""Contacts: the traffic between one local host and one external address, folded from its flows.

A contact is what a finding is about (one device, one remote), so the table is keyed by the pair and
not by port: a port scan of one server is one contact with its ports counted, not 65,535 records.
The table is bounded twice, per host and in all; what does not fit is counted, never silently lost. Its
memory is bounded too: past `memory_bytes`, the contacts in memory are written to a private file as
partials and merged per pair when the table is read (passive.contactstore), so a capture with millions
of pairs costs disk, not memory, and reports the same.

Flows are folded incrementally: a flow remembers how much of it was already folded, so a live monitor
can fold the open flows every few seconds and again when they close without counting anything twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hikscan.passive.contactstore import ContactStore

MAX_CONTACTS = 200_000
MAX_CONTACTS_PER_HOST = 4_096
MAX_PORTS = 32  # distinct server ports listed per contact; more are counted in `ports_folded`
PROTO_NAMES = {6: "tcp", 17: "udp"}
# What one contact in memory costs with its key and detector state, without beacon marks (which the
# beacon detector declares with `hold`); tests/passive/test_contactstore.py measures it.
CONTACT_BYTES = 1_000
# Contacts keep at least this share of the budget in memory, whatever else it holds (else a budget full of
# flows and evidence would write each new contact to the store alone): 1/12 of the engine's 42 MiB, 3.5 MiB.
MIN_SHARE = 12


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
    """Bounded map (host, remote) → Contact, with per-host and total caps; with `memory_bytes`, contacts
    past that budget go to a ContactStore and the table reads them back from there."""

    def __init__(
        self,
        max_contacts: int = MAX_CONTACTS,
        per_host: int = MAX_CONTACTS_PER_HOST,
        memory_bytes: int | None = None,
        shared: Callable[[], int] | None = None,
    ) -> None:
        self.max_contacts = max_contacts
        self.per_host = per_host
        self.memory_bytes = memory_bytes  # None: everything in memory
        self.shared = shared  # what else the budget holds now, in bytes (the engine's open flows)
        self._shared_most = 0  # the most `shared` held yet (see _others)
        self._contacts: dict[tuple[str, str], Contact] = {}
        self._per_host: dict[str, int] = defaultdict(int)
        self.dropped: dict[str, int] = defaultdict(int)  # host → contacts not kept (caps)
        self.held = 0  # bytes of detector state on the contacts in memory (see `hold`)
        self._written = 0  # contacts written to the store (their order numbers, `seq`, follow on)
        self._store: ContactStore | None = None
        # True while flows close whose memory comes free as they do (Engine.finish): `shared` is then
        # charged as it is now, not at its most
        self.closing = False

    @property
    def spilled(self) -> bool:
        return self._store is not None

    @property
    def written(self) -> int:
        """Contacts written to the store so far (0: the table never spilled, even if it was taken back)."""
        return self._written

    def _read(self) -> ContactStore | None:
        """The store, every partial merged, when the table has spilled; None when all is in memory."""
        store = self._store
        if store is not None:
            self._spill(store)
            for host, flows in store.merge(self.per_host, self.max_contacts).items():
                self.dropped[host] += flows
        return store

    def __len__(self) -> int:
        store = self._read()
        return len(self._contacts) if store is None else len(store)

    def __iter__(self) -> Iterator[Contact]:
        store = self._read()
        return iter(self._contacts.values()) if store is None else iter(store)

    def get(self, host: str, remote: str) -> Contact | None:
        """The pair's whole contact (a copy when the table has spilled: changes to it are not kept)."""
        store = self._read()
        return self._contacts.get((host, remote)) if store is None else store.get(host, remote)

    def host_index(self) -> Callable[[str], list[Contact]]:
        """host → its contacts, for reading them host by host."""
        store = self._read()
        if store is not None:
            return store.of_host
        index: dict[str, list[Contact]] = defaultdict(list)
        for contact in self._contacts.values():
            index[contact.host].append(contact)
        return lambda host: index.get(host, [])

    def in_memory(self, host: str, remote: str) -> Contact | None:
        """The pair's contact in memory, to add to: after a spill, a new partial if none is there (caps
        are applied when the partials are merged)."""
        contact = self._contacts.get((host, remote))
        if contact is None and self._store is not None:
            contact = self._new(host, remote, float("inf"), float("-inf"))
        return contact

    def take_back(self) -> bool:
        """Read a spilled table back into memory if all of it now fits the budget (`memory_bytes` less what
        `shared` holds now: nothing, once every flow has closed), so that the report reads contacts from
        memory, not the store. They come back merged and capped, in the store's order (first appearance),
        their detector state packed until a detector reads it. True if it did."""
        self._shared_most = 0
        store = self._read()
        if store is None or self.memory_bytes is None:
            return False
        held = store.state_bytes()
        room = self._room(self.memory_bytes)
        if len(store) * CONTACT_BYTES + held > room:
            return False
        for contact in store:
            self._contacts[(contact.host, contact.remote)] = contact
            self._per_host[contact.host] += 1
        self.held = held
        self._store = None
        store.close()
        return True

    def hold(self, nbytes: int) -> None:
        """Detector state of `nbytes` was added to a contact in memory (counted against memory_bytes)."""
        self.held += nbytes

    def room_beside(self, others: int) -> int:
        """The bytes of the budget that are neither `others` nor the contacts' least share (what the open
        flows may take: the engine's flow table holds that many at FLOW_BYTES each)."""
        limit = self.memory_bytes if self.memory_bytes is not None else 1 << 62
        return limit - limit // MIN_SHARE - others

    def _room(self, limit: int) -> int:
        """The bytes contacts may take in memory: the budget less what `shared` holds, at least its
        1/MIN_SHARE."""
        return max(limit - self._others(), limit // MIN_SHARE)

    def _others(self) -> int:
        """What `shared` holds, at the most it has held (until `take_back`): memory the others freed is not
        free while what is left of them lives (Python's allocator frees a pool only when all in it is gone),
        so the contacts made as flows close cannot use it. While `closing` (flows freed in the order they
        lie in memory: their pools empty one after another), what it holds now."""
        if self.shared is not None:
            if self.closing:
                return self.shared()
            self._shared_most = max(self._shared_most, self.shared())
        return self._shared_most

    def _new(self, host: str, remote: str, first: float, last: float) -> Contact:
        limit = self.memory_bytes
        if limit is not None and len(self._contacts) * CONTACT_BYTES + self.held >= self._room(limit):
            if self._store is None:
                from hikscan.passive.contactstore import ContactStore

                self._store = ContactStore()
            self._spill(self._store)
        contact = self._contacts[(host, remote)] = Contact(host, remote, first, last)
        return contact

    def _spill(self, store: ContactStore) -> None:
        """Write the contacts in memory to the store, numbered on in the order they were made (the dict's),
        and start afresh."""
        if self._contacts:
            store.write(self._contacts.values(), self._written + 1)
            self._written += len(self._contacts)
            self._contacts.clear()
        self._per_host.clear()
        self.held = 0

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
        contact = self._contacts.get((host, remote))
        if contact is None:
            if self._store is None:
                if len(self._contacts) >= self.max_contacts or self._per_host[host] >= self.per_host:
                    if port is not None:
                        self.dropped[host] += 1
                    return None
                self._per_host[host] += 1
            contact = self._new(host, remote, first, last)
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
        """Take a contact out (a table that never spills: `memory_bytes` None)."""
        del self._contacts[(contact.host, contact.remote)]
        self._per_host[contact.host] -= 1

    def mark_answered(self, contact: Contact) -> None:
        contact.answered += 1
