"""The Italy pattern: several devices of one vendor family reaching the same destination at once.

Groups the findings of the detectors before it by (family, remote) and fires when at least
`policy.fleet.min_devices` devices first reached that remote within `policy.fleet.window_seconds`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from hikscan.passive.detectors.base import EngineView
from hikscan.passive.flows import Flow
from hikscan.report.model import Finding


class Fleet:
    name = "fleet"

    def on_flow(self, flow: Flow, view: EngineView) -> None:
        return None

    def findings(self, view: EngineView, earlier: list[Finding]) -> Iterator[Finding]:
        policy = view.policy
        rules = policy.rules_for(self.name)
        if not rules:
            return
        rule, fleet = rules[0], policy.fleet
        groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        for finding in earlier:
            vendor = finding.device.get("vendor")
            if (
                vendor
                and finding.device.get("ip")
                and policy.rules[finding.rule].when.get("device") == "cctv"
            ):
                family = view.rules.vendor(vendor).family
                groups[(family, finding.remote.ip)].append(finding)
        for (family, remote_ip), members in groups.items():
            by_device: dict[str, float] = {}
            for member in members:
                ip = member.device["ip"]
                by_device[ip] = min(by_device.get(ip, member.first_seen), member.first_seen)
            best = most_within(sorted(by_device.values()), fleet.window_seconds)
            if best < fleet.min_devices:
                continue
            first = members[0]
            yield Finding(
                severity=rule.severity,
                rule=rule.id,
                title=rule.description,
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
                    f"{best} {family} devices first reached {remote_ip} within "
                    f"{fleet.window_seconds:g} s of each other"
                ],
            )


def most_within(starts: list[float], window: float) -> int:
    """The largest number of sorted start times that fit in one window."""
    best, lo = 0, 0
    for hi, start in enumerate(starts):
        while start - starts[lo] > window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
