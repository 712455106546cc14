"""The detectors' findings as report records: each made once, capped per device (report.capped), encoded,
spooled (report.spool) and read back in report order, by one process or by several, each making a share of
the devices (passive.shares)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from hikscan.passive.baseline import Novelty
from hikscan.passive.shares import can_share, shared_records, shares_for
from hikscan.report.capped import CappedOrder
from hikscan.report.model import Finding, severity_rank
from hikscan.report.spool import SortedSpool

if TYPE_CHECKING:
    from hikscan.passive.engine import Engine

T = TypeVar("T")
MAX_FINDINGS_PER_DEVICE = 256  # beyond this a device's least severe findings are counted, not listed


def finding_records(
    engine: Engine, encode: Callable[[Finding], T], new_spool: Callable[[], SortedSpool[T]], jobs: int
) -> tuple[Iterator[T], dict[str, int]]:
    """Engine.finding_records: the records in report order, and the findings folded per device."""
    engine.novelty()  # made before any fork: every share reads it

    def make(spool: SortedSpool[T], share: Callable[[str], bool] | None) -> CappedOrder:
        return made_records(engine, encode, spool, share)

    table = engine.contact_table
    shares = shares_for(jobs, len(table)) if jobs > 1 and can_share(table.spilled) else 1
    if shares > 1:
        return shared_records(make, new_spool, shares)
    spool = new_spool()
    order = make(spool, None)
    return spool.in_order(order.order()), order.folded()


def made_records(
    engine: Engine,
    encode: Callable[[Finding], T],
    spool: SortedSpool[T],
    share: Callable[[str], bool] | None = None,
) -> CappedOrder:
    """The detectors' findings (of the devices `share` takes; all by default, and "" is the device of a
    finding without one) capped per device, the kept ones appended to `spool` as `encode(finding)`; the
    order lists them. A detector that says it is `per_device` sees only those devices' contacts."""
    order = CappedOrder(MAX_FINDINGS_PER_DEVICE)
    novelty = engine.novelty()
    for detector in engine.detectors:
        engine.contact_share = share if detector.per_device else None
        try:
            for finding in detector.findings(engine, []):
                ip = finding.device.get("ip") or ""
                if share is not None and not share(ip):
                    continue
                if not order.admit(severity_rank(finding.severity), finding.first_seen, ip):
                    continue
                if finding.new_destination is None:  # "new since the baseline": a fact in every finding
                    finding.new_destination = _is_new(engine, finding, novelty)
                spool.append(encode(finding))
        finally:
            engine.contact_share = None
    return order


def _is_new(engine: Engine, finding: Finding, novelty: Novelty) -> bool | None:
    return novelty.remote_is_new(finding.remote.ip, _names_reached(engine, finding))


def _names_reached(engine: Engine, finding: Finding) -> Iterator[str]:
    """The names the finding's remote was reached by, looked up only if the novelty test reads them (not
    without a baseline, nor for a known address)."""
    ip = finding.device.get("ip")
    names = [name for name, _source in engine.names.names_for(ip, finding.remote.ip)] if ip else []
    if finding.remote.name and not names:
        names = [finding.remote.name]
    yield from names
