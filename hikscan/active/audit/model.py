"""What an audit of one device produced: settings read, evidence, verdicts, and why it stopped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hikscan.errors import MalformedInput
from hikscan.report.model import Evidence

# Why a host's audit ended. "ok": every reader finished; "partial": some endpoints failed.
# "failed": the device answered but no read succeeded; "hostile": a reply broke a bound.
STATUSES = (
    "ok",
    "partial",
    "failed",
    "auth_failed",
    "locked",
    "refused",
    "hostile",
    "unreachable",
    "no_credentials",
    "unsupported",
)


Body = bytes  # a reply body (the name `bytes` is a field of AuditResult below)


@dataclass
class AuditResult:
    """One device's audit. `settings` is normalised across protocols (see readers.py)."""

    ip: str
    protocol: str | None = None  # isapi | dahua | onvif
    status: str = "ok"
    reason: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    read: list[str] = field(default_factory=list)  # endpoints that answered and parsed
    errors: list[str] = field(default_factory=list)  # "endpoint: why" for the ones that did not
    evidence: list[Evidence] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    bytes: int = 0
    retry_after: int | None = None

    def take(self, what: str, status: int, body: Body, apply: Callable[[Body], None]) -> None:
        """One endpoint's reply: applied (and listed as read), or its failure listed as an error."""
        if status != 200:
            self.errors.append(f"{what}: HTTP {status}")
            return
        try:
            apply(body)
        except MalformedInput as exc:
            self.errors.append(f"{what}: {exc}")
            return
        self.read.append(what)

    def note(self, source: str, key: str, value: object) -> None:
        """Record one setting as evidence (`audit.<area>.<name>`), skipping unknowns."""
        if value is None or value == "":
            return
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        self.evidence.append(Evidence(source, key, text[:256]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "status": self.status,
            "reason": self.reason,
            "settings": self.settings,
            "verdicts": self.verdicts,
            "read": self.read,
            "errors": self.errors,
            "evidence": [e.to_dict() for e in self.evidence],
            "requests": self.requests,
            "bytes": self.bytes,
            "retry_after": self.retry_after,
        }
