"""Optional extra pass (--nmap): `nmap -sV`, its service results become evidence.

nmap runs as a child process inside a time budget the scan gives it (`ctx.deadline`); it is
killed when the budget or the scan's deadline passes, or at the first Ctrl-C. Its XML is read by
python-nmap's parser. Every record carries the IP nmap reported it for; a failure is a counter
in the scan's stats (`nmap.failed`, `nmap.timed_out`), never a device.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from hikscan.active.base import Kind, Observation, ProbeContext, register
from hikscan.report.model import Evidence

NMAP_PORTS = "80,443,554,8000,37777"
MAX_XML = 64 * 2**20


def nmap_command(ctx: ProbeContext, targets: list[str], budget: float, xml_out: str = "-") -> list[str]:
    """`nmap -sV` of the hikscan ports at the scan's rate, its XML to `xml_out`, within `budget` s."""
    rate = max(1, int(ctx.limiter.rate)) if ctx.limiter.rate > 0 else 1000
    argv = ["nmap", "-sV", "-Pn", "-n", "-oX", xml_out, "-p", NMAP_PORTS, "--max-rate", str(rate)]
    argv += ["--host-timeout", f"{max(1, int(budget))}s"]
    if ctx.interface:
        argv += ["-e", ctx.interface]
    return [*argv, "--", *targets]


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
        xml = self._run_nmap(ctx, targets)
        if xml is None:
            return
        scanner = nmap.PortScanner.__new__(nmap.PortScanner)  # the parser only; no `nmap -V` run
        scanner._scan_result = {}
        try:
            scanner.analyse_nmap_xml_scan(nmap_xml_output=xml)
        except (nmap.PortScannerError, ValueError) as exc:
            ctx.count("nmap.failed")
            ctx.notes.append(f"nmap: unreadable output ({str(exc)[:120]})")
            return
        for host in scanner.all_hosts():
            if not host or not ctx.scope(host):
                continue
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

    def _run_nmap(self, ctx: ProbeContext, targets: list[str]) -> str | None:
        """nmap's XML, or None when it failed, was interrupted or ran out of time (then killed).

        Output goes to private temporary files, so a large result can never block nmap on a pipe.
        """
        with tempfile.TemporaryDirectory(prefix="hikscan-nmap-") as tmp:
            xml_path, err_path = Path(tmp) / "out.xml", Path(tmp) / "err.txt"
            argv = nmap_command(ctx, targets, ctx.deadline.remaining(), str(xml_path))
            with err_path.open("w") as err_fh:
                try:
                    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err_fh)
                except OSError as exc:
                    ctx.count("nmap.failed")
                    ctx.notes.append(f"nmap: cannot start ({exc.strerror or exc})")
                    return None
                try:
                    while proc.poll() is None:
                        if ctx.deadline.expired:
                            ctx.count("nmap.timed_out")
                            ctx.notes.append("nmap: stopped at its time budget or by Ctrl-C; no nmap results")
                            return None
                        time.sleep(0.1)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
            with err_path.open("rb") as fh:
                err = fh.read(4096).decode("utf-8", "replace")
            if proc.returncode != 0 or not xml_path.is_file() or xml_path.stat().st_size > MAX_XML:
                ctx.count("nmap.failed")
                ctx.notes.append(f"nmap: exit {proc.returncode}: {err.strip()[:160]}")
                return None
            return xml_path.read_text("utf-8", "replace")
