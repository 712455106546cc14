"""The passive pipeline for one capture (or one merged set): flows → pairs → devices → findings."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hikscan.attribution import Attribution
from hikscan.decode import mac_text
from hikscan.flows import Flow, FlowTable
from hikscan.geo import GeoLookup
from hikscan.inspect import Inspector
from hikscan.model import Device, Finding, Remote, severity_rank
from hikscan.naming import NameBook
from hikscan.oui import OuiTable
from hikscan.pipeline import Stats, run
from hikscan.rules import RuleSet

MAX_PAIRS = 1_000_000
MAX_FLOWS = 250_000
PROTO_NAMES = {6: "tcp", 17: "udp"}


@dataclass
class Pair:
    """Traffic between one internal host and one external server port, folded from its flows."""

    first: float
    last: float
    packets: int = 0
    bytes: int = 0
    flows: int = 0
    outbound: bool = True


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
        self, rules: RuleSet, geo: GeoLookup, oui: OuiTable | None, home_country: str | None = None
    ) -> None:
        self.rules = rules
        self.geo = geo
        self.policy = rules.policy
        self.home_country = (home_country or self.policy.home_country).upper()
        self.names = NameBook()
        self.attribution = Attribution(rules, oui)
        self.inspector = Inspector(rules, self.names, self.attribution)
        self.pairs: dict[tuple[str, str, int, int], Pair] = {}
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
        if client_in == server_in:
            return
        host, remote = (client, server) if client_in else (server, client)
        key = (host, remote, flow.server_port, flow.proto)
        pair = self.pairs.get(key)
        if pair is None:
            if len(self.pairs) >= MAX_PAIRS:
                self.pairs_dropped += 1
                return
            pair = self.pairs[key] = Pair(first=flow.first_seen, last=flow.last_seen, outbound=client_in)
        pair.first = min(pair.first, flow.first_seen)
        pair.last = max(pair.last, flow.last_seen)
        pair.packets += flow.packets
        pair.bytes += flow.bytes
        pair.flows += 1

    # -- the verdicts ------------------------------------------------------------------------------
    def devices(self) -> dict[str, Device]:
        return {ip: self.attribution.device(ip) for ip in sorted(self.attribution.hosts())}

    def is_cctv(self, device: Device | None) -> bool:
        return bool(device and device.vendor and self.rules.vendor(device.vendor).cctv)

    def findings(self, devices: dict[str, Device]) -> list[Finding]:
        findings: list[Finding] = []
        for (host, remote_ip, port, proto), pair in self.pairs.items():
            device = devices.get(host)
            name, name_source = self.names.name_for(host, remote_ip)
            if self.policy.allowed(remote_ip, name):
                continue
            cloud = (self.rules.cloud_for_name(name) if name else None) or self.rules.cloud_for_ip(remote_ip)
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
            evidence = []
            if name:
                evidence.append(f"name {name} from {name_source}")
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
