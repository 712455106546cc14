"""The Italy pattern: several devices of one vendor family reaching the same NEW destination at once.

Needs no earlier finding and no name. Every contact a device opened counts, answered or not (Fiumicino's
connections mostly failed). A destination is an address, its network (`fleet.prefix_v4`/`prefix_v6`) or
a name the devices used for it; it is new when the baseline did not know it and none of the names the
devices used for it was known either: a cloud rotating its addresses is no new destination (baselines:
passive.baseline, from earlier reports or the first `baseline.learn_seconds` of the capture; without
either, nothing is new and this detector is silent). Devices are grouped by vendor family
(`fleet.group_by: family`) or all CCTV devices together (`cctv`). The rule fires when at least
`fleet.min_devices` devices of a group first reached one new destination within `fleet.window_seconds`:
one finding naming all the members, with the onset (the first member's first contact) and the attempt
rate since. Addresses first, then names, then networks; a name or network is reported only when it spans
addresses not already reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import NamedTuple

from hikscan.knowledge.policy import PolicyRule
from hikscan.passive.contacts import Contact
from hikscan.passive.detectors.base import EngineView
from hikscan.passive.flows import Flow
from hikscan.report.model import Device, Finding, iso_time

KINDS = ("ip", "name", "net")


class _Reach(NamedTuple):
    """What the finding needs of one contact (not the contact: a fleet can span many of them)."""

    host: str
    remote: str
    first: float
    last: float
    attempts: int
    answered: int
    packets: int
    bytes: int
    flows: int

    @classmethod
    def of(cls, c: Contact) -> _Reach:
        return cls(c.host, c.remote, c.first, c.last, c.attempts, c.answered, c.packets, c.bytes, c.flows)


class Fleet:
    name = "fleet"
    per_device = False  # a fleet is many devices

    def on_flow(self, flow: Flow, contact: Contact | None, view: EngineView) -> None:
        return None

    def _group(self, device: Device | None, view: EngineView) -> str | None:
        if not view.is_cctv(device) or device is None or device.vendor is None:
            return None
        if view.policy.fleet.group_by == "cctv":
            return "cctv"
        return view.rules.vendor(device.vendor).family

    def findings(self, view: EngineView, earlier: list[Finding]) -> Iterator[Finding]:
        policy = view.policy
        rules = policy.rules_for(self.name)
        novelty = view.novelty()
        if not rules or novelty.known is None:
            return
        rule, fleet = rules[0], policy.fleet
        # (group, kind, key) → host → that host's contacts with the destination
        groups: dict[tuple[str, str, str], dict[str, list[_Reach]]] = defaultdict(lambda: defaultdict(list))
        group_of: dict[str, str | None] = {}  # host → its group (one device lookup per host)
        for contact in view.contacts():
            if contact.attempts < fleet.min_attempts:
                continue
            host = contact.host
            if host not in group_of:
                group_of[host] = self._group(view.device(host), view)
            group = group_of[host]
            if group is None:
                continue
            match = view.cloud(contact)
            if view.allowed(contact, match):
                continue
            names = [n.lower().rstrip(".") for n, _ in match.names]
            if any(not novelty.is_new("name", n) for n in names):
                continue  # reached by a known name: a known service on a new address (DNS rotation)
            keys = [("ip", contact.remote)] + [("name", n) for n in names]
            net = novelty.net(contact.remote)
            if net is not None:
                keys.append(("net", net))
            reach = None
            for kind, key in keys:
                if novelty.is_new(kind, key):
                    reach = reach or _Reach.of(contact)
                    groups[(group, kind, key)][contact.host].append(reach)
        reported: set[str] = set()
        for kind in KINDS:
            for (group, k, key), members in sorted(groups.items()):
                if k != kind:
                    continue
                finding = self._finding(view, rule, group, kind, key, members, reported, novelty.mode)
                if finding is not None:
                    yield finding

    def _finding(
        self,
        view: EngineView,
        rule: PolicyRule,
        group: str,
        kind: str,
        key: str,
        members: dict[str, list[_Reach]],
        reported: set[str],
        mode: str,
    ) -> Finding | None:
        fleet = view.policy.fleet
        onsets = {host: min(c.first for c in contacts) for host, contacts in members.items()}
        best = most_within(sorted(onsets.values()), fleet.window_seconds)
        if best < fleet.min_devices:
            return None
        contacts = [c for cs in members.values() for c in cs]
        remotes = {c.remote for c in contacts}
        if kind != "ip" and remotes <= reported:
            return None
        reported |= remotes
        best_reach = max(contacts, key=lambda c: (c.attempts, c.remote))
        main = view.contact(best_reach.host, best_reach.remote)
        if main is None:
            return None
        match = view.cloud(main)
        remote = view.remote(main, match)
        onset = min(onsets.values())
        last = max(c.last for c in contacts)
        attempts = sum(c.attempts for c in contacts)
        answered = sum(min(c.answered, c.attempts) for c in contacts)
        rate = attempts * 3600.0 / max(last - onset, 60.0)
        vendors = sorted({d.vendor for h in members if (d := view.device(h)) is not None and d.vendor})
        what = {"ip": f"address {key}", "name": f"name {key}", "net": f"network {key}"}[kind]
        since = "the baseline reports" if mode == "baseline" else "the capture's first minutes (baseline)"
        evidence = [
            f"{len(onsets)} {group} devices reached the new {what} ({best} within {fleet.window_seconds:g} s "
            f"of each other); onset {iso_time(onset)}",
            f"{attempts} attempts since the onset, {attempts - answered} unanswered: {rate:.0f} per hour",
            f"new: not seen in {since}",
        ]
        if len(remotes) > 1:
            evidence.append(f"{len(remotes)} addresses: " + ", ".join(sorted(remotes)[:10]))
        if not match.names:
            evidence.append("no DNS name, SNI or Host for it in the capture")
        return Finding(
            severity=rule.severity,
            rule=rule.id,
            title=rule.description,
            device={
                "ip": None,
                "mac": None,
                "vendor": vendors[0] if len(vendors) == 1 else None,
                "family": group,
                "count": len(onsets),
                "members": sorted(onsets),
            },
            remote=remote,
            first_seen=onset,
            last_seen=last,
            packets=sum(c.packets for c in contacts),
            bytes=sum(c.bytes for c in contacts),
            evidence=evidence,
            flows=sum(c.flows for c in contacts),
            new_destination=True,
            onset=onset,
            rate_per_hour=round(rate, 1),
            metrics={
                "attempts": attempts,
                "unanswered": attempts - answered,
                "devices": len(onsets),
                "key": key,
            },
        )


def most_within(starts: list[float], window: float) -> int:
    """The largest number of sorted start times that fit in one window."""
    best, lo = 0, 0
    for hi, start in enumerate(starts):
        while start - starts[lo] > window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
