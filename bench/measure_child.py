"""Run one command and print `seconds|peak RSS KiB|all processes KiB|exit code|stderr tail` (bench_analyze).

Peak RSS is the largest process's (getrusage RUSAGE_CHILDREN: this wrapper runs nothing else). "All
processes" is the most the command's process tree held at once, each process counting its share of the
pages it shares with others (PSS, /proc/PID/smaps_rollup), sampled every 50 ms; 0 where /proc lacks it. A
forked process shares its parent's pages until either writes them, so the sum of RSS would overcount and
the largest RSS alone would undercount.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

SAMPLE_SECONDS = 0.05


def tree(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = fh.read().split()
    except OSError:
        return [pid]
    return [pid] + [p for kid in kids for p in tree(int(kid))]


def pss_kib(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                total += sum(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
        except OSError:
            pass
    return total


def main(cmd: list[str]) -> None:
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err, most = b"", 0
    while child.poll() is None:
        try:
            err = child.communicate(timeout=SAMPLE_SECONDS)[1]
        except subprocess.TimeoutExpired:
            most = max(most, pss_kib(child.pid))
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    tail = err.decode(errors="replace")[-300:].replace("\n", " ")
    print(seconds, rss, most, child.returncode, tail, sep="|")


if __name__ == "__main__":
    main(sys.argv[1:])
