"""Where each contact goes: the policy's destination table (high-risk country, vendor cloud, abroad).

One finding per (device, remote) at most: the first rule of `rules/policy.yaml` with
`detector: destination` whose `when` holds (see Policy.classify).
"""

from __future__ import annotations

from collections.abc import Iterator

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
            remote = view.remote(contact, match)
            verdict = policy.classify(view.is_cctv(device), remote.country, match.cloud, view.home_country)
            if verdict is None:
                continue
            rule = policy.rules[verdict[0]]
            evidence = [f"name {n} from {source}" for n, source in match.names]
            if match.cloud is not None:
                evidence.append(f"vendor cloud {match.cloud.service} (rule {match.cloud.id})")
            if match.signature is not None:
                evidence.append(f"payload signature {match.signature}")
            if device is not None and device.vendor:
                evidence.append(
                    f"device {device.vendor} by {', '.join(dict.fromkeys(device.matched_rules)) or 'rules'}"
                )
            if not contact.outbound:
                evidence.append("inbound: the external host opened the connection")
            yield view.finding(rule, contact, device, remote, evidence)
