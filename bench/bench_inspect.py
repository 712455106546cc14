"""Payload inspection alone: the CPU time Inspector.on_payload takes per payload packet of a capture.

    python bench/bench_inspect.py record CAPTURE OUT.pkl   # run the engine, keep what on_payload was given
    python bench/bench_inspect.py replay OUT.pkl [RUNS]    # feed it to fresh Inspectors, CPU time per run

`record` runs the real engine over the capture and pickles, for every on_payload call, the packet's
fields (payload as bytes). `replay` rebuilds the packets (outside the timing, then gc.freeze so they
are not traversed), feeds them to a fresh Inspector per run and prints the process CPU time of each run,
the median in µs per payload packet and a digest of what inspection left behind (names, evidence,
signature hits, malformed counts, learnt addresses): two trees (A/B, e.g. with PYTHONPATH pointing at
a checkout of the older one, run from outside both) must print the same digest. CPU time, not wall
time, because the bench machine is shared.
"""

from __future__ import annotations

import gc
import hashlib
import pickle
import sys
import time
from pathlib import Path

from hikscan.knowledge.rules import default_rules
from hikscan.passive.attribution import Attribution
from hikscan.passive.decode import Packet
from hikscan.passive.naming import NameBook
from hikscan.passive.payload import Inspector

FIELDS = ("ts", "src_mac", "dst_mac", "vlans", "version", "src", "dst", "proto", "sport", "dport",
          "tcp_flags", "wirelen", "payload", "frag")  # fmt: skip


def record(capture: Path, out: Path) -> None:
    from hikscan.knowledge.geo import GeoLookup
    from hikscan.knowledge.oui import OuiTable
    from hikscan.passive.engine import Engine

    engine = Engine(default_rules(), GeoLookup(), OuiTable.load())
    rows: list[tuple[object, ...]] = []
    real = engine.inspector.on_payload

    def keep(pkt: Packet) -> None:
        rows.append(
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in map(pkt.__getattribute__, FIELDS))
        )
        real(pkt)

    engine.inspector.on_payload = keep  # type: ignore[method-assign]
    engine.run_files([capture])
    with out.open("wb") as fh:
        pickle.dump(rows, fh, protocol=5)
    print(f"{len(rows)} payload packets recorded to {out}")


def digest(ins: Inspector) -> str:
    names, att = ins.names, ins.attribution
    parts = (names.sni, names.http_host, names.dns, names.by_server, names.dropped, att.evidence, att.by_mac,
             att.macs, ins.signature_hits, ins.malformed, ins.locality.learnt)  # fmt: skip
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def replay(path: Path, runs: int) -> None:
    with path.open("rb") as fh:
        rows = pickle.load(fh)  # a file this script wrote
    rules = default_rules()
    times, last = [], ""
    for _ in range(runs):
        pkts = [Packet(*row) for row in rows]
        gc.collect()
        gc.freeze()
        ins = Inspector(rules, NameBook(), Attribution(rules))
        on_payload = ins.on_payload
        start = time.process_time()
        for pkt in pkts:
            on_payload(pkt)
        times.append(time.process_time() - start)
        gc.unfreeze()
        last = digest(ins)
    times.sort()
    median = times[len(times) // 2]
    shown = ", ".join(f"{t:.3f}" for t in times)
    print(f"{path.name}: {len(rows)} payload packets; CPU s per run {shown}; median {median:.3f} s = "
          f"{median / max(len(rows), 1) * 1e6:.2f} µs per payload packet; state {last}")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "record":
        record(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "replay":
        replay(Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 3)
    else:
        sys.exit(__doc__)
