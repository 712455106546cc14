"""Where each contact goes: the policy's destination table (high-risk country, vendor cloud, abroad).

One finding per (device, remote) at most: the first rule of `rules/policy.yaml` with
`detector: destination` whose `when` holds (see Policy.classify).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from hikscan.knowledge.enrich import RemoteInfo
from hikscan.knowledge.policy import PolicyRule
from hikscan.knowledge.ruleset import CloudEndpoint
from hikscan.passive.contacts import Contact
from hikscan.passive.detectors.base import EngineView
from hikscan.passive.flows import Flow
from hikscan.report.model import Device, Finding


class Destination:
    name = "destination"
    per_device = True

    def on_flow(self, flow: Flow, contact: Contact | None, view: EngineView) -> None:
        return None

    def findings(self, view: EngineView, earlier: list[Finding]) -> Iterator[Finding]:
        # Memos for this call only (contacts share remotes, devices and verdict facts): every value is a
        # pure function of its key while the report is built.
        verdicts: dict[tuple[bool, str | None, str | None, str | None], PolicyRule | None] = {}
        remote_lines: dict[str, list[str]] = {}
        device_lines: dict[str, tuple[list[str], list[str]]] = {}
        cctv_clouds: dict[str, bool] = {}
        for contact in view.contacts():
            match = view.cloud(contact)
            if view.allowed(contact, match):
                continue
            device = view.device(contact.host)
            info = view.remote_info(contact.remote)
            cloud = match.cloud
            if cloud is None:
                cloud_is_cctv = True
            else:
                cloud_is_cctv = cctv_clouds.get(cloud.vendor)  # type: ignore[assignment]
                if cloud_is_cctv is None:
                    cloud_is_cctv = cctv_clouds[cloud.vendor] = view.rules.vendor(cloud.vendor).cctv
            is_cctv = view.is_cctv(device)
            facts = (is_cctv, info.country, cloud.id if cloud is not None else None, info.owner_country)
            if facts in verdicts:
                rule = verdicts[facts]
            else:
                rule = verdicts[facts] = _rule(view, is_cctv, info, cloud, cloud_is_cctv)
            if rule is None:
                continue
            remote = view.remote(contact, match, info)
            evidence = [f"name {n} from {source}" for n, source in match.names]
            if cloud is not None:
                evidence.append(f"vendor cloud {cloud.service} (rule {cloud.id})")
            if match.signature is not None:
                evidence.append(f"payload signature {match.signature}")
            lines = None
            if device is not None:
                lines = device_lines.get(contact.host)
                if lines is None:
                    lines = device_lines[contact.host] = _device_lines(device)
                evidence.extend(lines[0])
            on_remote = remote_lines.get(contact.remote)
            if on_remote is None:
                on_remote = remote_lines[contact.remote] = info.evidence()
            evidence.extend(on_remote)
            if rule.when.get("remote") == "cctv-vendor-cloud" and lines is not None:
                evidence.extend(lines[1])
            if not contact.outbound:
                evidence.append("inbound: the external host opened the connection")
            yield view.finding(rule, contact, device, remote, evidence)


def _rule(
    view: EngineView, is_cctv: bool, info: RemoteInfo, cloud: CloudEndpoint | None, cloud_is_cctv: bool
) -> PolicyRule | None:
    """The destination rule for one combination of facts (Policy.classify), its severity applied."""
    policy = view.policy
    verdict = policy.classify(
        is_cctv,
        info.country,
        cloud,
        view.home_country,
        owner_country=info.owner_country,
        cloud_is_cctv=cloud_is_cctv,
    )
    if verdict is None:
        return None
    rule_id, severity = verdict
    rule = policy.rules[rule_id]
    if severity != rule.severity:  # severity_high_risk applied
        rule = replace(rule, severity=severity)
    return rule


def _device_lines(device: Device) -> tuple[list[str], list[str]]:
    """A device's evidence lines: the vendor line (if any), and its client software (User-Agents)."""
    vendor = (
        [f"device {device.vendor} by {', '.join(dict.fromkeys(device.matched_rules)) or 'rules'}"]
        if device.vendor
        else []
    )
    agents = sorted({e.value for e in device.evidence if e.key == "http.user_agent"})
    return vendor, [f"client software (User-Agent): {ua}" for ua in agents[:3]]
