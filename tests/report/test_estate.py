"""The estate answer: family roll-up through the vendor vocabulary, subnets, NDAA §889 marking."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hikscan.knowledge.rules import load_rules
from hikscan.report.estate import Estate, subnet_of


def _device(ip: str | None, vendor: str | None, **extra: Any) -> dict[str, Any]:
    return {"ip": ip, "vendor": vendor, "family": None, "activated": None, "cloud_enabled": None,
            "cves": [], **extra}  # fmt: skip


def test_subnets_are_24_and_64() -> None:
    assert subnet_of("10.20.0.17") == "10.20.0.0/24"
    assert subnet_of("2001:db8:70:0:4619:b6ff:fe31:1f16") == "2001:db8:70::/64"
    assert subnet_of("fe80::1%eth0") == "fe80::/64"
    assert subnet_of(None) == subnet_of("not an ip") == "unknown"


def test_oem_brands_roll_up_and_ndaa_comes_from_the_vendor_flags() -> None:
    estate = Estate(load_rules())
    for device in (
        _device("10.0.0.1", "Hikvision", activated=False, cves=["CVE-2021-36260"]),
        _device("10.0.0.2", "EZVIZ", cloud_enabled=True),
        _device("10.0.0.3", "CP PLUS"),  # a Dahua OEM brand
        _device("10.0.1.4", "Axis"),
        _device("10.0.1.5", None),
    ):
        estate.add(device)
    s = estate.summary()
    assert s["headline"] == "2 of 5 devices are Hikvision family"
    assert {f["family"]: (f["devices"], f["ndaa889"]) for f in s["by_family"]} == {
        "hikvision": (2, True), "dahua": (1, True), "axis": (1, False), "unknown": (1, False),
    }  # fmt: skip
    assert s["ndaa889_devices"] == 3 and s["ndaa889_vendors"] == ["CP PLUS", "EZVIZ", "Hikvision"]
    assert "ndaa889 flags" in s["ndaa889_basis"]  # rules/vendors.yaml flags Hikvision, Dahua and their brands
    assert [(n["subnet"], n["devices"]) for n in s["by_subnet"]] == [("10.0.0.0/24", 3), ("10.0.1.0/24", 2)]
    assert (s["unactivated"], s["cloud_enabled"], s["with_cves"]) == (1, 1, 1)


def test_an_ndaa889_flag_in_the_rules_takes_over() -> None:
    """When vendors.yaml carries `ndaa889`, the flag decides (here: only the brand flagged)."""
    rules = SimpleNamespace(vendors={
        "Hikvision": SimpleNamespace(name="Hikvision", family="hikvision", ndaa889=True),
        "Prama Hikvision": SimpleNamespace(name="Prama Hikvision", family="hikvision", ndaa889=False),
        "Axis": SimpleNamespace(name="Axis", family="axis", ndaa889=False),
    })  # fmt: skip
    estate = Estate(rules)  # type: ignore[arg-type]
    for vendor in ("Hikvision", "Prama Hikvision", "Axis"):
        estate.add(_device("192.0.2.1", vendor))
    s = estate.summary()
    assert s["ndaa889_devices"] == 1 and s["ndaa889_vendors"] == ["Hikvision"]
    assert "ndaa889 flags" in s["ndaa889_basis"]
