"""Side-by-side speed and memory: tshark conv,ip vs hikscan analyze vs the bare pipeline.

    python bench/bench_analyze.py [--packets 1000000] [--big 4000000] [--skip-tshark]

Generates the capture(s) under /tmp with scripts/make_bench_pcap.py when missing. Each tool runs as
its own subprocess under a small Python wrapper that reports wall time and the child's peak RSS
(getrusage RUSAGE_CHILDREN), so one tool's peak never hides another's. --big also runs the pipeline
(and hikscan analyze) on a larger file to show that memory stays flat as the file grows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
_WRAP = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "dt = time.perf_counter() - t\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(dt, rss, r.returncode, r.stderr.decode(errors='replace')[-300:].replace(chr(10), ' '), sep='|')\n"
)


def ensure_capture(packets: int) -> Path:
    path = Path(f"/tmp/hikscan_bench_{packets}.pcap")
    if not path.exists():
        print(f"generating {path} ({packets} packets)…", file=sys.stderr)
        script = str(ROOT / "scripts" / "make_bench_pcap.py")
        subprocess.run([PY, script, str(path), "--packets", str(packets)], check=True)
    return path


def measure(cmd: list[str]) -> tuple[float, float, int, str]:
    """(seconds, peak RSS MiB, exit code, stderr tail) of one run of cmd."""
    out = subprocess.run([PY, "-c", _WRAP, *cmd], capture_output=True, text=True, check=True).stdout.strip()
    secs, rss_kib, rc, err = out.split("|", 3)
    return float(secs), int(rss_kib) / 1024, int(rc), err


def hikscan_cli() -> str | None:
    exe = Path(PY).with_name("hikscan")
    if not exe.exists():
        return None
    ok = subprocess.run([str(exe), "analyze", "--help"], capture_output=True).returncode == 0
    return str(exe) if ok else None


def tools(path: Path, skip_tshark: bool) -> list[tuple[str, list[str] | None, str]]:
    tshark = None if skip_tshark else shutil.which("tshark")
    cli = hikscan_cli()
    return [
        ("tshark -q -z conv,ip", [tshark, "-q", "-z", "conv,ip", "-r", str(path)] if tshark else None,
         "tshark not installed (apt-get install tshark)" if not skip_tshark else "not run"),
        ("hikscan analyze --format json",
         [cli, "analyze", str(path), "--format", "json", "-o", "/dev/null", "--fail-on", "none"]
         if cli else None, "hikscan CLI (analyze) not available yet"),
        ("pipeline (decode+flows)", [PY, "-m", "hikscan.passive.pipeline", str(path)], ""),
    ]  # fmt: skip


def run_table(path: Path, packets: int, skip_tshark: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    base = None
    print(f"\n{path} — {packets:,} packets, {path.stat().st_size / 2**20:.0f} MiB")
    print(f"{'tool':32} {'seconds':>8} {'packets/s':>11} {'peak RSS MiB':>13} {'vs tshark':>9}")
    for name, cmd, why in tools(path, skip_tshark):
        if cmd is None:
            print(f"{name:32} skipped: {why}")
            continue
        secs, rss, rc, err = measure(cmd)
        if rc != 0:
            print(f"{name:32} failed (exit {rc}): {err.strip()}")
            continue
        if name.startswith("tshark"):
            base = secs
        speed = f"{base / secs:.1f}x" if base else "-"
        print(f"{name:32} {secs:8.2f} {packets / secs:11,.0f} {rss:13.0f} {speed:>9}")
        rows.append({"tool": name, "file": str(path), "packets": packets, "seconds": round(secs, 3),
                     "packets_per_second": round(packets / secs), "peak_rss_mib": round(rss, 1),
                     "vs_tshark": round(base / secs, 2) if base else None})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=0, help="also measure memory on a file this many packets long")
    ap.add_argument("--skip-tshark", action="store_true")
    ap.add_argument("--json", type=Path, help="write the rows here as well")
    args = ap.parse_args(argv)
    rows = run_table(ensure_capture(args.packets), args.packets, args.skip_tshark)
    if args.big:
        print("\nmemory flatness (tshark skipped on the big file):")
        rows += run_table(ensure_capture(args.big), args.big, True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
