"""The one passive engine: capture files and live frames go through the same per-packet path.

    records/frames → decode → flow table → payload inspection (first packets of each flow, see
    pyloop.should_inspect) → flows folded into contacts → detectors → findings

`run_files` streams capture files through the hot loop in `pipeline`; `feed` takes one frame (live
capture, or any record) through the same decoder, flow table and inspection rule. `findings()` can be
called at any time (live monitoring calls it every few seconds): open flows are folded without being
closed, so nothing is counted twice and the final report is the same whichever way the packets came.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from hikscan.knowledge.device import is_cctv
from hikscan.knowledge.enrich import Enricher, RemoteInfo
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.policy import PolicyRule
from hikscan.knowledge.rules import CloudEndpoint, RuleSet
from hikscan.knowledge.ruleset import IpNet
from hikscan.passive.attribution import Attribution
from hikscan.passive.baseline import Baseline, Novelty
from hikscan.passive.contacts import Contact, ContactTable
from hikscan.passive.decode import Decoder, Packet, mac_text
from hikscan.passive.detectors import build_detectors
from hikscan.passive.detectors.base import CloudMatch
from hikscan.passive.flows import ENGINE_FLOWS, FLOW_BYTES, Flow, FlowTable, flow_key
from hikscan.passive.naming import NameBook
from hikscan.passive.payload import Inspector
from hikscan.passive.pipeline import Stats, run
from hikscan.passive.pyloop import should_inspect
from hikscan.passive.records import finding_records
from hikscan.passive.roundtrip import RoundTrips
from hikscan.passive.timeline import timeline
from hikscan.report.model import Device, Finding, Remote, device_ref
from hikscan.report.spool import SortedSpool

# One budget for the engine's state: the evidence and name tables (each bounded on its own too) come first,
# the open flows (flows.FLOW_BYTES each) take what they leave but contacts.MIN_SHARE's share, and contacts in
# memory (contacts.CONTACT_BYTES) the rest; past it they go to disk (passive.contactstore). With the ~39 MiB
# a process holds before it reads (interpreter, rules, databases) and the report's few, that stays < 100 MB.
STATE_MEMORY = 42 * 2**20
T = TypeVar("T")
MAX_CACHED = 100_000  # cloud lookups remembered, by name and by address
MAX_DEVICES = 1_024  # Devices remembered while the detectors run (Engine.device)
ROUTER_MIN_REMOTES = 3  # a MAC in front of this many external addresses is a router, not a host


class Engine:
    """Everything learnt from one traffic set. Feed it (`run_files` or `feed`), then ask `findings()`."""

    def __init__(
        self,
        rules: RuleSet,
        geo: GeoLookup,
        oui: OuiTable | None,
        home_country: str | None = None,
        local_nets: Iterable[IpNet] = (),
        baseline: Baseline | None = None,
    ) -> None:
        self.rules = rules
        self.geo = geo
        self.policy = rules.policy
        self.home_country = (home_country or self.policy.home_country).upper()
        self.detectors = build_detectors(self.policy)
        self.enricher = Enricher(geo, rules.networks, self.policy, self.home_country)
        self.names = NameBook()
        self.attribution = Attribution(rules, oui)
        self.inspector = Inspector(rules, self.names, self.attribution, local_nets)
        self.decoder = Decoder()
        tables = lambda: self.attribution.bytes + self.names.bytes  # noqa: E731
        self.flows = FlowTable(ENGINE_FLOWS, self._close, sketch=self._sketch,
                               room=lambda: self.contact_table.room_beside(tables()))  # fmt: skip
        self.fed = 0  # frames given to feed()
        self.contact_table = ContactTable(
            memory_bytes=STATE_MEMORY, shared=lambda: len(self.flows) * FLOW_BYTES + tables()
        )
        # Flows where neither address is internal by policy (global IPv6 on the LAN, public IPv4 LANs),
        # kept by (client, server) until the MAC they were sent from places their local side.
        self.unplaced = ContactTable()
        self.unplaced_macs: dict[tuple[str, str], tuple[bytes | None, bytes | None]] = {}
        self.fronted: dict[bytes, set[str]] = defaultdict(set)  # MAC → remote addresses behind it
        self.folded_findings: dict[str, int] = {}
        self._devices: dict[str, Device] = {}
        # the devices whose contacts contacts() shows (None: all), while a per_device detector runs in a share
        self.contact_share: Callable[[str], bool] | None = None
        self._cloud_by_name: dict[str, CloudEndpoint | None] = {}
        self._cloud_by_ip: dict[str, CloudEndpoint | None] = {}
        self.baseline = baseline  # earlier reports (--baseline); None: the capture's start is the baseline
        self._novelty: Novelty | None = None
        self.t_first, self.t_last = float("inf"), float("-inf")  # capture time covered by folded flows
        self.round_trips = RoundTrips()

    # -- input ------------------------------------------------------------------------------------
    def run_files(
        self,
        paths: Sequence[Path],
        progress: Callable[[int, int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Stats:
        """Stream capture files through the hot loop (the same path `feed` takes, inlined for speed)."""
        gate = self.inspector.gate()
        return run(paths, self.inspector.on_payload, self.flows, progress, self.decoder, stop=stop, gate=gate)

    def feed(self, ts: float, linktype: int, frame: bytes, wirelen: int) -> bool:
        """One frame through decode → flows → inspection. False if it was not an IP packet.
        Every 1024 frames the idle flows are closed, at the same records as `run_files` does."""
        self.fed += 1
        pkt = self.decoder.decode_frame(ts, linktype, frame, wirelen)
        if pkt is not None:
            flow = self.flows.add(pkt)
            if pkt.payload and pkt.frag != 2 and should_inspect(flow, pkt.sport, pkt.dport):
                flow.inspected += 1
                self.inspector.on_payload(pkt)
        if not self.fed & 0x3FF:
            self.flows.expire(ts)
        return pkt is not None

    def _sketch(self, flow: Flow) -> bool:
        """Time a UDP flow's beats only when a behaviour detector can use them: local client, external server
        (camera-to-NVR streams, the bulk of CCTV traffic, cost nothing)."""
        internal = self.inspector.is_internal_packed
        return internal(flow.client) and not internal(flow.server)

    def fold_record(
        self, first: float, last: float, client: bytes, client_port: int, server: bytes, server_port: int,
        proto: int, sent: tuple[int, int], received: tuple[int, int],
        macs: tuple[bytes | None, bytes | None] = (None, None),
    ) -> None:  # fmt: skip
        """A flow that did not come from packets (a Zeek conn.log line): packed addresses, (packets,
        bytes) each way, the client's and server's MACs if known. Folded as a closed flow, the same way
        as one the flow table evicts; no reply packets (`received` 0) is a failed attempt."""
        version = 4 if len(client) == 4 else 6
        first_packet = Packet(first, macs[0], macs[1], (), version, client, server, proto,
                              client_port, server_port, 0, 0, b"")  # fmt: skip
        key = flow_key(client, client_port, server, server_port, proto)
        flow = self.flows.flow_cls(key, first_packet, True)
        flow.last_seen = max(first, last)
        flow.packets_c2s, flow.bytes_c2s = sent
        flow.packets_s2c, flow.bytes_s2c = received
        flow.server_mac = macs[1]
        self.flows.total_flows += 1
        self._close(flow)

    # -- flows → contacts ---------------------------------------------------------------------------
    def _close(self, flow: Flow) -> None:
        """A flow leaves the table (evicted or at the end): fold its rest and show it to the detectors."""
        contact = self._fold(flow)
        if contact is not None and flow.packets_c2s and flow.packets_s2c:
            self.contact_table.mark_answered(contact)
        opened = self._opened(flow, contact, self.contact_table.in_memory)
        for detector in self.detectors:
            detector.on_flow(flow, opened, self)

    def opened_contact(self, flow: Flow) -> Contact | None:
        """The contact of a flow a local host opened to an external address (None for any other flow,
        or when the contact tables were full), as the report reads it."""
        return self._opened(flow, None, self.contact_table.get)

    def _opened(
        self, flow: Flow, folded: Contact | None, lookup: Callable[[str, str], Contact | None]
    ) -> Contact | None:
        """opened_contact, given what _fold returned for the flow (if it did) and how to find the pair."""
        text = self.inspector.text
        client = text(flow.client)
        if folded is not None:
            return folded if folded.host == client else None
        internal = self.inspector.is_internal
        if not internal(client):
            return None
        server = text(flow.server)
        return None if internal(server) else lookup(client, server)

    def hold(self, nbytes: int) -> None:
        """A detector added `nbytes` of state to a contact (counted against the contacts' memory)."""
        self.contact_table.hold(nbytes)

    def _fold(self, flow: Flow) -> Contact | None:
        packets, nbytes = flow.packets - flow.folded_packets, flow.bytes - flow.folded_bytes
        first_fold = flow.folded_packets == 0
        if not packets:
            return None
        if flow.first_seen < self.t_first:
            self.t_first = flow.first_seen
        if flow.last_seen > self.t_last:
            self.t_last = flow.last_seen
        flow.folded_packets, flow.folded_bytes = flow.packets, flow.bytes
        text, internal = self.inspector.text, self.inspector.is_internal
        client, server = text(flow.client), text(flow.server)
        client_in, server_in = internal(client), internal(server)
        if first_fold:
            if client_in and flow.client_mac:
                self.attribution.add_mac(client, mac_text(flow.client_mac))
            if server_in and flow.server_mac:
                self.attribution.add_mac(server, mac_text(flow.server_mac))
        if client_in and server_in:
            return None
        port = (flow.server_port, flow.proto) if first_fold else None
        if not client_in and not server_in:
            if (
                first_fold
                and (client, server) not in self.unplaced_macs
                and len(self.unplaced_macs) < 100_000
            ):
                self.unplaced_macs[(client, server)] = (flow.client_mac, flow.server_mac)
            self.unplaced.fold(client, server, flow.first_seen, flow.last_seen, packets, nbytes, port, True)
            return None
        host, remote = (client, server) if client_in else (server, client)
        remote_mac = flow.server_mac if client_in else flow.client_mac
        if first_fold and remote_mac and len(self.fronted[remote_mac]) < ROUTER_MIN_REMOTES:
            self.fronted[remote_mac].add(remote)
        contact = self.contact_table.fold(
            host, remote, flow.first_seen, flow.last_seen, packets, nbytes, port, client_in
        )
        if contact is not None and contact.remote == server:  # the server's handshake, not the client's
            self.round_trips.sample(flow)
        return contact

    def _place_unplaced(self) -> None:
        """A global address is local if it sends from the MAC of exactly one internal host (not a router)."""
        if not len(self.unplaced):  # the usual case: every flow had a local side
            return
        owner: dict[str, str | None] = {}  # MAC → its one internal address (None: several)
        for ip, host_mac in self.attribution.macs.items():
            owner[host_mac] = None if host_mac in owner else ip
        routers = {mac_text(m) for m, remotes in self.fronted.items() if len(remotes) >= ROUTER_MIN_REMOTES}
        twin_of = {m: ip for m, ip in owner.items() if ip is not None and m not in routers}
        for contact in list(self.unplaced):
            client_mac, server_mac = self.unplaced_macs.get((contact.host, contact.remote), (None, None))
            sides = ((contact.host, contact.remote, client_mac), (contact.remote, contact.host, server_mac))
            for local, remote, mac in sides:
                twin = twin_of.get(mac_text(mac)) if mac else None
                if twin is not None:
                    self.attribution.alias(local, twin)
                    self.contact_table.merge(local, remote, contact)
                    self.unplaced.remove(contact)  # its MACs stay known: later traffic is placed the same way
                    break

    def sync(self) -> None:
        """Fold what the open flows carried since the last call, without closing them."""
        for flow in self.flows:
            self._fold(flow)
        self._place_unplaced()

    def finish(self) -> None:
        """Close every flow (the end of the input); then, no flow holding memory, a spilled table of contacts
        comes back into memory if it fits the whole budget (the report reads it faster). If no flow closed
        before, the flows lie in memory in the order they close now, so theirs comes free as they do."""
        self.contact_table.closing = self.flows.evicted == 0
        try:
            self.flows.flush()
        finally:
            self.contact_table.closing = False
        self._place_unplaced()
        self.contact_table.take_back()

    # -- the view detectors use (detectors.base.EngineView) -----------------------------------------
    def contacts(self) -> Iterable[Contact]:
        share = self.contact_share
        if share is None:
            return self.contact_table
        return (contact for contact in self.contact_table if share(contact.host))

    def contact(self, host: str, remote: str) -> Contact | None:
        return self.contact_table.get(host, remote)

    def open_flows(self) -> Iterable[Flow]:
        """Flows not closed yet (live monitoring between reports; none after finish())."""
        return self.flows

    def capture_times(self) -> tuple[float, float]:
        """First and last packet time of the traffic folded so far ((0, 0) before any)."""
        return (self.t_first, self.t_last) if self.t_first <= self.t_last else (0.0, 0.0)

    def names_of(self, contact: Contact) -> list[str]:
        return [name for name, _source in self.names.names_for(contact.host, contact.remote)]

    def novelty(self) -> Novelty:
        """Which destinations are new since the baseline (computed once per findings() call)."""
        if self._novelty is None:
            start, end = self.capture_times()
            fleet = self.policy.fleet
            self._novelty = Novelty.build(
                self, self.baseline, start, end, self.policy.baseline.learn_seconds,
                (fleet.prefix_v4, fleet.prefix_v6),
            )  # fmt: skip
        return self._novelty

    def device(self, ip: str) -> Device | None:
        device = self._devices.get(ip)
        if device is None and self.attribution.has_host(ip):
            device = self.attribution.device(ip)
            if len(self._devices) >= MAX_DEVICES:  # a memo, bounded: a capture can show 100,000 hosts
                self._devices.clear()
            self._devices[ip] = device
        return device

    def is_cctv(self, device: Device | None) -> bool:
        return is_cctv(device)

    def host_text(self, packed: bytes) -> str:
        return self.inspector.text(packed)

    def is_local(self, ip: str) -> bool:
        return self.inspector.is_internal(ip)

    def cloud(self, contact: Contact) -> CloudMatch:
        """The name to report (the first that is a vendor cloud's, else the strongest) and the cloud."""
        names = tuple(self.names.names_for(contact.host, contact.remote))
        signature = self.names.signature(contact.host, contact.remote)
        for name, _source in names:
            cloud = self._cached(self._cloud_by_name, name, self.rules.cloud_for_name)
            if cloud is not None:
                return CloudMatch(name, cloud, signature, names)
        cloud = self._cached(self._cloud_by_ip, contact.remote, self.rules.cloud_for_ip)
        if cloud is None and signature is not None:
            cloud = self.rules.cloud_for_signature(signature)
        return CloudMatch(names[0][0] if names else None, cloud, signature, names)

    @staticmethod
    def _cached(
        table: dict[str, CloudEndpoint | None], key: str, lookup: Callable[[str], CloudEndpoint | None]
    ) -> CloudEndpoint | None:
        """Cloud lookups by name or address, once each (many contacts share a server)."""
        if key in table:
            return table[key]
        found = lookup(key)
        if len(table) < MAX_CACHED:
            table[key] = found
        return found

    def allowed(self, contact: Contact, match: CloudMatch) -> bool:
        policy = self.policy
        if not policy.allow_cidrs and not policy.allow_domains:
            return False
        return policy.allowed(contact.remote, None) or any(
            policy.allowed(contact.remote, n) for n, _ in match.names
        )

    def remote_info(self, ip: str) -> RemoteInfo:
        return self.enricher.info(ip)

    def remote(self, contact: Contact, match: CloudMatch, info: RemoteInfo | None = None) -> Remote:
        info = self.enricher.info(contact.remote) if info is None else info
        ranked = contact.ranked_ports()  # one sort: the main port is its head
        port, proto = ranked[0] if ranked else (0, "?")
        return Remote(
            ip=contact.remote, port=port, proto=proto, name=match.name, country=info.country, asn=info.asn,
            org=info.org, cloud=match.cloud.service if match.cloud is not None else None, owner=info.owner,
            owner_country=info.owner_country, located=info.located, ports=tuple(contact.port_list(ranked)),
            rtt_ms=self.round_trips.ms(contact.remote),
        )  # fmt: skip

    def finding(
        self, rule: PolicyRule, contact: Contact, device: Device | None, remote: Remote, evidence: list[str]
    ) -> Finding:
        return Finding(
            severity=rule.severity,
            rule=rule.id,
            title=rule.description,
            device=device_ref(contact.host, device),
            remote=remote,
            first_seen=contact.first,
            last_seen=contact.last,
            packets=contact.packets,
            bytes=contact.bytes,
            evidence=evidence,
            flows=contact.flows,
        )

    # -- output -------------------------------------------------------------------------------------
    def devices(self) -> Iterator[Device]:
        """Every host with evidence, by address, each built when it is reached and not kept (a Device per
        host at once was ~60 MiB on a capture of 60,000 hosts)."""
        hosts = sorted(self.attribution.hosts())
        return (self._devices.get(ip) or self.attribution.device(ip) for ip in hosts)

    def cctv_devices(self) -> list[Device]:
        """CCTV devices, each with its timeline of external contacts."""
        return list(self.cctv_device_stream())

    def cctv_device_stream(self) -> Iterator[Device]:
        """`cctv_devices()` one at a time: a device and its timeline are built when it is reached, so only
        one device is in memory while a report is written."""
        index: tuple[Callable[[str], list[Contact]], Novelty] | None = None
        for device in self.devices():
            if not self.is_cctv(device):
                continue
            if index is None:  # the first CCTV device: the contacts by host, and which are new
                index = (self.contact_table.host_index(), self.novelty())
            if device.ip is not None:
                entries, _left_out = timeline(index[0](device.ip), self.names_of, index[1])
                device = replace(device, timeline=entries)  # a cached Device does not keep it
            yield device

    def findings(self) -> list[Finding]:
        """Every detector's findings, most severe first; at most MAX_FINDINGS_PER_DEVICE per device."""
        return list(self.finding_stream())

    def finding_stream(self) -> Iterator[Finding]:
        """`findings()` one at a time, memory bounded: the detectors run now, each finding is spooled
        (report.spool) and `folded_findings` set before this returns; the iterator reads them back."""
        return self.finding_records(lambda finding: finding)

    def finding_records(
        self,
        encode: Callable[[Finding], T],
        new_spool: Callable[[], SortedSpool[T]] = SortedSpool,
        jobs: int = 1,
    ) -> Iterator[T]:
        """`finding_stream()`, each finding spooled (in a `new_spool()`) as `encode(finding)`; a device's
        findings past MAX_FINDINGS_PER_DEVICE are folded as made (report.capped), not encoded. `jobs` > 1:
        the devices split among up to that many processes when it pays and is safe (passive.shares)."""
        self._devices = {}
        self._novelty = None
        records, self.folded_findings = finding_records(self, encode, new_spool, jobs)
        return records

    def extra_stats(self) -> dict[str, Any]:
        return {
            "flows": self.flows.total_flows,
            "contacts": len(self.contact_table),
            "contacts_dropped": sum(self.contact_table.dropped.values()),
            "findings_folded": dict(self.folded_findings),
            "malformed_payloads": dict(self.inspector.malformed),
            "names_dropped": self.names.dropped,
            "evidence_dropped": self.attribution.dropped,
            "parse_counts_dropped": self.inspector.parse_counts_dropped,
        }
