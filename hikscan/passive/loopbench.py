"""The hot loop's own speed, for the benchmark: decode + flows with a no-op on_payload; prints Stats as JSON.

python -m hikscan.passive.loopbench FILE…
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Callable

from hikscan.passive.flows import ENGINE_FLOWS, Flow, FlowTable
from hikscan.passive.pipeline import run


def local_to_global() -> Callable[[Flow], bool]:
    """The engine's UDP-sketch rule without a policy: a private client talking to a global server."""
    private: dict[bytes, bool] = {}

    def is_private(packed: bytes) -> bool:
        known = private.get(packed)
        if known is None:
            known = private[packed] = ipaddress.ip_address(packed).is_private
        return known

    return lambda flow: is_private(flow.client) and not is_private(flow.server)


def main(argv: list[str] | None = None) -> int:
    """Decode + flows with a no-op on_payload: the pipeline's own speed, for the benchmark."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m hikscan.passive.loopbench FILE…", file=sys.stderr)
        return 2
    evicted = 0

    def count(_flow: object) -> None:
        nonlocal evicted
        evicted += 1

    table = FlowTable(ENGINE_FLOWS, on_evict=count, sketch=local_to_global())  # the engine's bound
    stats = run(args, lambda _pkt: None, table)
    table.flush()
    out = stats.to_dict()
    out["flows"] = table.total_flows
    out["packets_per_second"] = round(stats.packets / stats.seconds) if stats.seconds else None
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
