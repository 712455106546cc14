"""Beaconing: a device contacting one external address at regular intervals with near-constant sizes.

Per (device, remote) the detector logs each attempt the device made — a TCP connection (answered or
not: a SYN that nobody answers counts) or a UDP beat (a datagram after a second of silence, see
passive.flows; a keep-alive with no reply counts) — with its client bytes, and scores the series as
RITA does (hikscan.knowledge.beaconscore). A pair fires when it has at least `beacon.min_events` attempts
and scores at least `beacon.min_score`, and nothing else explains the destination: no vendor-cloud rule,
not allowed by policy, and (with `beacon.unnamed_only`) no DNS name, SNI or Host for it in the capture.
Time and name service ports (`beacon.ignore_ports`) are periodic by design and never scored.

Memory: at most `beacon.max_events` attempts per pair (then counted only); the log lives on the pair's
Contact and declares its bytes (`view.hold`), so the contact table moves it to disk with the contact when
memory is full, and merges a pair's logs in order when the report reads it.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable, Iterator

from hikscan.knowledge.beaconscore import beacon_score
from hikscan.knowledge.policy import Policy
from hikscan.passive.contacts import Contact
from hikscan.passive.contactstore import register_state, unpacked
from hikscan.passive.detectors.base import EngineView
from hikscan.passive.detectors.sides import answered, attempts
from hikscan.passive.flows import Flow
from hikscan.report.model import Finding

MARK_BYTES = 16  # one attempt: time and bytes, two doubles
_HEAD = struct.Struct("<qqq")


class _Log:
    """One pair's attempts, kept on its Contact (`contact.beacon`): at most `limit` of them logged."""

    __slots__ = ("answered", "count", "limit", "marks")

    def __init__(self, limit: int) -> None:
        self.marks = array("d")  # time, bytes, time, bytes, …
        self.count = 0  # attempts, logged or not
        self.answered = 0  # flows the remote answered
        self.limit = limit

    def copy(self) -> _Log:
        out = _Log(self.limit)
        out.marks.extend(self.marks)
        out.count, out.answered = self.count, self.answered
        return out

    def pack(self) -> bytes:
        return _HEAD.pack(self.count, self.answered, self.limit) + self.marks.tobytes()

    @classmethod
    def unpack(cls, data: bytes) -> _Log:
        count, answered, limit = _HEAD.unpack_from(data)
        out = cls(limit)
        out.count, out.answered = count, answered
        out.marks.frombytes(data[_HEAD.size :])
        return out

    def merged(self, later: _Log) -> _Log:
        """This log followed by a later one of the same pair, as one log would have logged them (in
        place: only the store merges logs, on copies it unpacked)."""
        room = self.limit - len(self.marks) // 2
        if room > 0:
            self.marks.extend(later.marks[: 2 * room])
        self.count += later.count
        self.answered += later.answered
        return self


register_state("beacon", _Log.unpack)


class Beacon:
    name = "beacon"
    per_device = True

    def on_flow(self, flow: Flow, contact: Contact | None, view: EngineView) -> None:
        if contact is not None and self._counts(flow, view):
            if contact.beacon is None:
                contact.beacon = _Log(view.policy.beacon.max_events)
            log = contact.beacon = unpacked("beacon", contact.beacon)  # packed if read back from the store
            kept = self._add(log, flow)
            view.hold(MARK_BYTES * kept)

    def _counts(self, flow: Flow, view: EngineView) -> bool:
        policy = view.policy
        return flow.server_port not in policy.beacon.ignore_ports and policy.emits(self.name)

    def _add(self, log: _Log, flow: Flow) -> int:
        """Log a closed flow's attempts; returns how many were logged (not past the log's limit)."""
        tried = attempts(flow)
        log.count += max(flow.beats, 1) if flow.proto == 17 else 1  # beyond the flow's logged beats too
        log.answered += answered(flow)
        events = len(tried) // 2
        kept = min(events, max(log.limit - len(log.marks) // 2, 0))
        log.marks.extend(tried if kept == events else tried[: 2 * kept])
        return kept

    def _with_open(self, view: EngineView) -> Iterable[tuple[Contact, _Log]]:
        """The closed flows' logs, plus what the still-open flows add (live monitoring), not kept. An open
        flow's contact is in the table, so every log is reached through view.contacts()."""
        extra: dict[tuple[str, str], _Log] = {}
        max_events = view.policy.beacon.max_events
        for flow in view.open_flows():
            contact = view.opened_contact(flow)
            if contact is None or not self._counts(flow, view):
                continue
            key = (contact.host, contact.remote)
            if key not in extra:
                log = unpacked("beacon", contact.beacon)
                extra[key] = log.copy() if log is not None else _Log(max_events)
            self._add(extra[key], flow)
        for contact in view.contacts():
            log = extra.pop((contact.host, contact.remote), None) or unpacked("beacon", contact.beacon)
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
