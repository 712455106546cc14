"""Run the lab: every device's services on its own address, in one asyncio loop.

Unicast: each device binds its UDP (SADP, WS-Discovery, DHIP) and TCP (HTTP/ONVIF, RTSP, 8000,
37777, 5357) ports on its own IP. Multicast (namespace mode only): one socket per group and port
joins the group on the given interface; every device offering that service answers, unicast to
the sender, from its own address. Nothing binds a wildcard address.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hikscan.errors import UsageError
from hikscan.lab import audit, auditonvif, hostile, responses, services
from hikscan.lab.profiles import (
    DAHUA37777,
    DHIP,
    ENDLESS_BODY,
    HTTP,
    HUGE_RTSP_HEADER,
    ONVIF,
    PORTS,
    RTSP,
    SADP,
    SADP_FLOOD,
    SDK8000,
    SLOWLORIS,
    WSD,
    WSDAPI,
    DeviceProfile,
)  # fmt: skip

GROUPS = {SADP: "239.255.255.250", WSD: "239.255.255.250", DHIP: "239.255.255.251"}
MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
READ_TIMEOUT = 10.0
IP_MULTICAST_ALL = 49  # linux/in.h; not exported by the socket module


def in_root_netns() -> bool:
    """True unless this process is provably outside the machine's own network namespace.

    Where PID 1's namespace is readable, compare with it. Containers often hide /proc/1/ns/net, so
    otherwise accept only a namespace named by `ip netns add` (a file in /var/run/netns), as
    `ip netns identify` does. Anything else counts as the root namespace.
    """
    try:
        mine = os.stat("/proc/self/ns/net")
    except OSError:
        return True
    try:
        return mine.st_ino == os.stat("/proc/1/ns/net").st_ino
    except OSError:
        pass
    try:
        names = os.listdir("/var/run/netns")
    except OSError:
        return True
    for name in names:
        with contextlib.suppress(OSError):
            st = os.stat(os.path.join("/var/run/netns", name))
            if (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev):
                return False
    return True


@dataclass
class Lab:
    """Emulated devices. `interface` enables multicast discovery on that interface (namespace mode).

    `stream_limit` bounds, in seconds, every hostile stream (endless body, slow-loris).
    """

    profiles: list[DeviceProfile]
    interface: str | None = None
    stream_limit: float = 60.0
    allow_root_netns: bool = False  # tests on 127.0.0.0/8 only need no namespace
    request_log: str | None = None  # JSON lines: every HTTP request a device received (method, path, action)
    ready: threading.Event = field(default_factory=threading.Event)
    bound: list[tuple[str, str, int]] = field(default_factory=list)  # (service, ip, port)
    _udp: dict[tuple[str, str], asyncio.DatagramTransport] = field(default_factory=dict)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _stopping: bool = False
    _auth: dict[str, audit.AuthState] = field(default_factory=dict)

    def auth_state(self, p: DeviceProfile) -> audit.AuthState:
        """Login bookkeeping of one device (nonces, failures, lock)."""
        return self._auth.setdefault(p.ip, audit.AuthState())

    def _log_request(self, p: DeviceProfile, method: str, path: str, action: str | None, auth: bool) -> None:
        if self.request_log is None:
            return
        line = json.dumps({"ip": p.ip, "method": method, "path": path, "action": action or "", "auth": auth})
        with open(self.request_log, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def check_safety(self) -> None:
        """Refuse anything that could answer on a real network."""
        loopback = all(ipaddress.IPv4Address(p.ip).is_loopback for p in self.profiles)
        if self.interface is not None and loopback:
            raise UsageError("multicast (--interface) is not for loopback devices")
        if not loopback and in_root_netns() and not self.allow_root_netns:
            raise UsageError("refusing to run lab devices outside 127.0.0.0/8 in the root network namespace")
        if len({p.ip for p in self.profiles}) != len(self.profiles):
            raise UsageError("two lab devices share an address")

    def run(self, stop_event: threading.Event) -> None:
        """Serve until `stop_event` is set (blocking). Sets `self.ready` once every socket is bound."""
        self.check_safety()
        asyncio.run(self._main(stop_event))

    async def _main(self, stop_event: threading.Event) -> None:
        servers: list[asyncio.Server] = []
        try:
            for p in self.profiles:
                await self._bind_device(p, servers)
            if self.interface:
                for service in (SADP, WSD, DHIP):
                    if any(service in p.services for p in self.profiles):
                        await self._bind_multicast(service)
            self.ready.set()
            while not stop_event.is_set():
                await asyncio.sleep(0.1)
        finally:
            self._stopping = True
            for s in servers:
                s.close()
            for w in list(self._writers):
                w.close()
            for t in self._udp.values():
                t.close()
            await asyncio.sleep(0)

    # --- binding ------------------------------------------------------------------------------

    async def _bind_device(self, p: DeviceProfile, servers: list[asyncio.Server]) -> None:
        loop = asyncio.get_running_loop()
        for service in (SADP, WSD, DHIP):
            if service in p.services:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((p.ip, PORTS[service]))
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_Udp, self, service, [p]), sock=sock
                )
                self._udp[(p.ip, service)] = transport  # type: ignore[assignment]
                self.bound.append((service, p.ip, PORTS[service]))
        handlers: dict[
            str, Callable[[DeviceProfile, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
        ]
        handlers = {HTTP: self._http, RTSP: self._rtsp, SDK8000: self._sdk8000, DAHUA37777: self._silent,
                    WSDAPI: self._http}  # fmt: skip
        for service, handler in handlers.items():
            if service in p.services:
                server = await asyncio.start_server(
                    functools.partial(self._guard, handler, p),
                    host=p.ip, port=PORTS[service], reuse_address=True, limit=MAX_HEAD,
                )  # fmt: skip
                servers.append(server)
                self.bound.append((service, p.ip, PORTS[service]))

    async def _bind_multicast(self, service: str) -> None:
        assert self.interface is not None
        group, port = GROUPS[service], PORTS[service]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        sock.bind((group, port))
        mreqn = struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"),
                            socket.if_nametoindex(self.interface))  # fmt: skip
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        devices = [p for p in self.profiles if service in p.services]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self, service, devices), sock=sock)
        self._udp[(group, service)] = transport  # type: ignore[assignment]
        self.bound.append((service, group, port))

    # --- UDP ----------------------------------------------------------------------------------

    def answer_datagram(self, service: str, devices: list[DeviceProfile], data: bytes, addr: tuple) -> None:
        """Answer one datagram for each device it concerns, from that device's own address."""
        if service == SADP:
            uuid = responses.sadp_inquiry_uuid(data)
            if uuid is None:
                return
            for p in devices:
                copies = hostile.FLOOD_COUNT if SADP_FLOOD in p.hostile else 1
                self._send(p, service, [responses.sadp_reply(p, uuid)] * copies, addr)
        elif service == WSD:
            probe = responses.wsd_probe(data)
            if probe is None:
                return
            message_id, wanted = probe
            for p in devices:
                if responses.wsd_matches(p, wanted):
                    reply_id = f"urn:uuid:{os.urandom(4).hex()}-0000-4000-8000-{p.mac.replace(':', '')}"
                    self._send(p, service, [responses.wsd_probematch(p, message_id, reply_id)], addr)
        elif service == DHIP and responses.dhip_is_search(data):
            for p in devices:
                self._send(p, service, [responses.dhip_reply(p)], addr)

    def _send(self, p: DeviceProfile, service: str, datagrams: list[bytes], addr: tuple) -> None:
        transport = self._udp.get((p.ip, service))
        if transport is None or transport.is_closing():
            return
        for d in datagrams:
            transport.sendto(d, addr)

    # --- TCP ----------------------------------------------------------------------------------

    async def _guard(
        self, handler, p: DeviceProfile, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ):  # type: ignore[no-untyped-def]
        """Run one connection handler; any client misbehaviour just closes the connection."""
        self._writers.add(writer)
        try:
            await handler(p, reader, writer)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_head(self, reader: asyncio.StreamReader) -> bytes:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)

    async def _http(
        self, p: DeviceProfile, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await self._read_head(reader)
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path = [*request_line.split(" "), "", ""][:2]
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
        length = int(headers.get("content-length", "0") or 0)
        if not 0 <= length <= MAX_BODY:
            raise ValueError("request body too large")
        body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT) if length else b""
        is_soap = ONVIF in p.services and path.split("?")[0] == "/onvif/device_service" and method == "POST"
        action = responses.onvif_action(body) if method == "POST" and body else None
        self._log_request(
            p, method, path, action, bool(headers.get("authorization")) or auditonvif.has_token(body)
        )
        if ENDLESS_BODY in p.hostile:
            await self._stream(writer, self._endless(p))
        elif SLOWLORIS in p.hostile:
            await self._slowloris(p, writer)
        elif audit.handles(p, method, path):
            reply = audit.http(p, method, path, headers, self.auth_state(p))
            if not isinstance(reply, bytes):
                await self._stream(writer, reply)
                return
            writer.write(reply)
        elif is_soap:
            if (
                p.audit is not None
                and auditonvif.has_token(body)
                and action not in (None, "GetSystemDateAndTime")
            ):
                status, xml = auditonvif.onvif_reply(p, action or "", body, self.auth_state(p))
            else:
                status, xml = responses.onvif_reply(p, action)
            reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized"}[status]
            extra = ""
            if status == 401:
                nonce = os.urandom(16).hex()
                extra = f'WWW-Authenticate: Digest realm="{services.realm(p)}", nonce="{nonce}"\r\n'
            head_out = (
                f"HTTP/1.1 {status} {reason}\r\nServer: {services.http_server(p) or 'gSOAP/2.8'}\r\n{extra}"
                f"Content-Type: application/soap+xml; charset=utf-8\r\nContent-Length: {len(xml)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head_out.encode() + xml)
        else:
            writer.write(services.http_reply(p, method, path))
        await writer.drain()

    def _endless(self, p: DeviceProfile):  # type: ignore[no-untyped-def]
        server = services.http_server(p)
        yield f"HTTP/1.1 200 OK\r\nServer: {server}\r\nContent-Type: text/html\r\n\r\n".encode()
        chunk = b"<p>" + b"A" * 65530 + b"\n"
        while True:
            yield chunk

    async def _stream(self, writer: asyncio.StreamWriter, chunks) -> None:  # type: ignore[no-untyped-def]
        """Write chunks as fast as the client reads, until it leaves or the stream limit passes."""
        deadline = time.monotonic() + self.stream_limit
        for chunk in chunks:
            if self._stopping or time.monotonic() > deadline or writer.is_closing():
                return
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), max(0.1, deadline - time.monotonic()))

    async def _slowloris(self, p: DeviceProfile, writer: asyncio.StreamWriter) -> None:
        reply = services.http_reply(p, "GET", "/")
        deadline = time.monotonic() + self.stream_limit
        for i in range(len(reply)):
            if self._stopping or time.monotonic() > deadline or writer.is_closing():
                return
            writer.write(reply[i : i + 1])
            await writer.drain()
            await asyncio.sleep(1.0)

    async def _rtsp(
        self, p: DeviceProfile, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        for _ in range(16):  # a few requests per connection, as clients do OPTIONS then DESCRIBE
            head = await self._read_head(reader)
            lines = head.decode("latin-1").split("\r\n")
            method = lines[0].split(" ", 1)[0]
            cseq = next(
                (ln.split(":", 1)[1].strip() for ln in lines[1:] if ln.lower().startswith("cseq:")), None
            )
            if HUGE_RTSP_HEADER in p.hostile:
                await self._stream(writer, hostile.huge_rtsp_header(cseq))
                return
            writer.write(services.rtsp_reply(p, method, cseq))
            await writer.drain()

    async def _sdk8000(
        self, p: DeviceProfile, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            data = await asyncio.wait_for(reader.read(1024), 1.0)
        except TimeoutError:
            data = None
        if data == b"":
            return
        writer.write(services.SDK8000_ON_DATA if data else services.SDK8000_ON_SILENCE)
        await writer.drain()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(1024), 2.0)

    async def _silent(
        self, p: DeviceProfile, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Dahua 37777: accepts, reads what comes, says nothing until a valid login (never here)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(1024), 5.0)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, lab: Lab, service: str, devices: list[DeviceProfile]) -> None:
        self.lab, self.service, self.devices = lab, service, devices

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[override]
        if not self.lab._stopping:
            self.lab.answer_datagram(self.service, self.devices, data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # e.g. ICMP port unreachable after the scanner left
