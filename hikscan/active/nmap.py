"""Optional extra pass (--nmap): nmap -sV through python-nmap; its service results become evidence."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import ClassVar

from hikscan.active.base import Kind, Observation, ProbeContext, register
from hikscan.report.model import Evidence

NMAP_PORTS = "80,443,554,8000,37777"


@register
class NmapProbe:
    name: ClassVar[str] = "nmap"
    kind: ClassVar[Kind] = "extra"
    ports: ClassVar[tuple[int, ...]] = ()

    def run(self, ctx: ProbeContext, targets: list[str]) -> Iterator[Observation]:
        if not targets or shutil.which("nmap") is None:
            ctx.count("nmap.unavailable")
            return
        try:
            import nmap
        except ImportError:
            ctx.count("nmap.unavailable")
            return
        rate = max(1, int(ctx.limiter.rate)) if ctx.limiter.rate > 0 else 1000
        args = f"-sV -Pn -n --max-rate {rate} --host-timeout {max(1, int(ctx.deadline.remaining()))}s"
        if ctx.interface:
            args += f" -e {ctx.interface}"
        scanner = nmap.PortScanner()
        try:
            scanner.scan(
                hosts=" ".join(targets), ports=NMAP_PORTS, arguments=args, timeout=ctx.deadline.remaining()
            )
        except (nmap.PortScannerError, nmap.PortScannerTimeout, OSError) as exc:
            ctx.count("nmap.failed")
            yield Observation(None, None, [Evidence("nmap", "nmap.error", str(exc)[:200])], self.name)
            return
        for host in scanner.all_hosts():
            ev: list[Evidence] = []
            mac = scanner[host].get("addresses", {}).get("mac")
            for port, info in sorted(scanner[host].get("tcp", {}).items()):
                if info.get("state") != "open":
                    continue
                if info.get("name"):
                    ev.append(Evidence("nmap", "nmap.service", f"{port}/{info['name']}"))
                product = " ".join(x for x in (info.get("product"), info.get("version")) if x)
                if product:
                    ev.append(Evidence("nmap", "nmap.product", product, raw=f"{port}/tcp"))
            if ev:
                yield Observation(host, mac.lower() if mac else None, ev, self.name)
