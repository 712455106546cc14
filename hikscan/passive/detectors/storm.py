"""Failed-connection storms: many unanswered attempts to one destination (the Fiumicino rate).

Per external destination, over every local device that tried it: attempts (TCP connections, UDP beats)
and failed attempts (a TCP connection whose SYN got nothing back, UDP beats of a flow that never got
a reply). Fires when the failed attempts reach `storm.min_failed`, are at least `storm.min_failed_share`
of all attempts, span at least `storm.min_span_seconds` (a sustained storm, not a burst of parallel
connects or P2P hole punching) and come at `storm.min_rate_per_hour` or faster. One finding per
destination: the device, or — when several devices storm it — all of them as members.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from hikscan.knowledge.policy import storm_rate
from hikscan.passive.contacts import Contact
from hikscan.passive.contactstore import register_state, unpacked
from hikscan.passive.detectors.base import EngineView
from hikscan.passive.detectors.sides import answered
from hikscan.passive.flows import Flow
from hikscan.report.model import Finding, Remote

_INF, _NEG_INF = float("inf"), float("-inf")
_PACKED = struct.Struct("<qqdd")


class _Tally:
    """One pair's attempts and failures, kept on its Contact (`contact.storm`)."""

    __slots__ = ("attempts", "failed", "first_failed", "last_failed")

    def __init__(self) -> None:
        self.attempts = self.failed = 0
        self.first_failed, self.last_failed = _INF, _NEG_INF  # shared floats: one pair per contact is 48 B

    def add(self, flow: Flow) -> None:
        tried = max(flow.beats, 1) if flow.proto == 17 else 1
        self.attempts += tried
        if not answered(flow):
            self.failed += tried
            self.first_failed = min(self.first_failed, flow.first_seen)
            self.last_failed = max(self.last_failed, flow.last_seen)

    def merged(self, other: _Tally) -> _Tally:
        out = _Tally()
        out.attempts, out.failed = self.attempts + other.attempts, self.failed + other.failed
        out.first_failed = min(self.first_failed, other.first_failed)
        out.last_failed = max(self.last_failed, other.last_failed)
        return out

    def pack(self) -> bytes:
        return _PACKED.pack(self.attempts, self.failed, self.first_failed, self.last_failed)

    @classmethod
    def unpack(cls, data: bytes) -> _Tally:
        out = cls()
        out.attempts, out.failed, out.first_failed, out.last_failed = _PACKED.unpack(data)
        return out


register_state("storm", _Tally.unpack)


class _Storm:
    """One destination's attempts and failures over every local host, and each failing host's failures."""

    __slots__ = ("attempts", "failed", "failing", "first", "last")

    def __init__(self) -> None:
        self.attempts = self.failed = 0
        self.first, self.last = _INF, _NEG_INF
        self.failing: dict[str, int] = {}  # host → failed attempts, for hosts with any

    def add(self, host: str, tally: _Tally) -> None:
        self.attempts += tally.attempts
        self.failed += tally.failed
        self.first = min(self.first, tally.first_failed)
        self.last = max(self.last, tally.last_failed)
        if tally.failed:
            self.failing[host] = tally.failed


class Storm:
    name = "storm"
    per_device = False  # a storm is many devices' contacts with one remote

    def on_flow(self, flow: Flow, contact: Contact | None, view: EngineView) -> None:
        if contact is not None:
            if contact.storm is None:
                contact.storm = _Tally()
            tally = contact.storm = unpacked("storm", contact.storm)  # packed if read back from the store
            tally.add(flow)

    def _open(self, view: EngineView) -> dict[tuple[str, str], _Tally]:
        """What the still-open flows (live monitoring) add per pair, not kept. An open flow's contact is in
        the table, so every tally is reached through view.contacts()."""
        extra: dict[tuple[str, str], _Tally] = {}
        for flow in view.open_flows():
            contact = view.opened_contact(flow)
            if contact is not None:
                extra.setdefault((contact.host, contact.remote), _Tally()).add(flow)
        return extra

    def _tallies(
        self, view: EngineView, extra: dict[tuple[str, str], _Tally]
    ) -> Iterator[tuple[Contact, _Tally]]:
        """Each contact's tally, with what the open flows add (`_open`)."""
        for contact in view.contacts():
            tally = unpacked("storm", contact.storm)
            more = extra.get((contact.host, contact.remote)) if extra else None
            if tally is not None:
                yield contact, tally.merged(more) if more is not None else tally
            elif more is not None:
                yield contact, more

    def _by_remote(self, view: EngineView, min_failed: int) -> dict[str, _Storm]:
        """remote → its storm, for the remotes with at least `min_failed` failures in all. Two passes over
        the contacts: totals per remote, then the totals and failing hosts of those few remotes (a count
        per failing host, not a tally per pair: a storm of many devices on many remotes stays small)."""
        extra = self._open(view)
        failed: dict[str, int] = {}
        for contact, tally in self._tallies(view, extra):
            failed[contact.remote] = failed.get(contact.remote, 0) + tally.failed
        stormed = {r: _Storm() for r, n in failed.items() if n >= min_failed}
        del failed
        if stormed:
            hosts: dict[str, str] = {}  # one string per host (each contact read back brings its own)
            for contact, tally in self._tallies(view, extra):
                storm = stormed.get(contact.remote)
                if storm is not None:
                    storm.add(hosts.setdefault(contact.host, contact.host), tally)
        return stormed

    def findings(self, view: EngineView, earlier: list[Finding]) -> Iterator[Finding]:
        policy = view.policy
        if not policy.rules_for(self.name):
            return
        for remote_ip, storm in self._by_remote(view, policy.storm.min_failed).items():
            failed, attempts, first, last = storm.failed, storm.attempts, storm.first, storm.last
            failing = storm.failing
            stormers = sorted(failing)
            devices = {h: view.device(h) for h in stormers}
            cctv = any(view.is_cctv(d) for d in devices.values())
            verdict = policy.storm_alert(cctv, failed, attempts, last - first)
            if verdict is None:
                continue
            worst = max(stormers, key=lambda h: (failing[h], h))
            contact = view.contact(worst, remote_ip)
            if contact is None:
                continue
            match = view.cloud(contact)
            if view.allowed(contact, match):
                continue
            rule = policy.rules[verdict[0]]
            rate = storm_rate(failed, last - first)
            evidence = [
                f"{failed} of {attempts} attempts unanswered ({failed / attempts:.0%}) between the first and "
                f"last failure {last - first:.0f} s apart: {rate:.0f} failed attempts per hour",
                f"{len(stormers)} device(s) failing: "
                + ", ".join(f"{h} ({failing[h]})" for h in stormers[:20])
                + (" …" if len(stormers) > 20 else ""),
            ]
            if match.names:
                evidence.append(f"reached as {match.name}")
            else:
                evidence.append("no DNS name, SNI or Host for this address in the capture")
            remote = view.remote(contact, match)
            if len(stormers) == 1:
                finding = view.finding(rule, contact, devices[worst], remote, evidence)
            else:
                finding = _group_finding(
                    rule.severity, rule.id, rule.description, view, stormers, remote, evidence
                )
            finding.onset = first
            finding.rate_per_hour = round(rate, 1)
            finding.metrics = {"failed": failed, "attempts": attempts, "devices": len(stormers)}
            yield finding


def _group_finding(
    severity: str,
    rule: str,
    title: str,
    view: EngineView,
    members: list[str],
    remote: Remote,
    evidence: list[str],
) -> Finding:
    """One finding naming every device that stormed the destination."""
    contacts = [c for h in members if (c := view.contact(h, remote.ip)) is not None]
    vendors = {d.vendor for h in members if (d := view.device(h)) is not None and d.vendor}
    return Finding(
        severity=severity,
        rule=rule,
        title=title,
        device={
            "ip": None,
            "mac": None,
            "vendor": vendors.pop() if len(vendors) == 1 else None,
            "count": len(members),
            "members": members,
        },
        remote=remote,
        first_seen=min(c.first for c in contacts),
        last_seen=max(c.last for c in contacts),
        packets=sum(c.packets for c in contacts),
        bytes=sum(c.bytes for c in contacts),
        evidence=evidence,
        flows=sum(c.flows for c in contacts),
    )
