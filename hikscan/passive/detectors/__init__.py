"""Detectors: one module each, run in this order (a later one sees the findings of those before it).

Adding a detector: a module here with a class that has `name`, `per_device`, `on_flow` and `findings` (see
`base.Detector`), its entry in DETECTORS, its rule(s) in `rules/policy.yaml` with `detector: <name>`,
and tests.
"""

from __future__ import annotations

from hikscan.errors import RuleError
from hikscan.knowledge.policy import Policy
from hikscan.passive.detectors.base import Detector
from hikscan.passive.detectors.beacon import Beacon
from hikscan.passive.detectors.destination import Destination
from hikscan.passive.detectors.fleet import Fleet
from hikscan.passive.detectors.storm import Storm

DETECTORS: tuple[type[Detector], ...] = (Destination, Beacon, Storm, Fleet)


def build_detectors(policy: Policy) -> list[Detector]:
    """One instance of each detector; a policy rule naming no known detector is a RuleError."""
    names = {d.name for d in DETECTORS}
    for rule in policy.rules.values():
        if rule.detector not in names:
            raise RuleError(
                f"policy rule {rule.id}: unknown detector {rule.detector!r} (known: {sorted(names)})"
            )
    return [d() for d in DETECTORS]
