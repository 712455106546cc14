"""Flow table: both directions one flow, client/server roles, counts, bounded with eviction to a callback."""

from __future__ import annotations

import pytest

from hikscan.passive.decode import Packet, ip_text
from hikscan.passive.flows import (
    ENGINE_FLOWS,
    FLOW_BYTES,
    FLOW_CLASS,
    MIN_FLOWS,
    Flow,
    FlowTable,
    SlotFlow,
    flow_key,
)

CAM_MAC = bytes.fromhex("5850ed010203")
GW_MAC = bytes.fromhex("00005e0001fe")
CAM = bytes([192, 0, 2, 10])
SRV = bytes([198, 51, 100, 7])


def pkt(ts: float, src: bytes, sport: int, dst: bytes, dport: int, *, flags: int = 0x10, size: int = 100,
        proto: int = 6, smac: bytes | None = None, dmac: bytes | None = None) -> Packet:  # fmt: skip
    return Packet(ts, smac, dmac, (), 4, src, dst, proto, sport, dport, flags, size, b"")


def test_both_directions_are_one_flow_with_per_direction_counts() -> None:
    t = FlowTable()
    t.add(pkt(1.0, CAM, 40000, SRV, 443, flags=0x02, size=60, smac=CAM_MAC, dmac=GW_MAC))
    t.add(pkt(1.1, SRV, 443, CAM, 40000, flags=0x12, size=60, smac=GW_MAC, dmac=CAM_MAC))
    t.add(pkt(1.2, CAM, 40000, SRV, 443, flags=0x18, size=500, smac=CAM_MAC))
    t.add(pkt(1.3, SRV, 443, CAM, 40000, flags=0x11, size=1500, smac=GW_MAC))
    assert len(t) == 1
    (f,) = list(t)
    ends = (ip_text(f.client), f.client_port, ip_text(f.server), f.server_port)
    assert ends == ("192.0.2.10", 40000, "198.51.100.7", 443)
    assert (f.packets_c2s, f.packets_s2c, f.bytes_c2s, f.bytes_s2c) == (2, 2, 560, 1560)
    assert (f.packets, f.bytes) == (4, 2120)
    assert (f.client_mac, f.server_mac) == (CAM_MAC, GW_MAC)
    assert (f.first_seen, f.last_seen) == (1.0, 1.3)
    assert f.tcp_flags == 0x02 | 0x12 | 0x18 | 0x11
    assert t.get(SRV, 443, CAM, 40000, 6) is f and t.get(CAM, 40000, SRV, 443, 6) is f


def test_syn_ack_first_makes_its_sender_the_server() -> None:
    t = FlowTable()
    f = t.add(pkt(1.0, SRV, 443, CAM, 40000, flags=0x12, smac=GW_MAC, dmac=CAM_MAC))
    assert (f.client, f.server, f.client_mac, f.server_mac) == (CAM, SRV, CAM_MAC, GW_MAC)
    assert (f.packets_c2s, f.packets_s2c) == (0, 1)


def test_reply_from_well_known_port_seen_first() -> None:
    f = FlowTable().add(pkt(1.0, SRV, 53, CAM, 51000, flags=0, proto=17))
    assert (f.server, f.server_port, f.client_port) == (SRV, 53, 51000)


def test_protocol_and_ports_separate_flows() -> None:
    t = FlowTable()
    t.add(pkt(1.0, CAM, 5000, SRV, 5000, proto=6))
    t.add(pkt(1.0, CAM, 5000, SRV, 5000, proto=17))
    t.add(pkt(1.0, CAM, 5001, SRV, 5000, proto=17))
    assert len(t) == 3 and t.total_flows == 3


def test_key_is_packed_bytes_and_direction_free() -> None:
    k = flow_key(CAM, 1, SRV, 2, 6)
    assert isinstance(k, bytes) and k == flow_key(SRV, 2, CAM, 1, 6) and len(k) == 13


def test_out_of_order_timestamps_widen_first_seen() -> None:
    t = FlowTable()
    t.add(pkt(5.0, CAM, 1, SRV, 2))
    f = t.add(pkt(4.0, CAM, 1, SRV, 2))
    assert (f.first_seen, f.last_seen) == (4.0, 5.0)


def test_bounded_with_least_recently_seen_evicted_to_callback() -> None:
    evicted: list[Flow] = []
    t = FlowTable(max_flows=3, on_evict=evicted.append, evict_batch=1)
    for i in range(3):
        t.add(pkt(float(i), CAM, 1000 + i, SRV, 80))
    t.add(pkt(10.0, CAM, 1000, SRV, 80))  # flow 0 is now the most recent
    t.add(pkt(11.0, CAM, 2000, SRV, 80))  # full: flow 1 (last seen 1.0) goes
    assert [f.client_port for f in evicted] == [1001]
    assert len(t) == 3 and t.evicted == 1
    t.flush()
    assert [f.client_port for f in evicted] == [1001, 1000, 1002, 2000]  # the rest, in the order they opened
    assert len(t) == 0
    assert sum(f.packets for f in evicted) == 5  # nothing lost


@pytest.mark.parametrize("batch", [1, 7])
def test_table_never_exceeds_max_flows(batch: int) -> None:
    seen: list[Flow] = []
    t = FlowTable(max_flows=50, on_evict=seen.append, evict_batch=batch)
    for i in range(1000):
        t.add(pkt(float(i), CAM, i, SRV, 80))
        assert len(t) <= 50
    t.flush()
    assert len(seen) == 1000 and {f.client_port for f in seen} == set(range(1000))


def test_invalid_size_rejected() -> None:
    with pytest.raises(ValueError):
        FlowTable(max_flows=0)


@pytest.mark.parametrize("layout", sorted({FLOW_CLASS, SlotFlow}, key=str), ids=lambda c: c.__name__)
def test_a_flow_costs_what_the_engine_budget_charges(layout: type[Flow]) -> None:
    """flows.ENGINE_FLOWS and FLOW_BYTES are sized from this figure: flows of 200 hosts with 300 servers
    (addresses and MACs shared between flows), both directions counted, bytes past the small-int cache.
    The numbers as C values (FieldsFlow) cost ~300 bytes a flow, a slot each (SlotFlow) ~440."""
    import random
    import tracemalloc

    rng = random.Random(1)
    hosts = [bytes((192, 168, 0, i)) for i in range(1, 201)]
    servers = [bytes((47, 88, rng.randrange(256), rng.randrange(256))) for _ in range(300)]
    table = FlowTable(100_000, flow_cls=layout)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            src, dst = rng.choice(hosts), rng.choice(servers)
            sport, proto = rng.randrange(32768, 61000), 17 if i % 3 else 6
            cam, gw, ts = bytes.fromhex("5850ed000001"), bytes.fromhex("00005e0001fe"), 1.7e9 + i / 100
            out = Packet(ts, cam, gw, (), 4, src, dst, proto, sport, 443, 0x02 if proto == 6 else 0, 600, b"")
            back = Packet(ts + 0.01, gw, cam, (), 4, dst, src, proto, 443, sport, 0x12 if proto == 6 else 0,
                          900, b"")  # fmt: skip
            table.add(out)
            table.add(back)
        per_flow = (tracemalloc.get_traced_memory()[0] - before) / len(table)
    finally:
        tracemalloc.stop()
    assert len(table) == 20_000
    print(f"{layout.__name__}: {per_flow:.0f} bytes a flow")
    assert per_flow < (330 if layout is not SlotFlow else 500), per_flow
    assert ENGINE_FLOWS * per_flow < 32 * 2**20


def test_eviction_picks_what_heapq_nsmallest_would() -> None:
    """FlowTable._least_recent is nsmallest by last_seen (stable: ties in table order), computed faster."""
    import heapq
    import random
    from operator import attrgetter

    rng = random.Random(5)
    for trial in range(30):
        t = FlowTable(max_flows=10_000)
        for i in range(rng.randrange(1, 400)):
            t.add(pkt(float(rng.randrange(20)), CAM, 1000 + i, SRV, 80))  # many equal times: ties
        k = rng.randrange(1, len(t) + 2)
        want = heapq.nsmallest(k, t, key=attrgetter("last_seen"))
        assert [f.client_port for f in t._least_recent(k)] == [f.client_port for f in want], trial


@pytest.mark.parametrize("pure", ["1", None])
def test_pure_python_runs_as_an_install_without_the_module(pure: str | None) -> None:
    """HIKSCAN_PURE_PYTHON=1 is a build without the compiled module: the Python loop and the slot layout
    (the benchmark's "pure Python" row measures that install, memory included); unset, both come from the
    module where it was built."""
    import os
    import subprocess
    import sys

    from hikscan.passive import pipeline

    env = {k: v for k, v in os.environ.items() if k != "HIKSCAN_PURE_PYTHON"}
    if pure is not None:
        env["HIKSCAN_PURE_PYTHON"] = pure
    code = (
        "from hikscan.passive import flows, pipeline\nprint(flows.FLOW_CLASS.__name__, pipeline.hot_loop())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    built = pipeline._fastloop is not None
    want = "FieldsFlow c" if built and pure is None else "SlotFlow python"
    assert out.stdout.split() == want.split()


def test_a_table_with_room_holds_what_fits() -> None:
    """`room`: the bytes the open flows may take, read at every expire(): the table then holds that many at
    FLOW_BYTES each (at least MIN_FLOWS, at most its size), closing its oldest as new flows come."""
    room = [6_000 * FLOW_BYTES]
    closed: list[Flow] = []
    table = FlowTable(20_000, closed.append, room=lambda: room[0])
    table.expire(0.0)
    assert table.max_flows == 6_000
    for i in range(8_000):
        table.add(pkt(i / 1000, bytes([10, 0, i >> 8, i & 255]), 40_000, SRV, 443, flags=0x02))
    assert len(table) <= 6_000 and len(table) + len(closed) == 8_000
    assert max(f.last_seen for f in closed) < min(f.last_seen for f in table)  # the oldest went first
    room[0] = 0
    table.expire(10.0)
    assert table.max_flows == MIN_FLOWS
    room[0] = 1 << 40
    table.expire(20.0)
    assert table.max_flows == 20_000


def test_the_end_closes_flows_in_the_order_they_opened() -> None:
    """flush() folds every flow in the table's order, the order they were opened, whatever they saw last."""
    closed: list[Flow] = []
    table = FlowTable(100, closed.append)
    for i in range(5):
        table.add(pkt(float(i), CAM, 40_000 + i, SRV, 443, flags=0x02))
    table.add(pkt(9.0, CAM, 40_000, SRV, 443))  # the first flow is the last one seen
    table.flush()
    assert [f.client_port for f in closed] == [40_000, 40_001, 40_002, 40_003, 40_004] and not len(table)
