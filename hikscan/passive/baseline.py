"""What was normal before: "new destination" as a fact, from earlier reports or the start of the capture.

Two sources, never mixed:
- `--baseline REPORT.json` (or a directory of reports, JSON or JSONL as `hikscan analyze` writes them):
  every remote address, name and network named in their findings and device timelines was known.
- without one, the first `baseline.learn_seconds` of capture time (rules/policy.yaml says how much and
  why): a destination first contacted inside that period was known; one first contacted later is new.
  A capture shorter than the period has no baseline, and "new" is unknown (None), not guessed.

Keys are of three kinds, so a fleet can meet on an address, a network (/24, /48) or a name.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hikscan.errors import UsageError
from hikscan.passive.contacts import Contact

MAX_BASELINE_BYTES = 256 * 2**20  # per report file
MAX_KEYS = 1_000_000  # remembered keys of each kind
REPORT_SUFFIXES = (".json", ".jsonl")


def network_of(ip: str, prefix_v4: int = 24, prefix_v6: int = 48) -> str | None:
    """The network key of an address ("116.62.10.0/24"), None if it is no address."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = prefix_v4 if addr.version == 4 else prefix_v6
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


@dataclass
class Baseline:
    """Destinations an earlier report saw: addresses, names (lower case) and the files they came from."""

    ips: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)

    def add(self, ip: Any, name: Any) -> None:
        if isinstance(ip, str) and len(self.ips) < MAX_KEYS:
            self.ips.add(ip)
        if isinstance(name, str) and name and len(self.names) < MAX_KEYS:
            self.names.add(name.lower().rstrip("."))

    def add_record(self, record: dict[str, Any]) -> None:
        """One finding or device record of a report (JSON object)."""
        remote = record.get("remote")
        if isinstance(remote, dict) and not (record.get("device") or {}).get("members"):
            self.add(remote.get("ip"), remote.get("name"))
        for entry in record.get("timeline") or ():
            if isinstance(entry, dict):
                self.add(entry.get("remote"), entry.get("name"))

    @classmethod
    def load(cls, paths: Iterable[Path]) -> Baseline:
        """Read reports (files, or directories of .json/.jsonl); a file that is no report is a UsageError."""
        baseline = cls()
        for path in _expand(paths):
            baseline.sources.append(str(path))
            for record in _records(path):
                baseline.add_record(record)
        return baseline


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES)
            if not found:
                raise UsageError(f"--baseline {path}: no .json or .jsonl reports in this directory")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise UsageError(f"--baseline {path}: no such file or directory")
    return out


def _records(path: Path) -> Iterable[dict[str, Any]]:
    """The finding and device records of one report."""
    if path.stat().st_size > MAX_BASELINE_BYTES:
        raise UsageError(f"--baseline {path}: larger than {MAX_BASELINE_BYTES >> 20} MiB")
    try:
        text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith("{") and '"findings"' in text[:200]:
            doc = json.loads(text)
            records = [*doc.get("findings", []), *doc.get("devices", [])]
        else:
            lines = (json.loads(line) for line in text.splitlines() if line.strip())
            records = [r for r in lines if isinstance(r, dict) and r.get("type") in ("finding", "device")]
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise UsageError(
            f"--baseline {path}: not a hikscan JSON/JSONL report ({exc.__class__.__name__})"
        ) from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise UsageError(f"--baseline {path}: not a hikscan JSON/JSONL report")
    return records


class _View(Protocol):
    def contacts(self) -> Iterable[Contact]: ...
    def names_of(self, contact: Contact) -> list[str]: ...


class Novelty:
    """Which destinations are new: `is_new(kind, key)` for kind "ip", "net" or "name"; None = unknown."""

    def __init__(self, known: dict[str, set[str]] | None, mode: str, prefixes: tuple[int, int]) -> None:
        self.known = known  # None: no baseline to judge by
        self.mode = mode  # "baseline" (earlier reports), "capture-start", or "none"
        self.prefixes = prefixes

    def is_new(self, kind: str, key: str) -> bool | None:
        if self.known is None:
            return None
        return key not in self.known[kind]

    def remote_is_new(self, ip: str, names: Iterable[str]) -> bool | None:
        """A destination is new when neither its address nor any name it was reached by was known."""
        if self.known is None:
            return None
        return ip not in self.known["ip"] and not any(
            n.lower().rstrip(".") in self.known["name"] for n in names
        )

    def net(self, ip: str) -> str | None:
        return network_of(ip, *self.prefixes)

    @classmethod
    def build(
        cls,
        view: _View,
        baseline: Baseline | None,
        start: float,
        end: float,
        learn_seconds: float,
        prefixes: tuple[int, int] = (24, 48),
    ) -> Novelty:
        """From the earlier reports when given; else from the first `learn_seconds` of [start, end]."""
        if baseline is not None:
            nets = {n for ip in baseline.ips if (n := network_of(ip, *prefixes)) is not None}
            return cls(
                {"ip": set(baseline.ips), "name": set(baseline.names), "net": nets}, "baseline", prefixes
            )
        if end - start < learn_seconds:
            return cls(None, "none", prefixes)
        learn_end = start + learn_seconds
        known: dict[str, set[str]] = {"ip": set(), "name": set(), "net": set()}
        for contact in view.contacts():
            if contact.first > learn_end:
                continue
            known["ip"].add(contact.remote)
            net = network_of(contact.remote, *prefixes)
            if net is not None:
                known["net"].add(net)
            for name in view.names_of(contact):
                known["name"].add(name.lower().rstrip("."))
        return cls(known, "capture-start", prefixes)
