"""Short human labels for devices and remotes, shared by the human-readable writers (table, HTML)."""

from __future__ import annotations

from typing import Any

from hikscan.knowledge.enrich import describe_remote


def device_label(device: dict[str, Any]) -> str:
    """ "chuangmi_camera (Xiaomi camera) 192.168.1.165"; a fleet: "8 × Hikvision"."""
    if device.get("members"):
        return f"{device.get('count')} × {device.get('vendor')}"
    what = " ".join(
        str(x) for x in (device.get("vendor"), device.get("model") or device.get("category")) if x
    )
    parts = [str(device["name"])] if device.get("name") else []
    if what:
        parts.append(f"({what})")
    if device.get("ip"):
        parts.append(str(device["ip"]))
    return " ".join(parts) or "?"


def server_label(remote: dict[str, Any]) -> str:
    ports = remote.get("ports") or [f"{remote.get('port')}/{remote.get('proto')}"]
    shown = ",".join(ports[:4]) + (f",+{len(ports) - 4}" if len(ports) > 4 else "")
    name = remote.get("name") or remote.get("cloud")
    return " ".join(str(x) for x in (remote.get("ip"), shown, name) if x)


def where_label(remote: dict[str, Any]) -> str:
    """ "Alibaba Cloud (CN-owned) · US AS45102"; every database's opinion when they disagree; else the org."""
    located = [tuple(pair) for pair in remote.get("located") or ()]
    where = describe_remote(remote.get("owner"), remote.get("owner_country"), remote.get("country"), located)
    org = "" if remote.get("owner") else (remote.get("org") or "")[:32]
    asn = f"AS{remote['asn']}" if remote.get("asn") else ""
    return " ".join(x for x in (where, org, asn) if x)


def when_label(first: str, last: str) -> str:
    a, b = first.replace("T", " ")[:19], last.replace("T", " ")[:19]
    return a if a == b else (f"{a} → {b[11:]}" if a[:10] == b[:10] else f"{a} → {b}")


def size_label(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1000  # type: ignore[assignment]
    return str(n)
