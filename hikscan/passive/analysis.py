"""The passive pipeline for one capture (or one merged set): flows → pairs → devices → findings."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hikscan.knowledge.device import is_cctv
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import CloudEndpoint, RuleSet
from hikscan.knowledge.ruleset import IpNet
from hikscan.passive.attribution import Attribution
from hikscan.passive.decode import mac_text
from hikscan.passive.flows import Flow, FlowTable
from hikscan.passive.naming import NameBook
from hikscan.passive.payload import Inspector
from hikscan.passive.pipeline import Stats, run
from hikscan.report.model import Device, Finding, Remote, severity_rank

MAX_PAIRS = 1_000_000
MAX_FLOWS = 250_000
ROUTER_MIN_REMOTES = 3  # a MAC in front of this many external addresses is a router, not a host
PROTO_NAMES = {6: "tcp", 17: "udp"}


@dataclass
class Pair:
    """Traffic between one internal host and one external server port, folded from its flows."""

    first: float
    last: float
    client_mac: Optional[bytes] = None  # noqa: UP045 - `bytes` below shadows the type in this class
    server_mac: Optional[bytes] = None  # noqa: UP045
    packets: int = 0
    bytes: int = 0
    flows: int = 0
    outbound: bool = True

    def add(self, flow: Flow) -> None:
        self.first = min(self.first, flow.first_seen)
        self.last = max(self.last, flow.last_seen)
        self.packets += flow.packets
        self.bytes += flow.bytes
        self.flows += 1


@dataclass
class Report:
    captures: list[str]
    findings: list[Finding]
    devices: list[Device]
    stats: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)


class Analysis:
    """Everything learnt from one traffic set; feed it with `run_files`, then call `report`."""

    def __init__(
        self,
        rules: RuleSet,
        geo: GeoLookup,
        oui: OuiTable | None,
        home_country: str | None = None,
        local_nets: Sequence[IpNet] = (),
    ) -> None:
        self.rules = rules
        self.geo = geo
        self.policy = rules.policy
        self.home_country = (home_country or self.policy.home_country).upper()
        self.names = NameBook()
        self.attribution = Attribution(rules, oui)
        self.inspector = Inspector(rules, self.names, self.attribution, local_nets)
        self.pairs: dict[tuple[str, str, int, int], Pair] = {}
        # Flows where neither address is internal by policy (global IPv6 on the LAN, public IPv4 LANs):
        # placed at the end, by the MAC the local side sends from.
        self.unplaced: dict[tuple[str, str, int, int], Pair] = {}
        self.fronted: dict[bytes, set[str]] = defaultdict(set)  # MAC → remote addresses behind it (routers)
        self.pairs_dropped = 0
        self.flows = FlowTable(MAX_FLOWS, self._fold)

    def run_files(
        self,
        paths: Sequence[Path],
        progress: Callable[[int, int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Stats:
        try:
            return run(paths, self.inspector.on_payload, self.flows, progress=progress, stop=stop)
        finally:
            self.flows.flush()

    # -- folding flows into pairs ------------------------------------------------------------------
    def _fold(self, flow: Flow) -> None:
        text, internal = self.inspector.text, self.inspector.is_internal
        client, server = text(flow.client), text(flow.server)
        client_in, server_in = internal(client), internal(server)
        if client_in and flow.client_mac:
            self.attribution.add_mac(client, mac_text(flow.client_mac))
        if server_in and flow.server_mac:
            self.attribution.add_mac(server, mac_text(flow.server_mac))
        if client_in and server_in:
            return
        if not client_in and not server_in:
            pair = self._pair(self.unplaced, (client, server, flow.server_port, flow.proto), flow, True)
            if pair is not None:
                pair.client_mac, pair.server_mac = flow.client_mac, flow.server_mac
            return
        host, remote = (client, server) if client_in else (server, client)
        remote_mac = flow.server_mac if client_in else flow.client_mac
        if remote_mac and len(self.fronted[remote_mac]) < ROUTER_MIN_REMOTES:
            self.fronted[remote_mac].add(remote)
        self._pair(self.pairs, (host, remote, flow.server_port, flow.proto), flow, client_in)

    def _pair(
        self,
        table: dict[tuple[str, str, int, int], Pair],
        key: tuple[str, str, int, int],
        flow: Flow,
        outbound: bool,
    ) -> Pair | None:
        pair = table.get(key)
        if pair is None:
            if len(self.pairs) + len(self.unplaced) >= MAX_PAIRS:
                self.pairs_dropped += 1
                return None
            pair = table[key] = Pair(first=flow.first_seen, last=flow.last_seen, outbound=outbound)
        pair.add(flow)
        return pair

    def _place_unplaced(self) -> None:
        """A global address is local if it sends from the MAC of exactly one internal host (not a router)."""
        owners: dict[str, set[str]] = defaultdict(set)
        for ip, host_mac in self.attribution.macs.items():
            owners[host_mac].add(ip)
        routers = {mac_text(m) for m, remotes in self.fronted.items() if len(remotes) >= ROUTER_MIN_REMOTES}
        twin_of = {m: next(iter(ips)) for m, ips in owners.items() if len(ips) == 1 and m not in routers}
        for (client, server, port, proto), pair in self.unplaced.items():
            sides: tuple[tuple[str, str, bytes | None, bool], ...] = (
                (client, server, pair.client_mac, True),
                (server, client, pair.server_mac, False),
            )
            for local, remote, mac, outbound in sides:
                twin = twin_of.get(mac_text(mac)) if mac else None
                if twin is None:
                    continue
                self.attribution.alias(local, twin)
                merged = self.pairs.setdefault(
                    (local, remote, port, proto), Pair(first=pair.first, last=pair.last, outbound=outbound)
                )
                merged.first, merged.last = min(merged.first, pair.first), max(merged.last, pair.last)
                merged.packets += pair.packets
                merged.bytes += pair.bytes
                merged.flows += pair.flows
                break
        self.unplaced.clear()

    # -- the verdicts ------------------------------------------------------------------------------
    def devices(self) -> dict[str, Device]:
        return {ip: self.attribution.device(ip) for ip in sorted(self.attribution.hosts())}

    def is_cctv(self, device: Device | None) -> bool:
        return is_cctv(device)

    def findings(self, devices: dict[str, Device]) -> list[Finding]:
        findings: list[Finding] = []
        devices = {**devices, **{ip: self.attribution.device(ip) for ip in self.attribution.aliases}}
        for (host, remote_ip, port, proto), pair in self.pairs.items():
            device = devices.get(host)
            names = self.names.names_for(host, remote_ip)
            if any(self.policy.allowed(remote_ip, n) for n, _ in names) or self.policy.allowed(
                remote_ip, None
            ):
                continue
            name, cloud = self._name_and_cloud(names, remote_ip)
            signature = self.inspector.signature_hits.get((host, remote_ip))
            if cloud is None and signature is not None:
                cloud = self.rules.cloud_for_signature(signature)
            geo = self.geo.lookup(remote_ip)
            verdict = self.policy.classify(
                self.is_cctv(device), geo.country, cloud, home_country=self.home_country
            )
            if verdict is None:
                continue
            rule_id, severity = verdict
            evidence = [f"name {n} from {source}" for n, source in names]
            if cloud is not None:
                evidence.append(f"vendor cloud {cloud.service} (rule {cloud.id})")
            if signature is not None:
                evidence.append(f"payload signature {signature}")
            if device is not None and device.vendor:
                evidence.append(f"device {device.vendor} by {', '.join(device.matched_rules) or 'rules'}")
            if not pair.outbound:
                evidence.append("inbound: the external host opened the connection")
            findings.append(
                Finding(
                    severity=severity,
                    rule=rule_id,
                    title=self.rules.policy_title(rule_id),
                    device=_device_ref(host, device),
                    remote=Remote(
                        ip=remote_ip,
                        port=port,
                        proto=PROTO_NAMES.get(proto, str(proto)),
                        name=name,
                        country=geo.country,
                        asn=geo.asn,
                        org=geo.org,
                        cloud=cloud.service if cloud is not None else None,
                    ),
                    first_seen=pair.first,
                    last_seen=pair.last,
                    packets=pair.packets,
                    bytes=pair.bytes,
                    evidence=evidence,
                )
            )
        findings.extend(self._fleet(findings, devices))
        findings.sort(key=lambda f: (-severity_rank(f.severity), f.first_seen, f.device.get("ip") or ""))
        return findings

    def _name_and_cloud(
        self, names: list[tuple[str, str]], remote_ip: str
    ) -> tuple[str | None, CloudEndpoint | None]:
        """The name to report: the first that is a vendor cloud's, else the strongest; and that cloud."""
        for name, _source in names:
            cloud = self.rules.cloud_for_name(name)
            if cloud is not None:
                return name, cloud
        return (names[0][0] if names else None), self.rules.cloud_for_ip(remote_ip)

    def _fleet(self, findings: list[Finding], devices: dict[str, Device]) -> list[Finding]:
        """The Italy pattern: many devices of one vendor reaching one overseas destination at once."""
        fleet = self.policy.fleet
        groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        for finding in findings:
            vendor = finding.device.get("vendor")
            if vendor and finding.rule != "host-to-high-risk-country":
                family = self.rules.vendor(vendor).family
                groups[(family, finding.remote.ip)].append(finding)
        out = []
        for (family, _remote), members in groups.items():
            by_device: dict[str, float] = {}
            for member in members:
                ip = member.device["ip"]
                by_device[ip] = min(by_device.get(ip, member.first_seen), member.first_seen)
            starts = sorted(by_device.values())
            best = _most_within(starts, fleet.window_seconds)
            if best < fleet.min_devices:
                continue
            first = members[0]
            out.append(
                Finding(
                    severity=self.policy.severity_of("cctv-fleet-new-destination"),
                    rule="cctv-fleet-new-destination",
                    title=self.rules.policy_title("cctv-fleet-new-destination"),
                    device={
                        "ip": None,
                        "mac": None,
                        "vendor": first.device["vendor"],
                        "family": family,
                        "count": len(by_device),
                        "members": sorted(by_device),
                    },
                    remote=first.remote,
                    first_seen=min(m.first_seen for m in members),
                    last_seen=max(m.last_seen for m in members),
                    packets=sum(m.packets for m in members),
                    bytes=sum(m.bytes for m in members),
                    evidence=[
                        f"{best} {family} devices first reached {first.remote.ip} within "
                        f"{fleet.window_seconds:g} s of each other"
                    ],
                )
            )
        return out

    def report(self, captures: list[str], stats: Stats) -> Report:
        self._place_unplaced()
        devices = self.devices()
        findings = self.findings(devices)
        cctv = [d for d in devices.values() if self.is_cctv(d)]
        stats_dict = stats.to_dict()
        stats_dict["malformed_payloads"] = dict(self.inspector.malformed)
        stats_dict["pairs_dropped"] = self.pairs_dropped
        return Report(captures=captures, findings=findings, devices=cctv, stats=stats_dict)


def _device_ref(ip: str, device: Device | None) -> dict[str, Any]:
    if device is None:
        return {"ip": ip, "mac": None, "vendor": None, "model": None}
    return {"ip": ip, "mac": device.mac, "vendor": device.vendor, "model": device.model}


def _most_within(starts: list[float], window: float) -> int:
    """The largest number of sorted start times that fit in one window."""
    best, lo = 0, 0
    for hi, start in enumerate(starts):
        while start - starts[lo] > window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
