"""Write Zeek-format logs (conn, dns, ssl, http, dhcp, known_services) from a capture, for tests and demos.

Zeek is not installable on the machines these tests run on (it is not in Debian bookworm), so these
logs are OURS, not Zeek's: connections are tracked here the way Zeek documents it (TCP by handshake and
teardown, UDP and ICMP as flows ended by 60 s of inactivity, the originator is the SYN sender or the
first sender, conn_state S0/REJ/S1/SF/RSTO/RSTR/OTH) and application fields come from parsing the
packets (scapy for DNS and DHCP; hikscan's TLS and HTTP parsers for SNI, Host and User-Agent). The
files follow Zeek's log format exactly (docs.zeek.org "Zeek Logs" and each log's script reference):
TSV with the #separator/#set_separator/#empty_field/#unset_field/#path/#open/#fields/#types/#close
header lines, or JSON lines (LogAscii::use_json=T) with flat dotted keys and unset fields left out.
conn.log carries orig_l2_addr/resp_l2_addr as Zeek's policy/protocols/conn/mac-logging adds them.

    python scripts/make_zeek_logs.py CAPTURE OUTDIR [--json]
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS

from hikscan.capture import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, open_capture
from hikscan.errors import MalformedInput
from hikscan.passive.decode import Decoder, Packet, ip_text, mac_text
from hikscan.protocols import httpmsg, tls

UDP_TIMEOUT = 60.0  # Zeek's udp_inactivity_timeout and icmp_inactivity_timeout
SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10
PROTO = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}
SERVICES = {53: "dns", 443: "ssl", 80: "http", 67: "dhcp", 68: "dhcp", 5353: "dns"}
QTYPES = {1: "A", 28: "AAAA", 5: "CNAME", 12: "PTR", 33: "SRV", 16: "TXT"}
LOCAL = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]

# Field names and types of each log, as Zeek 6 writes them (base scripts; conn with mac-logging).
LOGS: dict[str, list[tuple[str, str]]] = {
    "conn": [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
             ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"),
             ("duration", "interval"), ("orig_bytes", "count"), ("resp_bytes", "count"),
             ("conn_state", "string"), ("local_orig", "bool"), ("local_resp", "bool"),
             ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"),
             ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
             ("tunnel_parents", "set[string]"), ("orig_l2_addr", "string"), ("resp_l2_addr", "string")],
    "dns": [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
            ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("trans_id", "count"),
            ("rtt", "interval"), ("query", "string"), ("qclass", "count"), ("qclass_name", "string"),
            ("qtype", "count"), ("qtype_name", "string"), ("rcode", "count"), ("rcode_name", "string"),
            ("AA", "bool"), ("TC", "bool"), ("RD", "bool"), ("RA", "bool"), ("Z", "count"),
            ("answers", "vector[string]"), ("TTLs", "vector[interval]"), ("rejected", "bool")],
    "ssl": [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
            ("id.resp_h", "addr"), ("id.resp_p", "port"), ("version", "string"), ("cipher", "string"),
            ("curve", "string"), ("server_name", "string"), ("resumed", "bool"), ("last_alert", "string"),
            ("next_protocol", "string"), ("established", "bool"), ("ssl_history", "string"),
            ("cert_chain_fps", "vector[string]"), ("client_cert_chain_fps", "vector[string]"),
            ("sni_matches_cert", "bool")],
    "http": [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
             ("id.resp_h", "addr"), ("id.resp_p", "port"), ("trans_depth", "count"), ("method", "string"),
             ("host", "string"), ("uri", "string"), ("referrer", "string"), ("version", "string"),
             ("user_agent", "string"), ("origin", "string"), ("request_body_len", "count"),
             ("response_body_len", "count"), ("status_code", "count"), ("status_msg", "string"),
             ("info_code", "count"), ("info_msg", "string"), ("tags", "set[enum]"),
             ("username", "string"), ("password", "string"), ("proxied", "set[string]"),
             ("orig_fuids", "vector[string]"), ("orig_filenames", "vector[string]"),
             ("orig_mime_types", "vector[string]"), ("resp_fuids", "vector[string]"),
             ("resp_filenames", "vector[string]"), ("resp_mime_types", "vector[string]")],
    "dhcp": [("ts", "time"), ("uids", "set[string]"), ("client_addr", "addr"), ("server_addr", "addr"),
             ("mac", "string"), ("host_name", "string"), ("client_fqdn", "string"), ("domain", "string"),
             ("requested_addr", "addr"), ("assigned_addr", "addr"), ("lease_time", "interval"),
             ("client_message", "string"), ("server_message", "string"), ("msg_types", "vector[string]"),
             ("duration", "interval")],
    "known_services": [("ts", "time"), ("host", "addr"), ("port_num", "port"), ("port_proto", "enum"),
                       ("service", "set[string]")],
}  # fmt: skip


@dataclass
class Conn:
    ts: float
    last: float
    proto: int
    orig: tuple[str, int]
    resp: tuple[str, int]
    orig_mac: str | None
    resp_mac: str | None = None
    pkts: list[int] = field(default_factory=lambda: [0, 0])
    payload: list[int] = field(default_factory=lambda: [0, 0])
    ip_bytes: list[int] = field(default_factory=lambda: [0, 0])
    flags: list[int] = field(default_factory=lambda: [0, 0])
    first_resp_flags: int = -1
    history: str = ""
    closed: bool = False

    @property
    def uid(self) -> str:
        key = f"{self.ts:.6f}{self.orig}{self.resp}{self.proto}".encode()
        return "C" + hashlib.sha256(key).hexdigest()[:17]

    def state(self) -> str:
        if self.proto != 6:
            return "OTH" if self.proto in (1, 58) else ("SF" if self.pkts[1] else "S0")
        orig, resp = self.flags
        if not self.pkts[1]:
            return "S0" if orig & SYN else "OTH"
        if self.first_resp_flags & RST and not resp & SYN:
            return "REJ"
        if resp & RST:
            return "RSTR"
        if orig & RST:
            return "RSTO"
        if orig & FIN and resp & FIN:
            return "SF"
        return "S1"


def _is_local(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr.version == n.version and addr in n for n in LOCAL)


def _l2_overhead(linktype: int) -> int:
    return {LINKTYPE_ETHERNET: 14, LINKTYPE_LINUX_SLL: 16}.get(linktype, 0)


class Tracker:
    """Connections and application records of one capture."""

    def __init__(self) -> None:
        self.open: dict[tuple[Any, ...], Conn] = {}
        self.conns: list[Conn] = []
        self.records: dict[str, list[dict[str, Any]]] = {name: [] for name in LOGS}
        self.ssl_done: set[str] = set()
        self.services: dict[tuple[str, int], tuple[float, str]] = {}

    def packet(self, pkt: Packet, linktype: int) -> None:
        src, dst = ip_text(pkt.src), ip_text(pkt.dst)
        key = (pkt.proto, *sorted([(src, pkt.sport), (dst, pkt.dport)]))
        conn = self.open.get(key)
        flags = pkt.tcp_flags
        if conn is not None and (
            (pkt.proto == 6 and conn.closed and flags & SYN and not flags & ACK)
            or (pkt.proto != 6 and pkt.ts - conn.last > UDP_TIMEOUT)
        ):
            conn = None
        if conn is None:
            flip = (pkt.proto == 6 and flags & (SYN | ACK) == SYN | ACK) or (
                pkt.proto == 17 and pkt.sport in SERVICES and pkt.dport not in SERVICES
            )
            mac = mac_text(pkt.src_mac) if pkt.src_mac else None
            if flip:
                conn = Conn(pkt.ts, pkt.ts, pkt.proto, (dst, pkt.dport), (src, pkt.sport), None, mac)
            else:
                conn = Conn(pkt.ts, pkt.ts, pkt.proto, (src, pkt.sport), (dst, pkt.dport), mac)
            self.open[key] = conn
            self.conns.append(conn)
        side = 0 if (src, pkt.sport) == conn.orig else 1
        conn.last = max(conn.last, pkt.ts)
        conn.pkts[side] += 1
        conn.payload[side] += len(pkt.payload)
        conn.ip_bytes[side] += max(0, pkt.wirelen - _l2_overhead(linktype))
        conn.flags[side] |= flags
        if side == 1 and conn.first_resp_flags < 0:
            conn.first_resp_flags = flags
        if side == 0 and conn.orig_mac is None and pkt.src_mac:
            conn.orig_mac = mac_text(pkt.src_mac)
        if side == 1 and conn.resp_mac is None and pkt.src_mac:
            conn.resp_mac = mac_text(pkt.src_mac)
        self._history(conn, side, flags, bool(pkt.payload))
        if pkt.proto == 6 and (flags & RST or (conn.flags[0] & FIN and conn.flags[1] & FIN)):
            conn.closed = True
        if pkt.payload:
            self._application(conn, pkt, side)

    @staticmethod
    def _history(conn: Conn, side: int, flags: int, data: bool) -> None:
        if conn.proto != 6:
            letters = "D" if data else ""
        else:
            letters = "S" if flags & SYN and not flags & ACK else "H" if flags & SYN else ""
            letters += ("A" if flags & ACK and not data else "") + ("D" if data else "")
            letters += ("F" if flags & FIN else "") + ("R" if flags & RST else "")
        for letter in letters:
            mark = letter if side == 0 else letter.lower()
            if mark not in conn.history:
                conn.history += mark

    def _ids(self, conn: Conn) -> dict[str, Any]:
        return {"uid": conn.uid, "id.orig_h": conn.orig[0], "id.orig_p": conn.orig[1],
                "id.resp_h": conn.resp[0], "id.resp_p": conn.resp[1]}  # fmt: skip

    def _application(self, conn: Conn, pkt: Packet, side: int) -> None:
        data = bytes(pkt.payload)
        if (pkt.proto == 17 and 53 in (pkt.sport, pkt.dport)) or 5353 in (pkt.sport, pkt.dport):
            self._dns(conn, pkt, data)
        elif pkt.proto == 17 and {pkt.sport, pkt.dport} & {67, 68}:
            self._dhcp(conn, pkt, data)
        elif pkt.proto == 6 and side == 0 and data[:1] == b"\x16" and conn.uid not in self.ssl_done:
            try:
                sni = tls.parse_client_hello_sni(data, allow_partial=True)
            except MalformedInput:
                return
            self.ssl_done.add(conn.uid)
            self.records["ssl"].append({"ts": pkt.ts, **self._ids(conn), "server_name": sni,
                                        "resumed": False, "established": conn.pkts[1] > 0})  # fmt: skip
        elif pkt.proto == 6 and side == 0 and data.split(b" ", 1)[0] in (b"GET", b"POST", b"HEAD", b"PUT"):
            try:
                request = httpmsg.parse_request(data)
            except MalformedInput:
                return
            line = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            self.records["http"].append({
                "ts": pkt.ts, **self._ids(conn), "trans_depth": 1, "method": line[0],
                "host": request.host, "uri": line[1] if len(line) > 1 else None,
                "version": line[2].split("/", 1)[-1] if len(line) > 2 else None,
                "user_agent": request.user_agent, "request_body_len": 0, "response_body_len": 0,
                "tags": [],
            })  # fmt: skip

    def _dns(self, conn: Conn, pkt: Packet, data: bytes) -> None:
        try:
            msg = DNS(data)
        except Exception:  # scapy raises many types on bad bytes
            return
        if not msg.qr or not msg.qd:
            return
        question = msg.qd[0] if hasattr(msg.qd, "__getitem__") else msg.qd
        answers, ttls = [], []
        for i in range(msg.ancount or 0):
            try:
                rr = msg.an[i]
            except (IndexError, TypeError):
                break
            rdata = rr.rdata
            answers.append(rdata.decode().rstrip(".") if isinstance(rdata, bytes) else str(rdata))
            ttls.append(float(rr.ttl))
        self.records["dns"].append({
            "ts": pkt.ts, **self._ids(conn), "proto": PROTO[conn.proto], "trans_id": msg.id,
            "query": question.qname.decode(errors="replace").rstrip("."), "qclass": question.qclass,
            "qclass_name": "C_INTERNET" if question.qclass == 1 else None, "qtype": question.qtype,
            "qtype_name": QTYPES.get(question.qtype),
            "rcode": msg.rcode, "rcode_name": {0: "NOERROR", 3: "NXDOMAIN"}.get(msg.rcode),
            "AA": bool(msg.aa), "TC": bool(msg.tc), "RD": bool(msg.rd), "RA": bool(msg.ra), "Z": msg.z,
            "answers": answers, "TTLs": ttls, "rejected": False,
        })  # fmt: skip

    def _dhcp(self, conn: Conn, pkt: Packet, data: bytes) -> None:
        try:
            boot = BOOTP(data)
        except Exception:  # scapy raises many types on bad bytes
            return
        if DHCP not in boot:
            return
        opts = {o[0]: o[1] for o in boot[DHCP].options if isinstance(o, tuple) and len(o) >= 2}
        names = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 5: "ACK", 6: "NAK", 8: "INFORM"}
        host = opts.get("hostname")
        fqdn = opts.get("client_FQDN")
        self.records["dhcp"].append({
            "ts": pkt.ts, "uids": [conn.uid],
            "client_addr": boot.ciaddr if boot.ciaddr != "0.0.0.0" else None,
            "mac": boot.chaddr[:6].hex(":"),
            "host_name": host.decode(errors="replace") if isinstance(host, bytes) else None,
            "client_fqdn": fqdn[3:].decode(errors="replace").rstrip(".") if isinstance(fqdn, bytes) else None,
            "requested_addr": opts.get("requested_addr"),
            "assigned_addr": boot.yiaddr if boot.yiaddr != "0.0.0.0" else None,
            "msg_types": [names.get(opts.get("message-type"), "UNKNOWN")],
        })  # fmt: skip

    def finish(self) -> None:
        for conn in sorted(self.conns, key=lambda c: c.ts):
            service = SERVICES.get(conn.resp[1]) if conn.pkts[1] or conn.proto == 17 else None
            self.records["conn"].append({
                "ts": conn.ts, **self._ids(conn), "proto": PROTO.get(conn.proto, "unknown_transport"),
                "service": service, "duration": conn.last - conn.ts if conn.last > conn.ts else None,
                "orig_bytes": conn.payload[0], "resp_bytes": conn.payload[1], "conn_state": conn.state(),
                "local_orig": _is_local(conn.orig[0]), "local_resp": _is_local(conn.resp[0]),
                "missed_bytes": 0, "history": conn.history or None, "orig_pkts": conn.pkts[0],
                "orig_ip_bytes": conn.ip_bytes[0], "resp_pkts": conn.pkts[1],
                "resp_ip_bytes": conn.ip_bytes[1], "tunnel_parents": [],
                "orig_l2_addr": conn.orig_mac, "resp_l2_addr": conn.resp_mac,
            })  # fmt: skip
            if conn.proto == 6 and conn.flags[1] & SYN and conn.flags[1] & ACK and _is_local(conn.resp[0]):
                self.services.setdefault(conn.resp, (conn.ts, service or ""))
        for (host, port), (ts, service) in sorted(self.services.items(), key=lambda kv: kv[1][0]):
            names = [service.upper()] if service else []
            self.records["known_services"].append(
                {"ts": ts, "host": host, "port_num": port, "port_proto": "tcp", "service": names}
            )


def _tsv_value(value: Any, kind: str, in_set: bool = False) -> str:
    if value is None:
        return "-"
    if kind.startswith(("set[", "vector[")):
        if not value:
            return "(empty)"
        return ",".join(_tsv_value(v, kind[kind.index("[") + 1 : -1], True) for v in value)
    if kind == "bool":
        return "T" if value else "F"
    if kind in ("time", "interval"):
        return f"{float(value):.6f}"
    text = str(value)
    if text == "":
        return "(empty)"
    special = b"\t,\\" if in_set else b"\t\\"
    # Zeek escapes the separator (and the set separator inside sets), `\` and non-printable bytes as \xHH
    return "".join(
        f"\\x{b:02x}" if b in special or not 0x20 <= b <= 0x7E else chr(b) for b in text.encode("utf-8")
    )


def write_logs(capture: Path, out_dir: Path, as_json: bool = False) -> list[Path]:
    """Every log with at least one record, written under out_dir; returns the files."""
    decoder, tracker = Decoder(), Tracker()
    for record in open_capture(capture):
        pkt = decoder.decode_frame(record.ts, record.linktype, record.data, record.wirelen)
        if pkt is not None and pkt.frag in (0, 3) and pkt.proto in PROTO:  # conn.log: tcp, udp, icmp only
            tracker.packet(pkt, record.linktype)
    tracker.finish()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fields in LOGS.items():
        rows = tracker.records[name]
        if not rows:
            continue
        path = out_dir / f"{name}.log"
        with open(path, "w", encoding="utf-8") as out:
            if as_json:
                for row in rows:
                    obj = {f: row[f] for f, _ in fields if row.get(f) is not None}
                    out.write(json.dumps(obj, separators=(",", ":")) + "\n")
            else:
                opened = "2026-01-01-00-00-00"
                out.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n")
                out.write(f"#path\t{name}\n#open\t{opened}\n")
                out.write("#fields\t" + "\t".join(f for f, _ in fields) + "\n")
                out.write("#types\t" + "\t".join(t for _, t in fields) + "\n")
                for row in rows:
                    out.write("\t".join(_tsv_value(row.get(f), t) for f, t in fields) + "\n")
                out.write(f"#close\t{opened}\n")
        written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    for path in write_logs(Path(sys.argv[1]), Path(sys.argv[2]), "--json" in sys.argv[3:]):
        print(path)
