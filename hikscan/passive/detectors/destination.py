"""Where each contact goes: the policy's destination table (high-risk country, vendor cloud, abroad).

One finding per (device, remote) at most: the first rule of `rules/policy.yaml` with
`detector: destination` whose `when` holds (see Policy.classify).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from hikscan.passive.detectors.base import EngineView
from hikscan.passive.flows import Flow
from hikscan.report.model import Finding


class Destination:
    name = "destination"

    def on_flow(self, flow: Flow, view: EngineView) -> None:
        return None

    def findings(self, view: EngineView, earlier: list[Finding]) -> Iterator[Finding]:
        policy = view.policy
        for contact in view.contacts():
            match = view.cloud(contact)
            if view.allowed(contact, match):
                continue
            device = view.device(contact.host)
            info = view.remote_info(contact.remote)
            cloud = match.cloud
            verdict = policy.classify(
                view.is_cctv(device),
                info.country,
                cloud,
                view.home_country,
                owner_country=info.owner_country,
                cloud_is_cctv=cloud is None or view.rules.vendor(cloud.vendor).cctv,
            )
            if verdict is None:
                continue
            rule_id, severity = verdict
            rule = policy.rules[rule_id]
            if severity != rule.severity:  # severity_high_risk applied
                rule = replace(rule, severity=severity)
            remote = view.remote(contact, match)
            evidence = [f"name {n} from {source}" for n, source in match.names]
            if match.cloud is not None:
                evidence.append(f"vendor cloud {match.cloud.service} (rule {match.cloud.id})")
            if match.signature is not None:
                evidence.append(f"payload signature {match.signature}")
            if device is not None and device.vendor:
                evidence.append(
                    f"device {device.vendor} by {', '.join(dict.fromkeys(device.matched_rules)) or 'rules'}"
                )
            evidence.extend(info.evidence())
            if rule.when.get("remote") == "cctv-vendor-cloud" and device is not None:
                agents = sorted({e.value for e in device.evidence if e.key == "http.user_agent"})
                evidence.extend(f"client software (User-Agent): {ua}" for ua in agents[:3])
            if not contact.outbound:
                evidence.append("inbound: the external host opened the connection")
            yield view.finding(rule, contact, device, remote, evidence)
