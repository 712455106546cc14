"""Per-device timeline: first and last contact with each external destination, in order of first contact.

Built from the contact table at report time (nothing more is kept while reading): one entry per
(device, remote) with its best name, flows, failed attempts (flows the device opened that were never
answered), server ports and whether the destination is new since the baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hikscan.passive.baseline import Novelty
from hikscan.passive.contacts import Contact
from hikscan.report.model import iso_time

MAX_TIMELINE = 256  # entries per device (the earliest first contacts); the rest are counted


def timeline(
    contacts: list[Contact], name_of: Callable[[Contact], list[str]], novelty: Novelty
) -> tuple[list[dict[str, Any]], int]:
    """(entries, entries left out) for one device's contacts."""
    ordered = sorted(contacts, key=lambda c: (c.first, c.remote))
    entries = []
    for contact in ordered[:MAX_TIMELINE]:
        names = name_of(contact)
        entries.append(
            {
                "remote": contact.remote,
                "name": names[0] if names else None,
                "first_seen": iso_time(contact.first),
                "last_seen": iso_time(contact.last),
                "flows": contact.flows,
                "failed": max(0, contact.attempts - contact.answered),
                "ports": contact.port_list()[:4],
                "new": novelty.remote_is_new(contact.remote, names),
            }
        )
    return entries, max(0, len(ordered) - MAX_TIMELINE)
