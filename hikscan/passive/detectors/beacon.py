"""Beaconing: a device contacting one external address at regular intervals with near-constant sizes.

Per (device, remote) the detector logs each attempt the device made — a TCP connection (answered or
not: a SYN that nobody answers counts) or a UDP beat (a datagram after a second of silence, see
passive.flows; a keep-alive with no reply counts) — with its client bytes, and scores the series as
RITA does (hikscan.knowledge.beaconscore). A pair fires when it has at least `beacon.min_events` attempts
and scores at least `beacon.min_score`, and nothing else explains the destination: no vendor-cloud rule,
not allowed by policy, and (with `beacon.unnamed_only`) no DNS name, SNI or Host for it in the capture.
Time and name service ports (`beacon.ignore_ports`) are periodic by design and never scored.

Memory: at most `beacon.max_events` attempts per pair and MAX_EVENTS over all pairs (then counted only);
the log lives on the pair's Contact, so the pairs are bounded by the contact table.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

from hikscan.knowledge.beaconscore import beacon_score
from hikscan.knowledge.policy import Policy
from hikscan.passive.contacts import Contact
from hikscan.passive.detectors.base import EngineView
from hikscan.passive.detectors.sides import answered, attempts
from hikscan.passive.flows import Flow
from hikscan.report.model import Finding

MAX_EVENTS = 2_000_000  # all pairs together: 16 bytes each


class _Log:
    """One pair's attempts, kept on its Contact (`contact.beacon`)."""

    __slots__ = ("answered", "count", "marks")

    def __init__(self) -> None:
        self.marks = array("d")  # time, bytes, time, bytes, …
        self.count = 0  # attempts, logged or not
        self.answered = 0  # flows the remote answered

    def copy(self) -> _Log:
        out = _Log()
        out.marks.extend(self.marks)
        out.count, out.answered = self.count, self.answered
        return out


class Beacon:
    name = "beacon"

    def __init__(self) -> None:
        self.events = 0
        self.dropped = 0  # attempts not logged (caps)

    def on_flow(self, flow: Flow, contact: Contact | None, view: EngineView) -> None:
        if contact is not None and self._counts(flow, view):
            if contact.beacon is None:
                contact.beacon = _Log()
            self._add(contact.beacon, flow, view, True)

    def _counts(self, flow: Flow, view: EngineView) -> bool:
        policy = view.policy
        return flow.server_port not in policy.beacon.ignore_ports and policy.emits(self.name)

    def _add(self, log: _Log, flow: Flow, view: EngineView, keep: bool) -> None:
        policy = view.policy
        tried = attempts(flow)
        log.count += max(flow.beats, 1) if flow.proto == 17 else 1  # beyond the flow's logged beats too
        log.answered += answered(flow)
        room = policy.beacon.max_events - len(log.marks) // 2
        if keep:
            room = min(room, MAX_EVENTS - self.events)
        events = len(tried) // 2
        kept = min(events, max(room, 0))
        log.marks.extend(tried if kept == events else tried[: 2 * kept])
        if keep:
            self.events += kept
            self.dropped += events - kept

    def _with_open(self, view: EngineView) -> Iterable[tuple[Contact, _Log]]:
        """The closed flows' logs, plus what the still-open flows add (live monitoring), not kept. An open
        flow's contact is in the table, so every log is reached through view.contacts()."""
        extra: dict[tuple[str, str], _Log] = {}
        for flow in view.open_flows():
            contact = view.opened_contact(flow)
            if contact is None or not self._counts(flow, view):
                continue
            key = (contact.host, contact.remote)
            if key not in extra:
                extra[key] = contact.beacon.copy() if contact.beacon is not None else _Log()
            self._add(extra[key], flow, view, False)
        for contact in view.contacts():
            log = extra.pop((contact.host, contact.remote), None) or contact.beacon
            if log is not None:
                yield contact, log

    def findings(self, view: EngineView, earlier: list[Finding]) -> Iterator[Finding]:
        policy: Policy = view.policy
        if not policy.rules_for(self.name):
            return
        start, end = view.capture_times()
        for contact, log in self._with_open(view):
            if log.count < policy.beacon.min_events or len(log.marks) < 6:
                continue
            host = contact.host
            times, sizes = log.marks[0::2], [int(s) for s in log.marks[1::2]]
            score = beacon_score(times, sizes, end - start)
            if score is None:
                continue
            device = view.device(host)
            verdict = policy.beacon_alert(view.is_cctv(device), log.count, score.score)
            if verdict is None:
                continue
            match = view.cloud(contact)
            if view.allowed(contact, match) or match.cloud is not None:
                continue
            if policy.beacon.unnamed_only and match.names:
                continue
            first, last = contact.first, contact.last
            rule = policy.rules[verdict[0]]
            evidence = [
                f"{log.count} attempts every {score.interval:g} s (median; MADM {score.interval_madm:g} s, "
                f"skew {score.interval_skew:g}), {score.size:g} bytes each "
                f"(median; MADM {score.size_madm:g})",
                f"RITA-style score {score.score:.3f} (intervals {score.interval_score:.3f}, sizes "
                f"{score.size_score:.3f}) >= beacon.min_score {policy.beacon.min_score:g}",
                "no DNS name, SNI or Host for this address in the capture"
                if not match.names
                else f"reached as {match.name}",
            ]
            if view.is_cctv(device) and device is not None and device.vendor:
                evidence.append(f"device {device.vendor}")
            finding = view.finding(rule, contact, device, view.remote(contact, match), evidence)
            finding.onset = first
            finding.rate_per_hour = round(log.count * 3600.0 / max(last - first, 1.0), 1)
            finding.metrics = {
                "score": score.score,
                "interval_s": round(score.interval, 3),
                "interval_madm_s": round(score.interval_madm, 3),
                "interval_skew": score.interval_skew,
                "size_bytes": score.size,
                "size_madm_bytes": score.size_madm,
                "size_skew": score.size_skew,
                "count_score": score.count_score,
                "attempts": log.count,
                "answered_flows": log.answered,
            }
            yield finding
