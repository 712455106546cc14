"""Benchmark: the highest rate `hikscan watch` takes with zero kernel drops, and the drops beyond it.

Runs as root: a scenario capture is replayed with tcpreplay into a veth pair between two namespaces of
our own (tests/live_replay.py), at increasing packet rates, while `watch` listens on the other end. A
rate passes when the kernel dropped nothing (PACKET_STATISTICS, in watch's stats record) and watch read
every frame tcpreplay sent. Each replay lasts about --seconds, longer than the --buffer-mb kernel
buffer can hide, so the figure is a sustained rate. Each search runs --repeat times (shared machines
are noisy); the drop counter is then shown at rates above the highest zero-drop one, and at top speed.

    sudo .venv/bin/python bench/bench_live.py [--methods ring,socket] [--legacy-tree DIR]

--legacy-tree runs another checkout's watch as well (e.g. `git archive` of an older commit): without a
kernel counter there, its drops are inferred as frames sent minus frames read.
Results are appended to bench/RESULTS.md under the "live" heading.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from live_replay import replay_namespaces, watch_replay  # noqa: E402

from hikscan.capture import open_capture  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## live"


@dataclass
class Point:
    method: str
    pps: float | None  # None: tcpreplay's top speed
    sent: int
    read: int
    drops: int
    achieved: float  # frames sent per second as tcpreplay measured its own run

    @property
    def clean(self) -> bool:
        return self.drops == 0 and self.read >= self.sent


def frames_in(pcap: Path) -> int:
    with open_capture(pcap) as reader:
        return sum(1 for _ in reader)


def measure(net, args, method: str, pps: float | None, work: Path) -> Point:  # type: ignore[no-untyped-def]
    per_loop = frames_in(args.pcap)
    target = (pps or 400_000) * args.seconds
    loops = max(1, round(target / per_loop))
    tree = args.legacy_tree if method == "legacy" else None
    run = watch_replay(
        net,
        args.pcap,
        work / f"{method}.jsonl",
        pps=pps,
        loops=loops,
        capture="ring" if method == "legacy" else method,
        buffer_mb=args.buffer_mb,
        tree=tree,
        timeout=args.seconds * 20 + 60,
    )
    read = int(run.stats.get("packets", 0))
    drops = int(run.stats["kernel_drops"]) if "kernel_drops" in run.stats else max(0, run.sent - read)
    point = Point(method, pps, run.sent, read, drops, run.rated_pps)
    rate = f"{pps:>9,.0f}" if pps else "  top    "
    print(
        f"  {method:<7} {rate} pps (achieved {point.achieved:>9,.0f}): sent {point.sent:>9,} "
        f"read {read:>9,} drops {drops:>9,}"
        f"{'' if point.clean else '  <- drops'}",
        flush=True,
    )
    return point


def search(net, args, method: str, work: Path) -> tuple[Point | None, list[Point]]:  # type: ignore[no-untyped-def]
    """Rates ×step from --start until drops (halved instead while the first drops); then one bisection
    step between the last good and the first bad rate, and the drops at twice that and at top speed."""
    points: list[Point] = []
    best: Point | None = None
    pps = float(args.start)
    bad: float | None = None
    while pps <= args.max_pps:
        point = measure(net, args, method, pps, work)
        points.append(point)
        if not point.clean:
            bad = pps
            break
        best = point
        pps *= args.step
    low = float(args.start)
    while best is None and low > 1_000:  # drops from the start: halve the rate until there are none
        low /= 2
        point = measure(net, args, method, low, work)
        points.append(point)
        if point.clean:
            best = point
    if bad is not None and best is not None and best.pps is not None:
        point = measure(net, args, method, round((best.pps + bad) / 2, -2), work)
        points.append(point)
        if point.clean:
            best = point
    if bad is not None:
        if bad * 2 <= args.max_pps:
            points.append(measure(net, args, method, bad * 2, work))
        points.append(measure(net, args, method, None, work))
    return best, points


def table(rows: list[tuple[str, int, Point | None, list[Point]]], args) -> str:  # type: ignore[no-untyped-def]
    head = (
        "| capture | run | highest rate with zero drops (achieved) "
        "| rates with drops (achieved): dropped / sent |\n"
        "|---|---|---|---|\n"
    )
    lines = []
    for method, run, best, points in rows:
        over = [p for p in points if not p.clean]
        shown = "; ".join(
            f"{(f'{p.pps:,.0f} pps' if p.pps else 'top speed')} ({p.achieved:,.0f}): {p.drops:,} / {p.sent:,}"
            for p in over
        )
        best_text = (
            f"{best.pps:,.0f} pps ({best.achieved:,.0f})" if best and best.pps else f"< {args.start:,.0f} pps"
        )
        lines.append(f"| {method} | {run} | {best_text} | {shown or 'none up to the maximum tried'} |")
    return head + "\n".join(lines) + "\n"


def append_results(text: str) -> None:
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if HEADING not in old.splitlines():
        RESULTS.write_text(old.rstrip("\n") + f"\n\n{HEADING}\n\n{text}")
        return
    lines = old.splitlines(keepends=True)
    start = lines.index(HEADING + "\n") if HEADING + "\n" in lines else lines.index(HEADING)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    section = "".join(lines[start:end]).rstrip("\n") + "\n\n" + text + "\n"
    RESULTS.write_text("".join(lines[:start]) + section + "".join(lines[end:]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pcap", type=Path, default=ROOT / "pcaps" / "incident_fleet_china.pcapng")
    ap.add_argument(
        "--methods", default="ring,pcap,socket", help="comma-separated: ring, pcap, socket (and legacy)"
    )
    ap.add_argument("--legacy-tree", type=Path, help="another checkout whose watch is measured as 'legacy'")
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each replay")
    ap.add_argument("--buffer-mb", type=int, default=4, help="watch --buffer-mb during the bench")
    ap.add_argument("--start", type=float, default=8_000)
    ap.add_argument("--step", type=float, default=1.6)
    ap.add_argument("--max-pps", type=float, default=400_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_live needs root (network namespaces)", file=sys.stderr)
        return 2
    if shutil.which("tcpreplay") is None:
        print("tcpreplay is not installed (apt-get install tcpreplay)", file=sys.stderr)
        return 2
    methods = [m for m in args.methods.split(",") if m]
    if args.legacy_tree is not None and "legacy" not in methods:
        methods.append("legacy")
    load = os.getloadavg()[0]
    print(
        f"replaying {args.pcap.name} ({frames_in(args.pcap)} frames) for ~{args.seconds:g} s per rate, "
        f"kernel buffer {args.buffer_mb} MiB; load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp, replay_namespaces() as net:
        for run in range(1, args.repeat + 1):
            for method in methods:
                best, points = search(net, args, method, Path(tmp))
                shown = f"{best.pps:,.0f} pps" if best and best.pps else "none"
                print(f"{method} run {run}: highest zero-drop rate {shown}", flush=True)
                rows.append((method, run, best, points))
    text = table(rows, args)
    print()
    print(text)
    if not args.no_results:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        note = (
            f"`bench/bench_live.py` on {stamp}: {args.pcap.name} replayed with tcpreplay into a veth pair, "
            f"~{args.seconds:g} s per rate, `--buffer-mb {args.buffer_mb}`, load average {load:.1f} on "
            f"{os.cpu_count()} CPUs (shared machine). ring: hikscan/capture/tpacket.py; pcap: libpcap's "
            "ring through ctypes; socket: scapy's packet socket read in batches"
            + (
                f"; legacy: the watch of {args.legacy_tree} (drops = frames sent - frames read)"
                if args.legacy_tree
                else ""
            )
            + ".\n\n"
        )
        append_results(note + text)
        print(f"appended to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
