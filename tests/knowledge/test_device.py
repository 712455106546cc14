"""The one device builder (knowledge/device.py): categories from combined weak signals, family roll-up,
vendor owner country, names; the scan's fusion and the passive attribution build the same record."""

from __future__ import annotations

from hikscan.active.base import Observation
from hikscan.active.fusion import fuse
from hikscan.knowledge import fingerprint
from hikscan.knowledge.device import identify_device, is_cctv
from hikscan.knowledge.rules import default_rules
from hikscan.passive.attribution import Attribution
from hikscan.report.model import Evidence

RULES = default_rules()


def ev(key: str, value: str) -> Evidence:
    return Evidence("test", key, value)


def device(*items: Evidence):  # type: ignore[no-untyped-def]
    return identify_device("192.0.2.10", None, list(items), RULES)


def test_weak_signals_combine_into_a_camera_of_that_vendor() -> None:
    module = device(ev("mac.org", "Shanghai Imilab Technology Co.Ltd"))
    assert (module.vendor, module.category) == ("Chuangmi", "camera") and module.confidence <= 0.5
    both = device(ev("mac.org", "Shanghai Imilab Technology Co.Ltd"), ev("p2p.protocol", "cs2-pppp"))
    assert (both.vendor, both.family, both.vendor_country, both.category) == (
        "Chuangmi",
        "xiaomi",
        "CN",
        "camera",
    )
    assert is_cctv(both)


def test_a_family_level_cloud_name_rolls_up_to_the_family_root() -> None:
    cam = device(ev("dns.query", "business.smartcamera.api.io.mi.com"))
    assert (cam.vendor, cam.family, cam.category) == ("Xiaomi", "xiaomi", "camera")


def test_negatives_xiaomi_phone_names_and_a_xiaomi_router_are_not_cameras() -> None:
    router = device(ev("mac.org", "Beijing Xiaomi Mobile Software Co., Ltd"))
    assert (router.vendor, router.category) == ("Xiaomi", "unknown") and not is_cctv(router)
    phone = device(
        ev("dns.query", "api.io.mi.com"), ev("http.user_agent", "Dalvik/2.1.0 (Linux; U; Android 10)")
    )
    assert phone.category == "phone" and not is_cctv(phone)
    plug = device(ev("dns.query", "devs.tplinkcloud.com"), ev("dhcp.hostname", "HS110(EU)"))
    assert not is_cctv(plug)


def test_the_strongest_category_wins_and_cctv_vendors_default_to_camera() -> None:
    vlc = device(ev("rtsp.serves", "lan"), ev("rtsp.server", "VLC/3.0.12"))
    assert vlc.category == "computer"
    hik = device(ev("http.server", "App-webs/"))
    assert (hik.vendor, hik.category, hik.vendor_country) == ("Hikvision", "camera", "CN")
    assert device().category == "unknown"


def test_names_come_from_what_the_device_calls_itself() -> None:
    dlink = device(
        ev("mdns.instance", "D-Link DCS-935L Configuration Utility"), ev("dhcp.hostname", "DCS-935L")
    )
    assert (dlink.name, dlink.vendor, dlink.model, dlink.vendor_country) == (
        "DCS-935L",
        "D-Link",
        "DCS-935L",
        "TW",
    )
    edimax = device(ev("mdns.instance", " [74:da:38:80:79:fc]"))
    assert edimax.name == "74:da:38:80:79:fc"


def test_fusion_and_attribution_build_the_same_record() -> None:
    items = [
        ev("dhcp.hostname", "DCS-935L"),
        ev("ssdp.server", "Linux,    UPnP/1.0 DCS-935L/1.0"),
        ev("dns.query", "signal.mydlink.com"),
    ]
    passive = Attribution(RULES)
    passive.add("10.10.10.37", items)
    a = passive.device("10.10.10.37")
    b = fuse([Observation("10.10.10.37", None, items, "test")], lambda e: fingerprint.identify(e, RULES))
    fields = (
        "vendor",
        "family",
        "vendor_country",
        "category",
        "name",
        "model",
        "confidence",
        "matched_rules",
    )
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert a.category == "camera" and a.vendor == "D-Link"


def test_an_inventory_vendor_is_taken_at_its_word_when_rules_say_nothing() -> None:
    dev = identify_device("10.0.0.5", None, [ev("x.unknown", "?")], RULES, inventory_vendor="Hikvision")
    assert (dev.vendor, dev.matched_rules, dev.category, dev.family) == (
        "Hikvision",
        ["inventory"],
        "camera",
        "hikvision",
    )
