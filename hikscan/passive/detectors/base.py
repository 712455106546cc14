"""The detector interface: a detector sees flows as they close and the engine's view at report time.

A detector is one module in this folder with one class, listed in `hikscan.passive.detectors.DETECTORS`.
The policy rules it may emit are those in `rules/policy.yaml` whose `detector:` names it; their ids,
severities and titles come from there, and a rule with `status: deprecated` is never emitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from hikscan.knowledge.enrich import RemoteInfo
from hikscan.knowledge.policy import Policy, PolicyRule
from hikscan.knowledge.rules import CloudEndpoint, RuleSet
from hikscan.passive.baseline import Novelty
from hikscan.passive.contacts import Contact
from hikscan.passive.flows import Flow
from hikscan.report.model import Device, Finding, Remote


@dataclass(frozen=True, slots=True)
class CloudMatch:
    """What names and payload signatures say about a contact's remote: its best name and vendor cloud."""

    name: str | None = None
    cloud: CloudEndpoint | None = None
    signature: str | None = None
    names: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (name, where it came from)


class EngineView(Protocol):
    """What a detector may consult: contacts, devices, names, clouds and remote enrichment."""

    rules: RuleSet
    policy: Policy
    home_country: str

    def contacts(self) -> Iterable[Contact]: ...
    def contact(self, host: str, remote: str) -> Contact | None: ...
    def open_flows(self) -> Iterable[Flow]: ...
    def opened_contact(self, flow: Flow) -> Contact | None: ...
    def hold(self, nbytes: int) -> None: ...
    def capture_times(self) -> tuple[float, float]: ...
    def novelty(self) -> Novelty: ...
    def device(self, ip: str) -> Device | None: ...
    def is_cctv(self, device: Device | None) -> bool: ...
    def host_text(self, packed: bytes) -> str: ...
    def is_local(self, ip: str) -> bool: ...
    def cloud(self, contact: Contact) -> CloudMatch: ...
    def remote(self, contact: Contact, cloud: CloudMatch, info: RemoteInfo | None = None) -> Remote: ...
    def remote_info(self, ip: str) -> RemoteInfo: ...
    def allowed(self, contact: Contact, cloud: CloudMatch) -> bool: ...
    def finding(
        self, rule: PolicyRule, contact: Contact, device: Device | None, remote: Remote, evidence: list[str]
    ) -> Finding: ...


class Detector(Protocol):
    """One kind of finding. `on_flow` is optional work per closed flow; `findings` runs at report time
    (and every few seconds in `watch`), after the detectors listed before it.

    `on_flow` gets the flow's contact when a local host opened the flow to an external address (else
    None); state a detector keeps per (device, remote) lives on that Contact (see contacts.Contact), so
    it is bounded with the contact table and costs no key or lookup of its own. That state packs to bytes
    and merges with a later partial's (contactstore.PairState, registered with register_state): the
    table writes contacts to disk past its memory budget, and a state that grows says so with
    `view.hold(nbytes)`.

    `per_device`: each finding is one contact's, its device the contact's host, made from that contact
    and facts about its host and remote only. Then a report made in shares of the devices
    (passive.shares) shows the detector only the share's contacts; other detectors see them all and their
    findings are kept by their device's share."""

    name: str
    per_device: bool

    def on_flow(self, flow: Flow, contact: Contact | None, view: EngineView) -> None: ...

    def findings(self, view: EngineView, earlier: list[Finding]) -> Iterator[Finding]: ...
