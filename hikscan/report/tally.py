"""What a report's summary counts about its findings (by severity, by rule, by remote country; the worst
severity), kept apart from the records: a worker process counts its own as it makes them and the parent adds
the counts up, so a parent that only copies the records' JSON text never decodes them to count them.

Counting A then B, and counting A and B apart then merging B into A, give the same counters with their keys
in the same order (first seen first), so the summary's `most_common()` lists tie the same way either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from hikscan.report.model import Finding, severity_rank

Facts = tuple[str, str, str | None]  # severity, rule, the remote's country (None: a fleet finding)


def finding_facts(record: dict[str, Any]) -> Facts:
    """What the tally needs from one finding record (a fleet finding, with members, has no one remote)."""
    country = None if record["device"].get("members") else record["remote"].get("country") or "??"
    return record["severity"], record["rule"], country


def facts_of(finding: Finding) -> Facts:
    """`finding_facts` of the finding's record, from the Finding itself."""
    country = None if finding.device.get("members") else finding.remote.country or "??"
    return finding.severity, finding.rule, country


class FindingTally:
    """Findings counted one at a time (`add`), or several tallies added up in order (`merge`)."""

    __slots__ = ("by_rule", "by_severity", "count", "countries", "worst")

    def __init__(self) -> None:
        self.count = 0
        self.by_severity: Counter[str] = Counter()
        self.by_rule: Counter[str] = Counter()
        self.countries: Counter[str] = Counter()
        self.worst = -1  # severity rank of the worst finding; -1: none

    def add(self, facts: Facts) -> None:
        severity, rule, country = facts
        self.count += 1
        self.by_severity[severity] += 1
        self.by_rule[rule] += 1
        self.worst = max(self.worst, severity_rank(severity))
        if country is not None:
            self.countries[country] += 1

    def add_counts(self, counts: dict[Facts, int]) -> None:
        """`n` findings of each facts, in the order the facts were first seen: the same counters, keys in
        the same order, as adding the findings one at a time (each key first appears with its facts)."""
        for (severity, rule, country), n in counts.items():
            self.count += n
            self.by_severity[severity] += n
            self.by_rule[rule] += n
            self.worst = max(self.worst, severity_rank(severity))
            if country is not None:
                self.countries[country] += n

    def merge(self, other: FindingTally) -> None:
        """Count `other`'s findings after these (Counter.update keeps first-seen key order)."""
        self.count += other.count
        self.by_severity.update(other.by_severity)
        self.by_rule.update(other.by_rule)
        self.countries.update(other.countries)
        self.worst = max(self.worst, other.worst)


def counted(records: Iterable[tuple[bytes, Facts]], tally: FindingTally) -> Iterator[bytes]:
    """Each record's text; their facts are added to `tally` when the records are all read (or the reading
    stops): counted per distinct facts as they pass, one dict update each instead of a tally's four."""
    counts: dict[Facts, int] = {}
    try:
        for text, facts in records:
            counts[facts] = counts.get(facts, 0) + 1
            yield text
    finally:
        tally.add_counts(counts)
