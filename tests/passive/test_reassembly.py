"""IP fragment reassembly: a SADP reply bigger than the MTU reaches the inspectors whole."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import Ether

from hikscan.capture.base import LINKTYPE_ETHERNET
from hikscan.passive.decode import Decoder, Reassembler

SADP = (
    Path(__file__).resolve().parents[1] / "data" / "active" / "sadp_response_2_DS-2CD2385G1-I.xml"
).read_bytes()


def frames_v4(payload: bytes, size: int = 600) -> list[bytes]:
    datagram = IP(src="10.1.0.5", dst="239.255.255.250", id=4242) / UDP(sport=37020, dport=37020) / payload
    return [bytes(Ether(src="58:50:ed:1f:e3:85") / f) for f in fragment(datagram, fragsize=size)]


def decode_all(frames: list[bytes], decoder: Decoder | None = None) -> list:
    decoder = decoder or Decoder()
    return [decoder.decode_frame(1.0 + i, LINKTYPE_ETHERNET, f, len(f)) for i, f in enumerate(frames)]


def test_in_order_fragments_give_the_whole_datagram_on_the_last() -> None:
    assert len(SADP) > 1500
    packets = decode_all(frames_v4(SADP))
    assert [p.frag for p in packets] == [1, 2, 3]
    whole = packets[-1]
    assert (whole.sport, whole.dport, bytes(whole.payload)) == (37020, 37020, SADP)


def test_out_of_order_and_duplicate_fragments() -> None:
    frames = frames_v4(SADP, size=400)
    shuffled = [frames[2], frames[0], frames[0], frames[4], frames[1], frames[3]]
    packets = decode_all(shuffled)
    done = [p for p in packets if p.frag == 3]
    assert len(done) == 1 and bytes(done[0].payload) == SADP


def test_a_missing_fragment_gives_nothing_and_stays_bounded() -> None:
    decoder = Decoder()
    for ident in range(Reassembler.MAX_PENDING * 3):
        datagram = IP(src="10.1.0.5", dst="10.1.0.9", id=ident) / UDP(sport=1, dport=2) / SADP
        first, *_rest = fragment(datagram, fragsize=800)
        frame = bytes(Ether() / first)
        assert decoder.decode_frame(float(ident), LINKTYPE_ETHERNET, frame, len(frame)).frag == 1
    assert len(decoder.reassembler.pending) <= Reassembler.MAX_PENDING
    assert decoder.reassembler.reassembled == 0


def test_ipv6_fragments() -> None:
    datagram = (
        IPv6(src="2001:db8::5", dst="ff02::c") / IPv6ExtHdrFragment(id=7) / UDP(sport=3702, dport=3702) / SADP
    )
    frames = [bytes(Ether() / f) for f in fragment6(datagram, 800)]
    packets = decode_all(frames)
    assert packets[-1].frag == 3 and bytes(packets[-1].payload) == SADP and packets[-1].dport == 3702


def test_a_fragment_claiming_more_than_64k_is_dropped() -> None:
    r = Reassembler()
    assert r.add((b"a", b"b", 1, 17), 0.0, 65_000, b"x" * 1000, False) is None
    assert not r.pending
