"""Side-by-side speed and memory: hikscan analyze vs tshark, tcpdump and Suricata on the same files.

    python bench/bench_analyze.py [--packets 1000000] [--big 3000000 --big 10000000] [--skip-tshark]
                                  [--profile lan|many-findings|many-hosts] [--two-captures] [--repeat N]
                                  [--vlan ID] [--pcapng] [--link sll|sll2|raw] [--results bench/RESULTS.md]

Generates the capture(s) under /tmp with scripts/make_bench_pcap.py when missing. Each tool runs as its
own subprocess under a small wrapper (measure_child.py) that reports wall time, the largest process's peak
RSS and what all its processes held together (PSS), so one tool's peak never hides another's. Reference
tools that are not installed are shown as skipped: tshark (`tshark -q -z conv,ip`), tcpdump
(`tcpdump -nn -r`) and Suricata 7 (`suricata -r FILE -k none`, no rules: flow tracking and EVE).
`--big N` (repeatable) runs hikscan and tcpdump on larger files to show whether memory stays flat as the
file grows; `--two-captures` times two captures analysed serially (--jobs 1) and on two cores (--jobs 2);
`-j 2` on one capture makes its report in two processes (passive.shares). `--repeat N` runs every tool N
times on the main file, in rounds, and shows medians (the figures vary ±20% run to run, tshark's most).
The end prints the issue's targets, met or not, for `hikscan analyze -f json`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
MEASURE = str(Path(__file__).resolve().with_name("measure_child.py"))


def ensure_capture(
    packets: int,
    profile: str = "lan",
    seed: int = 1,
    vlan: int | None = None,
    pcapng: bool = False,
    link: str = "ethernet",
) -> Path:
    stem = {"lan": "hikscan_bench", "many-findings": "hikscan_many"}.get(profile, "hikscan_hosts")
    variant = ("" if seed == 1 else f"_s{seed}") + ("" if vlan is None else f"_v{vlan}")
    variant += "" if link == "ethernet" else f"_{link}"
    path = Path(f"/tmp/{stem}_{packets}{variant}.{'pcapng' if pcapng else 'pcap'}")
    if not path.exists():
        print(f"generating {path} ({packets} packets, {profile})…", file=sys.stderr)
        script = str(ROOT / "scripts" / "make_bench_pcap.py")
        cmd = [PY, script, str(path), "--packets", str(packets), "--profile", profile, "--seed", str(seed)]
        cmd += [] if vlan is None else ["--vlan", str(vlan)]
        cmd += ["--pcapng"] if pcapng else []
        cmd += [] if link == "ethernet" else ["--link", link]
        subprocess.run(cmd, check=True)
    return path


def suricata_cmd(path: Path) -> list[str] | None:
    """Suricata with no rules (flow tracking and EVE only), logging to a scratch directory."""
    exe = shutil.which("suricata")
    if exe is None:
        return None
    logs = Path("/tmp/hikscan_bench_suricata")
    logs.mkdir(exist_ok=True)
    conf = logs / "suricata.yaml"
    conf.write_text(
        "%YAML 1.1\n---\ndefault-log-dir: " + str(logs) + "\noutputs:\n  - eve-log:\n      enabled: yes\n"
        "      filename: eve.json\n      types: [flow]\nrule-files: []\n"
    )
    return [exe, "-c", str(conf), "-r", str(path), "-k", "none", "-l", str(logs), "--runmode", "single"]


def measure(cmd: list[str]) -> tuple[float, float, float, int, str]:
    """(seconds, peak RSS MiB, all processes MiB, exit code, stderr tail) of one run of cmd. Peak RSS is the
    largest process's (getrusage); "all processes" the most that the command's processes held together,
    each counting its share of pages they share (PSS, from /proc, sampled every 50 ms; 0 without /proc)."""
    out = subprocess.run([PY, MEASURE, *cmd], capture_output=True, text=True, check=True).stdout.strip()
    secs, rss_kib, pss_kib, rc, err = out.split("|", 4)
    return float(secs), int(rss_kib) / 1024, int(pss_kib) / 1024, int(rc), err


def hikscan_cli() -> str | None:
    exe = Path(PY).with_name("hikscan")
    if not exe.exists():
        return None
    ok = subprocess.run([str(exe), "analyze", "--help"], capture_output=True).returncode == 0
    return str(exe) if ok else None


def tools(path: Path, skip_tshark: bool, big: bool = False) -> list[tuple[str, list[str] | None, str]]:
    tshark = None if skip_tshark or big else shutil.which("tshark")
    tcpdump = shutil.which("tcpdump")
    cli = hikscan_cli()
    analyze = [cli, "analyze", str(path), "-o", "/dev/null", "--fail-on", "none"] if cli else None
    return [
        ("tshark -q -z conv,ip", [tshark, "-q", "-z", "conv,ip", "-r", str(path)] if tshark else None,
         "not run" if skip_tshark or big else "tshark not installed (apt-get install tshark)"),
        ("tcpdump -nn -r", [tcpdump, "-nn", "-r", str(path)] if tcpdump else None, "tcpdump not installed"),
        ("suricata -r (no rules)", None if big else suricata_cmd(path),
         "not run" if big else "suricata not installed (bookworm-backports)"),
        ("hikscan analyze -f json", analyze and [*analyze, "-f", "json"], "hikscan CLI not available"),
        ("hikscan analyze -f json -j 2", None if big or not analyze else [*analyze, "-f", "json", "-j", "2"],
         "not run" if big else "hikscan CLI not available"),
        ("hikscan analyze -f jsonl", analyze and [*analyze, "-f", "jsonl"], "hikscan CLI not available"),
        ("hikscan analyze -f json, pure Python",
         analyze and ["env", "HIKSCAN_PURE_PYTHON=1", *analyze, "-f", "json"], "hikscan CLI not available"),
        ("pipeline (decode+flows)", [PY, "-m", "hikscan.passive.loopbench", str(path)], ""),
    ]  # fmt: skip


def run_table(
    path: Path, packets: int, skip_tshark: bool, big: bool = False, repeat: int = 1
) -> list[dict[str, object]]:
    """One row per tool. With `repeat` > 1 every tool runs that many times, in rounds (each round runs
    every tool once, so a machine that slows down midway slows every tool alike); a row shows the median
    time and peak RSS, and every run's time."""
    rows: list[dict[str, object]] = []
    print(f"\n{path} — {packets:,} packets, {path.stat().st_size / 2**20:.0f} MiB"
          + (f", median of {repeat} runs" if repeat > 1 else ""))  # fmt: skip
    heads = (f"{'seconds':>8} {'packets/s':>11} {'peak RSS MiB':>13} {'all procs MiB':>13} {'vs tshark':>9} "
             f"{'/ Suricata':>10}")  # fmt: skip
    print(f"{'tool':40} {heads}" + ("  runs (s)" if repeat > 1 else ""))
    runnable = []
    for name, cmd, why in tools(path, skip_tshark, big):
        if cmd is None:
            print(f"{name:40} skipped: {why}")
        else:
            runnable.append((name, cmd))
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in runnable}
    failed: dict[str, str] = {}
    for _round in range(repeat):
        for name, cmd in runnable:
            if name in failed:
                continue
            secs, rss, pss, rc, err = measure(cmd)
            if rc != 0:
                failed[name] = f"failed (exit {rc}): {err.strip()}"
            else:
                runs[name].append((secs, rss, pss))
    medians = {name: tuple(statistics.median(run[i] for run in r) for i in range(3))
               for name, r in runs.items() if r and name not in failed}  # fmt: skip
    base = next((m[0] for n, m in medians.items() if n.startswith("tshark")), None)
    suricata = next((m[0] for n, m in medians.items() if n.startswith("suricata")), None)
    for name, _cmd in runnable:
        if name in failed:
            print(f"{name:40} {failed[name]}")
            continue
        secs, rss, pss = medians[name]
        speed = f"{base / secs:.1f}x" if base else "-"
        versus = f"{secs / suricata:.2f}x" if suricata else "-"
        spread = "  " + " ".join(f"{run[0]:.2f}" for run in runs[name]) if repeat > 1 else ""
        print(f"{name:40} {secs:8.2f} {packets / secs:11,.0f} {rss:13.0f} {pss:13.0f} {speed:>9} {versus:>10}"
              f"{spread}")  # fmt: skip
        rows.append({"tool": name, "file": str(path), "packets": packets, "seconds": round(secs, 3),
                     "packets_per_second": round(packets / secs), "peak_rss_mib": round(rss, 1),
                     "all_processes_mib": round(pss, 1),
                     "vs_tshark": round(base / secs, 2) if base else None,
                     "vs_suricata": round(secs / suricata, 2) if suricata else None,
                     "runs_seconds": [round(run[0], 3) for run in runs[name]]})  # fmt: skip
    return rows


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _mb(r: dict[str, object], key: str) -> float:
    return float(str(r.get(key) or 0)) * 2**20 / 1e6


def verdicts(rows: list[dict[str, object]]) -> list[str]:
    """The speed and memory targets of the issue, against the `hikscan analyze -f json` rows (as users run
    it: one process). Memory is judged on the larger of the largest process's peak RSS and what all the
    command's processes held together. The `-j 2` rows (the report in two processes) are shown, not judged."""
    out = []
    suricata_vs_tshark = {
        r["file"]: float(str(r["vs_tshark"]))
        for r in rows
        if str(r["tool"]).startswith("suricata") and r.get("vs_tshark") is not None
    }
    for r in rows:
        if r.get("speedup") is not None:
            x = float(str(r["speedup"]))
            verdict = f"target >= 1.7x: {_met(x >= 1.7)}"
            out.append(f"two captures on two cores: {x:.2f}x faster than one after the other, {verdict}")
            continue
        if r["tool"] not in ("hikscan analyze -f json", "hikscan analyze -f json -j 2"):
            continue
        name = f"{Path(str(r['file'])).name}:"
        rss_mb, all_mb = _mb(r, "peak_rss_mib"), _mb(r, "all_processes_mib")
        memory = f"peak RSS {rss_mb:.0f} MB" + (f", all processes {all_mb:.0f} MB" if all_mb else "")
        if r["tool"] != "hikscan analyze -f json":
            versus = f", {float(str(r['vs_suricata'])):.2f}x Suricata's time" if r.get("vs_suricata") else ""
            out.append(f"{name} with -j 2 (not judged): {memory}{versus}")
            continue
        out.append(f"{name} {memory}, target <= 100 MB: {_met(max(rss_mb, all_mb) <= 100)}")
        if r.get("vs_tshark") is not None:
            x = float(str(r["vs_tshark"]))
            reference = suricata_vs_tshark.get(r["file"])
            beside = f" (Suricata {reference:.1f}x)" if reference is not None else ""
            out.append(f"{name} {x:.1f}x faster than tshark{beside}, target >= 15x: {_met(x >= 15)}")
        if r.get("vs_suricata") is not None:
            x = float(str(r["vs_suricata"]))
            out.append(f"{name} {x:.2f}x Suricata's time, target <= 2x: {_met(x <= 2)}")
    return out


def two_captures(packets: int, profile: str, repeat: int = 1) -> list[dict[str, object]]:
    """Two captures, serially (--jobs 1) and on two cores (--jobs 2), `repeat` rounds of both: medians,
    and the largest memory of any run."""
    cli = hikscan_cli()
    if cli is None:
        return []
    files = [str(ensure_capture(packets, profile, seed)) for seed in (1, 2)]
    print(
        f"\ntwo captures of {packets:,} packets ({profile})"
        + (f", median of {repeat} rounds:" if repeat > 1 else ":")
    )
    runs: dict[str, list[tuple[float, float, float]]] = {"1": [], "2": []}
    for _round in range(repeat):
        for jobs in runs:
            cmd = [
                cli,
                "analyze",
                *files,
                "-f",
                "json",
                "-o",
                "/dev/null",
                "--fail-on",
                "none",
                "--jobs",
                jobs,
            ]
            secs, rss, pss, rc, err = measure(cmd)
            if rc:
                print(f"  --jobs {jobs}: exit {rc}: {err}")
            runs[jobs].append((secs, rss, pss))
    rows, times = [], {}
    for jobs, measured in runs.items():
        secs = times[jobs] = statistics.median(m[0] for m in measured)
        rss, pss = max(m[1] for m in measured), max(m[2] for m in measured)
        each = " ".join(f"{m[0]:.2f}" for m in measured)
        memory = f"peak RSS {rss:.0f} MiB, all processes {pss:.0f} MiB"
        print(f"  --jobs {jobs}: {secs:6.2f} s, {memory}  runs (s): {each}")
        rows.append({"tool": f"hikscan analyze 2 captures --jobs {jobs}", "seconds": round(secs, 3),
                     "peak_rss_mib": round(rss, 1), "all_processes_mib": round(pss, 1),
                     "runs_seconds": [round(m[0], 3) for m in measured]})  # fmt: skip
    rows[-1]["speedup"] = round(times["1"] / times["2"], 2)
    print(f"  speed-up on two cores: {times['1'] / times['2']:.2f}x")
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| file | packets | tool | seconds | packets/s | peak RSS MiB | all processes MiB | vs tshark "
        "| / Suricata |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {Path(str(r.get('file', ''))).name} | {r.get('packets', '')} | {r['tool']} | "
            f"{r['seconds']} | {r.get('packets_per_second', '')} | {r['peak_rss_mib']} | "
            f"{r.get('all_processes_mib', '')} | {r.get('vs_tshark') or ''} | {r.get('vs_suricata') or ''} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, action="append", default=[],
                    help="also measure memory on a file this many packets long (repeatable)")  # fmt: skip
    ap.add_argument("--profile", choices=("lan", "many-findings", "many-hosts"), default="lan")
    ap.add_argument("--skip-tshark", action="store_true")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per tool on the main file, shown as medians (big files: once)")  # fmt: skip
    ap.add_argument("--two-captures", action="store_true")
    ap.add_argument("--vlan", type=int, help="the captures with this 802.1Q VLAN ID on every frame")
    ap.add_argument("--pcapng", action="store_true", help="the captures written as pcapng")
    ap.add_argument("--link", choices=("ethernet", "sll", "sll2", "raw"), default="ethernet",
                    help="the captures' link layer (sll: what tcpdump -i any writes)")  # fmt: skip
    ap.add_argument("--json", type=Path, help="write the rows here as well")
    ap.add_argument("--results", type=Path, help="append the rows to this Markdown file")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    main_file = ensure_capture(args.packets, args.profile, vlan=args.vlan, pcapng=args.pcapng, link=args.link)
    rows = run_table(main_file, args.packets, args.skip_tshark, repeat=args.repeat)
    for big in args.big:
        print(f"\nmemory flatness, {args.profile} (tshark and Suricata skipped on the big files):")
        rows += run_table(
            ensure_capture(big, args.profile, vlan=args.vlan, pcapng=args.pcapng, link=args.link),
            big,
            True,
            big=True,
        )
    if args.two_captures:
        rows += two_captures(args.packets, args.profile, args.repeat)
    print("\ntargets (hikscan analyze -f json):")
    for line in verdicts(rows):
        print(f"  {line}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.results:
        with args.results.open("a") as fh:
            fh.write(f"\n### analyze, profile {args.profile}\n\n" + markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
