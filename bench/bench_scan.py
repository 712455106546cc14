"""Benchmark: `hikscan scan` vs `nmap -sV` against the same emulated lab of >= 100 devices.

Runs as root: builds a scanner and a device namespace (tests/netns.py), starts the lab there,
times both scanners from the scanner namespace, and counts recall: lab devices of a CCTV vendor
family (Hikvision, Dahua and their OEMs) correctly named Hikvision/Dahua (or their OEM brand).

    sudo .venv/bin/python bench/bench_scan.py [--count 100] [--rates 50,20]

One hikscan row per rate: the default rate (50 sends/s) and --rate 20 (the README's advice for
routed subnets), each with the deadline the scan chose and whether it was hit.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from netns import lab_namespaces  # noqa: E402

from hikscan.lab.profiles import default_lab  # noqa: E402

SCAN = (
    "import json, sys\nfrom hikscan.active.scan import run_scan\n"
    "r = run_scan([sys.argv[1]], interface='veth-scan', rate=float(sys.argv[2]))\n"
    "print(json.dumps(r.to_dict()))\n"
)
NMAP_VENDOR = re.compile(r"(?i)\b(hikvision|dahua)\b")


def family(kind: str) -> str | None:
    root = kind.split("-")[0]
    return {"hikvision": "Hikvision", "dahua": "Dahua"}.get(root)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--rates", default="50,20", help="hikscan rates to time, comma-separated")
    ap.add_argument("--nmap-timeout", type=float, default=900.0, help="seconds before nmap is stopped")
    args = ap.parse_args()
    if shutil.which("nmap") is None:
        print("nmap is not installed (apt-get install nmap)", file=sys.stderr)
        return 2
    profiles = default_lab(count=args.count)
    truth = {p.ip: (family(p.kind), p.vendor) for p in profiles}
    wanted = {ip for ip, (fam, _) in truth.items() if fam}
    last = profiles[-1].ip
    target = f"10.77.0.10-{last.rsplit('.', 1)[1]}"
    cidr = "10.77.0.0/24"
    rows = []
    with lab_namespaces(n_addresses=len(profiles)) as net:
        net.start_lab("--count", str(args.count), timeout=60)
        for rate in [float(r) for r in args.rates.split(",") if r.strip()]:
            t = time.monotonic()
            proc = net.run_in(net.scan_ns, [net.python, "-c", SCAN, cidr, str(rate)], timeout=900)
            hik_s = time.monotonic() - t
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                return 1
            result = json.loads(proc.stdout)
            devices, stats = result["devices"], result["stats"]
            hit = sum(
                1
                for d in devices
                if d["ip"] in wanted and d["vendor"] in {truth[d["ip"]][0], truth[d["ip"]][1]}
            )
            false_pos = sum(1 for d in devices if d["vendor"] and d["ip"] not in wanted)
            note = f" (deadline {stats['max_time_s']:g} s{', HIT' if stats['deadline_hit'] else ''})"
            rows.append(
                (f"hikscan scan {cidr} --interface veth-scan --rate {rate:g}{note}", hik_s, hit, false_pos)
            )

        nmap_cmd = ["nmap", "-sV", "-p", "80,554,8000,37777", "-n", "-oX", "-", target]
        t = time.monotonic()
        try:
            proc = net.run_in(net.scan_ns, nmap_cmd, timeout=args.nmap_timeout)
        except subprocess.TimeoutExpired:
            rows.append((" ".join([*nmap_cmd[:-3], target]), time.monotonic() - t, -1, -1))
            _table(profiles, wanted, rows)
            return 0
        nmap_s = time.monotonic() - t
        found: dict[str, set[str]] = {}
        for host in re.findall(r"(?s)<host .*?</host>", proc.stdout):
            ip = re.search(r'addr="([\d.]+)" addrtype="ipv4"', host)
            if ip:
                found[ip.group(1)] = {m.lower() for m in NMAP_VENDOR.findall(host)}
        hit_n = sum(1 for ip in wanted if (truth[ip][0] or "").lower() in found.get(ip, set()))
        fp_n = sum(1 for ip, v in found.items() if v and ip not in wanted)
        rows.append((" ".join([*nmap_cmd[:-3], target]), nmap_s, hit_n, fp_n))

    _table(profiles, wanted, rows)
    return 0


def _table(profiles: list, wanted: set[str], rows: list[tuple[str, float, int, int]]) -> None:
    print(f"lab: {len(profiles)} devices, {len(wanted)} of a Hikvision/Dahua firmware family")
    print(f"{'command':<90} {'seconds':>8} {'recall':>10} {'false+':>7}")
    for cmd, secs, hit, fp in rows:
        if hit < 0:
            print(f"{cmd:<90} {secs:>8.1f}  stopped: no result within --nmap-timeout")
        else:
            print(f"{cmd:<90} {secs:>8.1f} {hit:>4}/{len(wanted):<5} {fp:>7}")


if __name__ == "__main__":
    sys.exit(main())
