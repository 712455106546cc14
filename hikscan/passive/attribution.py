"""Which internal hosts are CCTV devices, and whose: evidence gathered from a capture and a scan inventory."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hikscan.errors import UsageError
from hikscan.knowledge.device import identify_device, mac_evidence
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import RuleSet
from hikscan.report.model import Device, Evidence

MAX_HOSTS = 100_000
MAX_EVIDENCE_PER_HOST = 96
#: Bytes the evidence and MAC tables may hold (estimated from above): past it new hosts and items are only
#: counted in `dropped`. The LAN benchmark capture (2,000 hosts with evidence) takes ~1 MiB.
MAX_BYTES = 16 * 2**20
HOST_COST = 240  # a table slot, a key string and a list
ITEM_COST = 144  # an Evidence (slots), its value's str object and list slot, past the value's characters
MAC_COST = 200  # a macs slot, an address and a MAC string
# Names a host asks for or sends (DNS, SNI, User-Agent) are many on a PC: keep the first few per key, so
# they cannot crowd out a DHCP host name or a discovery reply that arrives later.
MAX_PER_KEY = 16


def read_inventory(path: Path) -> list[Any]:
    """The device records of a `hikscan scan -o scan.json` file, or a one-line UsageError."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))["devices"]
        if not isinstance(records, list):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a hikscan scan inventory ({exc.__class__.__name__})") from None
    return records


class Attribution:
    """Evidence per internal host (keyed by IP, or by MAC until its address is known), and the MAC each
    host sends from."""

    def __init__(self, rules: RuleSet, oui: OuiTable | None = None) -> None:
        self.rules = rules
        self.oui = oui
        self.evidence: dict[str, list[Evidence]] = {}
        self.by_mac: dict[str, list[Evidence]] = {}  # e.g. a DHCP request before the host has an address
        self.macs: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self.inventory_vendor: dict[
            str, str
        ] = {}  # another address of a known host (same MAC), e.g. its IPv6
        self.dropped = 0
        self.max_bytes = MAX_BYTES
        self.bytes = 0  # an upper estimate of what evidence, by_mac and macs hold

    def add_mac(self, ip: str, mac: str) -> None:
        if ip in ("0.0.0.0", "::"):
            return  # a DHCP client before it has an address: its evidence is filed by MAC
        if ip not in self.macs and len(self.macs) < MAX_HOSTS:
            if self.bytes + MAC_COST > self.max_bytes:
                self.dropped += 1
                return
            self.bytes += MAC_COST
            self.macs[ip] = mac

    def add(self, ip: str, items: Iterable[Evidence]) -> None:
        self._add(self.evidence, ip, items)

    def add_by_mac(self, mac: str, items: Iterable[Evidence]) -> None:
        """Evidence about whichever address the host with this MAC has (see `device`)."""
        self._add(self.by_mac, mac.lower(), items)

    def _add(self, table: dict[str, list[Evidence]], key: str, items: Iterable[Evidence]) -> None:
        items = list(items)
        if not items:
            return
        bucket = table.get(key)
        if bucket is None:
            if len(table) >= MAX_HOSTS or self.bytes + HOST_COST > self.max_bytes:
                self.dropped += 1
                return
            self.bytes += HOST_COST
            bucket = table[key] = []
        for item in items:
            if item in bucket or len(bucket) >= MAX_EVIDENCE_PER_HOST:
                continue
            if sum(1 for e in bucket if e.key == item.key) >= MAX_PER_KEY:
                continue
            cost = ITEM_COST + len(item.value)
            if self.bytes + cost > self.max_bytes:
                self.dropped += 1
                continue
            self.bytes += cost
            bucket.append(item)

    def add_inventory(self, records: list[Any]) -> None:
        """Devices from an earlier scan (see `read_inventory`): their observations become evidence.

        The scan's own evidence list is replayed through the same rules, so the verdict is the scan's;
        an inventory written by hand with only a `vendor` is taken at its word if the vendor is known.
        """
        for record in records:
            if not isinstance(record, dict) or not record.get("ip"):
                continue
            ip = str(record["ip"])
            if record.get("mac"):
                self.add_mac(ip, str(record["mac"]))
            observed = [
                Evidence(f"inventory:{e.get('source', '?')}", str(e["key"]), str(e["value"]))
                for e in record.get("evidence") or ()
                if isinstance(e, dict) and "key" in e and "value" in e
            ]
            self.add(ip, observed)
            vendor = self.rules.canonical_vendor(str(record["vendor"])) if record.get("vendor") else None
            if vendor:
                self.inventory_vendor[ip] = vendor

    def alias(self, ip: str, twin: str) -> None:
        if ip not in self.evidence and len(self.aliases) < MAX_HOSTS:
            self.aliases[ip] = twin

    def hosts(self) -> list[str]:
        """Every host with evidence, once each, in no order (a list: no set of them all is built)."""
        evidence, macs = self.evidence, self.macs
        return [*evidence, *(ip for ip in macs if ip not in evidence),
                *(ip for ip in self.inventory_vendor if ip not in evidence and ip not in macs)]  # fmt: skip

    def has_host(self, ip: str) -> bool:
        """Is ip a host with evidence, or another address of one (an alias)?"""
        return ip in self.evidence or ip in self.macs or ip in self.inventory_vendor or ip in self.aliases

    def device(self, ip: str) -> Device:
        """The fused verdict for one host (knowledge.device builds it, as for a scan)."""
        twin = self.aliases.get(ip)
        if twin is not None:
            device = self.device(twin)
            device.evidence.append(Evidence("capture", "same-mac-as", twin))
            device.ip = ip
            return device
        evidence = list(self.evidence.get(ip, ()))
        mac = self.macs.get(ip)
        if mac:
            evidence += [e for e in self.by_mac.get(mac.lower(), ()) if e not in evidence]
            lookup = self.oui.lookup if self.oui is not None else None
            evidence += mac_evidence(mac, lookup, "oui")
        return identify_device(ip, mac, evidence, self.rules, self.inventory_vendor.get(ip))
