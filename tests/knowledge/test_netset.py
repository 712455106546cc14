"""NetSet answers `addr in net` for the policy's networks exactly as ipaddress does, for any text."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from hikscan.knowledge.netset import NetSet
from hikscan.knowledge.rules import default_rules
from hikscan.knowledge.ruleset import IpNet, ip_of


def _reference(nets: tuple[IpNet, ...], text: str) -> bool:
    addr = ip_of(text)
    return addr is not None and any(addr in net for net in nets if net.version == addr.version)


POLICY_NETS = default_rules().policy.internal_cidrs
networks = st.builds(
    lambda a, p: ipaddress.ip_network(f"{ipaddress.IPv4Address(a)}/{p}", strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
v4_texts = st.integers(0, 2**32 - 1).map(lambda a: str(ipaddress.IPv4Address(a)))
odd_texts = st.sampled_from(
    ["", "10.0.0.1 ", "010.0.0.1", "10.0.1", "10", "0x0a.0.0.1", "10.0.0.256", "10.0.0.1%eth0",
     "::ffff:10.0.0.1", "fe80::1%2", "fd00::1", "::1", "2001:db8::1", "10.0.0.1\x00", "١٠.0.0.1",
     "255.255.255.255", "0.0.0.0", "224.0.0.251", "192.0.0.64", "not an address"]
)  # fmt: skip
texts = st.one_of(v4_texts, odd_texts, st.text(max_size=20))


@given(st.lists(networks, max_size=8), st.lists(v4_texts | odd_texts, max_size=20))
@settings(max_examples=400)
def test_any_networks_answer_as_ipaddress_does(nets: list[IpNet], addresses: list[str]) -> None:
    netset = NetSet(nets)
    for text in addresses:
        assert (text in netset) is _reference(tuple(nets), text), text


@given(texts)
@settings(max_examples=2000)
def test_the_policys_internal_networks_answer_as_ipaddress_does(text: str) -> None:
    assert (text in NetSet(POLICY_NETS)) is _reference(POLICY_NETS, text)


def test_range_edges_and_adjacent_networks() -> None:
    nets = [ipaddress.ip_network(n) for n in ("10.0.0.0/25", "10.0.0.128/25", "10.0.2.0/24", "fc00::/7")]
    netset = NetSet(nets)
    inside = ("10.0.0.0", "10.0.0.127", "10.0.0.128", "10.0.0.255", "10.0.2.0", "10.0.2.255", "fd12::1")
    outside = ("9.255.255.255", "10.0.1.0", "10.0.1.255", "10.0.3.0", "::ffff:10.0.0.1", "fe80::1")
    assert all(ip in netset for ip in inside)
    assert not any(ip in netset for ip in outside)
    assert not NetSet([]) and "10.0.0.1" not in NetSet([])
