#!/usr/bin/env python3
"""Generate the scenario captures in pcaps/ (deterministic: same bytes on every run).

Every capture starts at 2026-03-02T09:00:00Z, uses fixed MACs (real vendor OUIs), fixed seeds, and the
real device payloads (tests/data/active/, copies of ../shared/data/active/) with per-device fields
substituted (see PROVENANCE.md).
What each capture must and must not produce is in pcaps/manifest.yaml.

Usage: python pcaps/generate.py [--out DIR] [--check]
  --check  regenerate into a temporary directory and compare with the files in --out; exit 1 on drift.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from genlib import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    Capture,
    write_pcap,
    write_pcapng,
)
from scenarios import (
    clean_vlan_rtsp,
    dahua_easy4ip,
    hikconnect_registration,
    incident_fleet_china,
    ipv6_vlan_hk,
    mixed_interfaces,
    uk_only_cameras,
)
from scenarios_behaviour import alibaba_us_p2p, beacon_camera, clean_fleet_cloud, incident_fleet_unknown

HERE = Path(__file__).resolve().parent

Writer = Callable[[Path, Capture], None]


def _pcap(**kw: object) -> Writer:
    return lambda path, cap: write_pcap(path, cap.sorted_frames(), **kw)  # type: ignore[arg-type]


def _pcapng(interfaces: list[tuple[int, str, int]]) -> Writer:
    return lambda path, cap: write_pcapng(path, cap.sorted_frames(), interfaces)


#: file name -> (builder, writer). Formats vary on purpose so the readers are exercised.
SCENARIOS: dict[str, tuple[Callable[[], Capture], Writer]] = {
    "incident_fleet_china.pcapng": (incident_fleet_china, _pcapng([(LINKTYPE_ETHERNET, "span-cctv", 6)])),
    "hikconnect_registration.pcap": (hikconnect_registration, _pcap()),
    "dahua_easy4ip.pcap": (dahua_easy4ip, _pcap(big_endian=True)),
    "clean_vlan_rtsp.pcap": (clean_vlan_rtsp, _pcap(nano=True)),
    "ipv6_vlan_hk.pcapng": (ipv6_vlan_hk, _pcapng([(LINKTYPE_ETHERNET, "trunk0", 9)])),
    "mixed_interfaces.pcapng": (
        mixed_interfaces,
        _pcapng([(LINKTYPE_ETHERNET, "eth0", 6), (LINKTYPE_LINUX_SLL, "any", 9), (LINKTYPE_RAW, "tun0", 6)]),
    ),
    "uk_only_cameras.pcap": (uk_only_cameras, _pcap()),
    "incident_fleet_unknown.pcap": (incident_fleet_unknown, _pcap()),
    "beacon_camera.pcap": (beacon_camera, _pcap()),
    "clean_fleet_cloud.pcap": (clean_fleet_cloud, _pcap()),
    "alibaba_us_p2p.pcap": (alibaba_us_p2p, _pcap()),
}


def generate(out: Path) -> list[Path]:
    """Write every scenario capture into `out`; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (build, write) in SCENARIOS.items():
        path = out / name
        write(path, build())
        written.append(path)
    return written


def check(committed: Path) -> list[str]:
    """Names of captures whose committed bytes differ from a fresh generation (or are missing)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        return [
            p.name
            for p in fresh
            if not (committed / p.name).is_file() or not filecmp.cmp(p, committed / p.name, shallow=False)
        ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE, help="directory to write to (default: pcaps/)")
    ap.add_argument(
        "--check", action="store_true", help="compare a fresh generation with --out, exit 1 on drift"
    )
    args = ap.parse_args(argv)
    if args.check:
        drift = check(args.out)
        for name in drift:
            print(f"drift: {name} differs from a fresh generation", file=sys.stderr)
        return 1 if drift else 0
    for path in generate(args.out):
        print(f"{path} {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
