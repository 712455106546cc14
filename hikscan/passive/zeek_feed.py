"""Zeek logs into the one passive Engine: conn.log as flow records, the other logs as names and evidence.

    conn.log            → Engine.fold_record (packets/bytes each way; no reply = a failed attempt;
                          orig_l2_addr/resp_l2_addr from Zeek's mac-logging policy, when present)
    dns.log             → NameBook.add_dns_answer (query → each address answer)
    ssl.log             → NameBook.add_sni (server_name)
    http.log            → NameBook.add_http_host (host); http.user_agent evidence for internal clients
    dhcp.log            → the host's MAC, dhcp.hostname and dhcp.fqdn evidence
    known_services.log  → zeek.service evidence ("554/tcp RTSP") for internal hosts

These are the calls the payload inspector makes for the same facts seen in packets, so the findings
are those of the capture, but for what Zeek does not log (discovery announcements such as SADP,
server banners, P2P payload signatures). Records that do not parse are counted, never fatal.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hikscan.capture.zeek import ZeekLog, find_logs, timestamp
from hikscan.errors import MalformedInput
from hikscan.passive.engine import Engine
from hikscan.report.model import Evidence

PROTOS = {"tcp": 6, "udp": 17, "icmp": 1}
SOURCE = "zeek"
MAX_REASONS = 100
MAX_COUNT = 2**48  # packets, bytes or a port in one record: more is no real connection (a flow's counters are
# 64-bit where the compiled module is built)
# conn.log states in which the responder sent nothing (Zeek docs, conn.log conn_state)
NO_REPLY = {"S0", "SH", "OTH"}
# Names and evidence go in before the flows, as in a capture where the DNS answer precedes the connection.
ORDER = {"dhcp": 0, "known_services": 1, "dns": 2, "ssl": 3, "http": 4, "conn": 5}


def _packed(text: Any) -> bytes:
    if not isinstance(text, str):
        raise MalformedInput("no address")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0]).packed
    except ValueError:
        raise MalformedInput(f"bad address {text[:50]!r}") from None


def _int(value: Any, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise MalformedInput("missing number")
        return default
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        raise MalformedInput(f"bad number {str(value)[:30]!r}") from None
    except OverflowError:  # inf
        raise MalformedInput("number out of range") from None
    if number < 0:
        raise MalformedInput("negative count")
    if number > MAX_COUNT:
        raise MalformedInput("number out of range")
    return number


def _mac(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        raw = bytes.fromhex(value.replace(":", "").replace("-", ""))
    except ValueError:
        return None
    return raw if len(raw) == 6 else None


class ZeekFeed:
    """Feeds one Engine from Zeek logs; `stats` counts what was read and what was not."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_type: Counter[str] = Counter()
        self.bad: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()

    def run(self, paths: Sequence[Path], stop: threading.Event | None = None) -> dict[str, Any]:
        started = time.monotonic()
        logs = [log for path in paths for log in find_logs(path)]
        if not logs:
            raise MalformedInput(f"{paths[0]}: no Zeek logs hikscan reads (conn, dns, ssl, http, dhcp)")
        opened = sorted((ZeekLog(p) for p in logs), key=lambda z: (ORDER.get(z.log_type, 9), str(z.path)))
        packets = 0
        interrupted = False
        for log in opened:
            for kind, record in log:
                if stop is not None and stop.is_set():
                    interrupted = True
                    break
                try:
                    packets += self.record(kind, record)
                except MalformedInput as exc:
                    self._count_bad(f"{kind}: {str(exc).split(' ' + chr(39))[0]}"[:60])
            for reason, n in log.bad.items():
                self._count_bad(f"{log.path.name}: {reason}"[:80], n)
        return {
            "packets": packets,
            "format": "zeek",
            "logs": [str(log.path) for log in opened],
            "records": dict(self.by_type),
            "bad_records": dict(self.bad),
            "ignored_records": dict(self.ignored),
            "interrupted": interrupted,
            "seconds": round(time.monotonic() - started, 3),
        }

    def _count_bad(self, reason: str, n: int = 1) -> None:
        """Bad records by reason (at most MAX_REASONS reasons; the rest under "other")."""
        self.bad[reason if reason in self.bad or len(self.bad) < MAX_REASONS else "other"] += n

    def record(self, kind: str, rec: dict[str, Any]) -> int:
        """One log record into the engine; returns the packets it stands for (conn.log only)."""
        handler = getattr(self, f"_{kind}", None) if kind in ORDER else None
        if handler is None:
            self.ignored[kind[:40]] += 1
            return 0
        self.by_type[kind] += 1
        return int(handler(rec))

    def _conn(self, rec: dict[str, Any]) -> int:
        proto = PROTOS.get(str(rec.get("proto")))
        if proto is None:  # Zeek's "unknown_transport": nothing hikscan's flow table would hold either
            self.ignored["conn: " + str(rec.get("proto"))[:20]] += 1
            return 0
        first = timestamp(rec.get("ts"))
        duration = float(rec.get("duration") or 0.0) if _is_number(rec.get("duration")) else 0.0
        client, server = _packed(rec.get("id.orig_h")), _packed(rec.get("id.resp_h"))
        if proto == 1 and len(client) == 16:
            proto = 58
        sport = _int(rec.get("id.orig_p"), 0) if proto in (6, 17) else 0
        dport = _int(rec.get("id.resp_p"), 0) if proto in (6, 17) else 0
        if sport > 65535 or dport > 65535:
            raise MalformedInput("bad port")
        state = str(rec.get("conn_state") or "")
        sent_pkts = _int(rec.get("orig_pkts"), 1)
        got_pkts = _int(rec.get("resp_pkts"), 0 if state in NO_REPLY else 1)
        sent_bytes = _int(rec.get("orig_ip_bytes"), _int(rec.get("orig_bytes"), 0))
        got_bytes = _int(rec.get("resp_ip_bytes"), _int(rec.get("resp_bytes"), 0))
        macs = (_mac(rec.get("orig_l2_addr")), _mac(rec.get("resp_l2_addr")))
        self.engine.fold_record(
            first, first + duration, client, sport, server, dport, proto,
            (sent_pkts, sent_bytes), (got_pkts, got_bytes), macs,
        )  # fmt: skip
        return sent_pkts + got_pkts

    def _dns(self, rec: dict[str, Any]) -> int:
        query, answers = rec.get("query"), rec.get("answers")
        if not isinstance(query, str) or not query or not isinstance(answers, list):
            return 0
        client = _text_ip(rec.get("id.orig_h"))
        for answer in answers:
            address = _text_ip(answer, strict=False)
            if address is not None:
                self.engine.names.add_dns_answer(client, query, address)
        return 0

    def _ssl(self, rec: dict[str, Any]) -> int:
        name = rec.get("server_name")
        if isinstance(name, str) and name:
            self.engine.names.add_sni(_text_ip(rec.get("id.orig_h")), _text_ip(rec.get("id.resp_h")), name)
        return 0

    def _http(self, rec: dict[str, Any]) -> int:
        client, server = _text_ip(rec.get("id.orig_h")), _text_ip(rec.get("id.resp_h"))
        host, agent = rec.get("host"), rec.get("user_agent")
        if isinstance(host, str) and host:
            self.engine.names.add_http_host(client, server, host)
        if isinstance(agent, str) and agent and self.engine.is_local(client):
            self.engine.attribution.add(client, [Evidence(SOURCE, "http.user_agent", agent)])
        return 0

    def _dhcp(self, rec: dict[str, Any]) -> int:
        fields = ("assigned_addr", "client_addr", "requested_addr")
        ip = next((a for k in fields if (a := _text_ip(rec.get(k), False))), None)
        if ip is None or not self.engine.is_local(ip):
            return 0
        mac = _mac(rec.get("mac"))
        if mac is not None:
            self.engine.attribution.add_mac(ip, mac.hex(":"))
        evidence = [
            Evidence(SOURCE, key, value)
            for key, field in (("dhcp.hostname", "host_name"), ("dhcp.fqdn", "client_fqdn"))
            if isinstance(value := rec.get(field), str) and value
        ]
        if evidence:
            self.engine.attribution.add(ip, evidence)
        return 0

    def _known_services(self, rec: dict[str, Any]) -> int:
        host = _text_ip(rec.get("host"))
        if not self.engine.is_local(host):
            return 0
        port, proto = _int(rec.get("port_num")), str(rec.get("port_proto") or "tcp")[:8]
        services = rec.get("service") or []
        names = (
            ",".join(s for s in services if isinstance(s, str))[:100] if isinstance(services, list) else ""
        )
        value = f"{port}/{proto}" + (f" {names}" if names else "")
        self.engine.attribution.add(host, [Evidence(SOURCE, "zeek.service", value)])
        return 0


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _text_ip(value: Any, strict: bool = True) -> Any:
    """An address as the engine's text form (compressed IPv6), or MalformedInput / None."""
    try:
        return str(ipaddress.ip_address(str(value).split("%", 1)[0]))
    except ValueError:
        if strict:
            raise MalformedInput(f"bad address {str(value)[:50]!r}") from None
        return None
