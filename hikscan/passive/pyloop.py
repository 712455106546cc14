"""The record loop in Python for classic pcap of Ethernet frames, and the rule for which payloads the
inspectors see (which the loops, this one and hikscan/passive/_fastloop.c, inline).

pipeline.run uses this loop where the compiled one is not built or HIKSCAN_PURE_PYTHON=1; both give the
generic loop's results (tests/passive/test_fastloop.py).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from hikscan.capture import LINKTYPE_ETHERNET, MAX_CAPLEN, PcapReader
from hikscan.passive.decode import MAX_VLANS, VLAN_TPIDS, Decoder, Packet
from hikscan.passive.flows import BEAT_GAP, PROTO_BYTE, Flow, FlowTable, handshake_rtt
from hikscan.passive.gate import PayloadGate

_PORTS = struct.Struct("!HH").unpack_from
# Names, banners, announcements and cloud signatures sit at the start of a flow (ClientHello, HTTP
# request, first response, P2P hello): like nDPI, only the first payload packets of each flow go to
# the inspectors. DNS is the exception, since a resolver may carry many answers on one 5-tuple.
INSPECT_PER_FLOW = 8
ALWAYS_INSPECT = frozenset({53, 5353})


def should_inspect(flow: Flow, sport: int, dport: int) -> bool:
    """The one rule for which payloads the inspectors see (the fast loop below inlines it)."""
    return flow.inspected < INSPECT_PER_FLOW or sport in ALWAYS_INSPECT or dport in ALWAYS_INSPECT


def hand_over(pkt: Packet, flow: Flow, on_payload: Callable[[Packet], object] | None) -> int:
    """Give pkt to on_payload if it carries data the inspectors should see; 1 if it was given."""
    if (
        pkt.payload
        and pkt.frag != 2
        and on_payload is not None
        and should_inspect(flow, pkt.sport, pkt.dport)
    ):
        flow.inspected += 1
        on_payload(pkt)
        return 1
    return 0


def pcap_ethernet_loop(
    reader: PcapReader,
    dec: Decoder,
    flows: FlowTable,
    on_payload: Callable[[Packet], object] | None,
    tick: Callable[[int], bool],
    gate: PayloadGate | None = None,
) -> tuple[int, int, int, int]:
    """Classic pcap + Ethernet: records unpacked by offset from the reader's chunk, and Ethernet (with
    up to MAX_VLANS VLAN tags: a trunk port's SPAN) → IPv4 (no options, not a fragment) → TCP/UDP
    decoded inline. Everything else (IPv6, options, fragments, odd lengths, ARP) goes through
    Decoder.decode_frame, which also counts malformed packets. Framing and truncation rules are the
    same as PcapReader.__iter__.

    For speed, an inline-decoded packet of a flow already in the table is counted straight from the
    buffer (FlowTable.add's updates), found by its direction's addresses and ports as they sit in the
    buffer; a Packet object is built only when the packet starts a flow or has a payload for
    on_payload. `gate` is not used here (see pipeline._pcap_loop_c).
    """
    hdr = struct.Struct(reader.endian + "IIII").unpack_from
    ports = _PORTS
    ts_div = reader.ts_div
    decode = dec.decode_frame
    add = flows.add
    known = flows.by_key.get
    proto_byte = PROTO_BYTE
    beat_gap = BEAT_GAP
    # Per direction of each flow seen inline (bounded by the table: cleared whenever it evicts).
    tcp_dirs: dict[bytes, tuple[Flow, int]] = {}
    udp_dirs: dict[bytes, tuple[Flow, int]] = {}
    evicted = flows.evicted
    n = wire = ip = with_payload = 0
    if not reader._header_ok:
        return n, wire, ip, with_payload
    snaplen = reader.snaplen or MAX_CAPLEN
    warned_snap = warned_orig = False
    while True:
        buf = reader._buf
        pos = reader._pos
        end = len(buf)
        while pos + 16 <= end:
            sec, frac, caplen, wirelen = hdr(buf, pos)
            s = pos + 16
            nxt = s + caplen
            if nxt > end or caplen > MAX_CAPLEN:
                break
            if caplen > wirelen:
                if not warned_orig:  # the same warnings as PcapReader.__iter__, once per file
                    warned_orig = True
                    at = reader._base + pos
                    reader._warn(f"record at offset {at} has caplen {caplen} > origlen {wirelen}")
                wirelen = caplen
            if caplen > snaplen and not warned_snap:
                warned_snap = True
                reader._warn(f"record at offset {reader._base + pos} has caplen {caplen} > snaplen {snaplen}")
            n += 1
            wire += wirelen
            # Ethernet (VLAN tags allowed) + IPv4 (IHL 5, not a fragment) + TCP/UDP: data = payload
            # start, else -1. ipo + 40 <= nxt (caplen >= 54 untagged): every header byte read is inside.
            data = -1
            ipo = s + 14
            etype = buf[s + 12] << 8 | buf[s + 13] if caplen >= 54 else 0
            vlans: tuple[int, ...] = ()
            while etype in VLAN_TPIDS and len(vlans) < MAX_VLANS and ipo + 4 <= nxt:  # else decode_frame's
                vlans = (*vlans, (buf[ipo] << 8 | buf[ipo + 1]) & 0x0FFF)
                etype = buf[ipo + 2] << 8 | buf[ipo + 3]
                ipo += 4
            if (
                etype == 0x0800
                and ipo + 40 <= nxt
                and buf[ipo] == 0x45
                and not (buf[ipo + 6] & 0x3F or buf[ipo + 7])
            ):
                proto = buf[ipo + 9]
                stop = ipo + ((buf[ipo + 2] << 8) | buf[ipo + 3])
                if stop > nxt:
                    stop = nxt
                l4 = ipo + 20
                if proto == 6 and l4 + 20 <= stop:
                    doff = (buf[l4 + 12] >> 4) * 4
                    if doff >= 20 and l4 + doff <= stop:
                        data = l4 + doff
                        flags = buf[l4 + 13] | ((buf[l4 + 12] & 1) << 8)
                        dirs = tcp_dirs
                elif proto == 17 and l4 + 8 <= stop:
                    ulen = (buf[l4 + 4] << 8) | buf[l4 + 5]
                    if ulen >= 8 and l4 + ulen < stop:
                        stop = l4 + ulen
                    data = l4 + 8
                    flags = 0
                    dirs = udp_dirs
            if data < 0:
                pkt = decode(sec + frac / ts_div, LINKTYPE_ETHERNET, buf[s:nxt], wirelen)
                if pkt is not None:
                    ip += 1
                    with_payload += hand_over(pkt, add(pkt), on_payload)
                    if flows.evicted != evicted:  # the direction caches may name evicted flows
                        evicted = flows.evicted
                        tcp_dirs.clear()
                        udp_dirs.clear()
            else:
                ip += 1
                ts = sec + frac / ts_div
                # This direction's src+dst+sport+dport, as on the wire → (flow, sent by its client).
                key = buf[ipo + 12 : ipo + 20] + buf[l4 : l4 + 4]
                hit = dirs.get(key)
                pkt = None
                if hit is None:  # the first packet of this direction in this file: the canonical key
                    src = buf[ipo + 12 : ipo + 16]
                    a = src + buf[l4 : l4 + 2]  # as flow_key builds it
                    b = buf[ipo + 16 : ipo + 20] + buf[l4 + 2 : l4 + 4]
                    flow = known((a + b if a <= b else b + a) + proto_byte[proto])
                    sport, dport = ports(buf, l4)
                    if flow is None:
                        pkt = Packet(
                            ts, buf[s + 6 : s + 12], buf[s : s + 6], vlans, 4, src, buf[ipo + 16 : ipo + 20],
                            proto, sport, dport, flags, wirelen, buf[data:stop], 0,
                        )  # fmt: skip
                        flow = add(pkt)  # counts pkt
                        if flows.evicted != evicted:
                            evicted = flows.evicted
                            tcp_dirs.clear()
                            udp_dirs.clear()
                    # 0: from the server; 1: from the client; 2: from the client of a sketched UDP flow
                    c2s = (
                        (2 if flow.sketched else 1) if sport == flow.client_port and src == flow.client else 0
                    )
                    dirs[key] = (flow, c2s)
                else:
                    flow, c2s = hit
                if pkt is None:  # FlowTable.add's updates, inline
                    if not c2s and flags & 0x12 == 0x12:  # a SYN-ACK: the handshake RTT
                        handshake_rtt(flow, ts)
                    if ts > flow.last_seen:
                        flow.last_seen = ts
                    elif ts < flow.first_seen:
                        flow.first_seen = ts
                    if c2s:
                        if c2s == 2:  # the UDP timing sketch (FlowTable.add's)
                            if ts - flow.c2s_last >= beat_gap:
                                flow.beat(ts)
                            flow.c2s_last = ts
                        flow.packets_c2s += 1
                        flow.bytes_c2s += wirelen
                        if flow.client_mac is None:
                            flow.client_mac = buf[s + 6 : s + 12]
                    else:
                        flow.packets_s2c += 1
                        flow.bytes_s2c += wirelen
                        if flow.server_mac is None:
                            flow.server_mac = buf[s + 6 : s + 12]
                    flow.tcp_flags |= flags
                if (
                    data < stop
                    and on_payload is not None
                    and (flow.inspected < INSPECT_PER_FLOW or not ALWAYS_INSPECT.isdisjoint(ports(buf, l4)))
                ):
                    if pkt is None:
                        sport, dport = ports(buf, l4)
                        pkt = Packet(
                            ts, buf[s + 6 : s + 12], buf[s : s + 6], vlans, 4, buf[ipo + 12 : ipo + 16],
                            buf[ipo + 16 : ipo + 20], proto, sport, dport, flags, wirelen, buf[data:stop], 0,
                        )  # fmt: skip
                    flow.inspected += 1
                    with_payload += 1
                    on_payload(pkt)
            pos = nxt
            if not n & 0x3FF:
                reader._pos = pos
                if flows.expire(sec + frac / ts_div):  # idle flows closed: the caches may name them
                    evicted = flows.evicted
                    tcp_dirs.clear()
                    udp_dirs.clear()
                if tick(reader.position):
                    reader.records = n
                    return n, wire, ip, with_payload
        reader._pos = pos
        if not reader.next_record_in_buffer():
            break
    reader.records = n
    return n, wire, ip, with_payload
