"""A read-only, lockout-safe HTTP client for one device and one credential.

requests does the HTTP and `HTTPDigestAuth` the Digest arithmetic; this module bounds it:
- verbs: GET, and POST only for ONVIF `Get*` SOAP reads (`check_request`); anything else is a bug
  and raises before a byte is sent;
- time: every socket read is cut at the host's deadline (a socket subclass re-arms the timeout
  before each recv), so a device dripping bytes cannot hold the audit;
- bytes: bodies are streamed and cut at `max_bytes`, also the body of the 401 challenge that
  HTTPDigestAuth would otherwise read whole;
- lockout: the first 401 to a request that carried our credentials stops the host (one attempt,
  never a second credential); 403, a Hikvision `<userCheck>` lock, Dahua lock texts or a
  Retry-After header stop it as "locked". Basic-only challenges are refused: the password is
  never sent in clear;
- environment: no proxies, no .netrc (`trust_env = False`), no redirects, no cookies kept.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import HTTPDigestAuth
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

from hikscan.active.audit.credentials import Credential
from hikscan.active.net import Deadline, RateLimiter

MAX_BODY = 256 * 1024
ONVIF_PATH = "/onvif/device_service"
USER_AGENT = "hikscan-audit"
_LOCK_XML = re.compile(rb"<(?:\w+:)?lockStatus>\s*lock\s*<", re.IGNORECASE)
_UNLOCK_TIME = re.compile(rb"<(?:\w+:)?unlockTime>\s*(\d{1,7})\s*<", re.IGNORECASE)
_LOCK_TEXT = re.compile(
    rb"user\s*(?:is\s*)?locked|account\s*(?:is\s*)?locked|locked\s*out|LoginLocked|too many (?:failed|login)",
    re.IGNORECASE,
)
_RESPONSE_STATUS = re.compile(rb"<(?:\w+:)?ResponseStatus\b")
_SOAP_ACTION = re.compile(rb"<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w{1,64})[\s/>]", re.IGNORECASE)

RequestLog = Callable[[str, str, str], None]  # (method, path, onvif action or "")


class HostStop(Exception):
    """Stop auditing this host: `kind` is auth_failed, locked, refused, hostile or unreachable.

    The message never contains a credential (nothing here ever formats one).
    """

    def __init__(self, kind: str, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str
    oversized: bool = False


def check_request(method: str, path: str, body: bytes | None) -> str:
    """The read-only guarantee, checked before sending: GET, or POST of an ONVIF Get* read.

    Returns the SOAP action ('' for GET); raises ValueError for anything else.
    """
    if not path.startswith("/") or any(c in path for c in " \r\n\x00"):
        raise ValueError("bad request path")
    if method == "GET" and not body:
        return ""
    if method == "POST" and path == ONVIF_PATH and body:
        m = _SOAP_ACTION.search(body[:4096])
        if m and m.group(1).decode().startswith("Get"):
            return m.group(1).decode()
    raise ValueError(f"refusing {method} {path}: the audit only reads")


# --- transport: sockets that respect the host's deadline ------------------------------------------

_local = threading.local()


class _DeadlineSocket(socket.socket):
    """A socket whose every recv waits at most until the current audit deadline."""

    deadline: Deadline | None = None
    per_read: float = 5.0

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        if self.deadline is not None:
            left = self.deadline.remaining()
            if left <= 0:
                raise TimeoutError("audit deadline passed")
            self.settimeout(min(left, self.per_read))
        return super().recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self.deadline is not None:
            left = self.deadline.remaining()
            if left <= 0:
                raise TimeoutError("audit deadline passed")
            self.settimeout(min(left, self.per_read))
        return super().recv(bufsize, flags)


class _Conn(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        wrapped = _DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        wrapped.deadline = getattr(_local, "deadline", None)
        wrapped.per_read = getattr(_local, "per_read", 5.0)
        wrapped.settimeout(wrapped.per_read)
        return wrapped


class _Pool(HTTPConnectionPool):
    """One connection per request (we send `Connection: close`): never reuse one the device may drop."""

    ConnectionCls = _Conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.close()
        super()._put_conn(None)


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool}  # type: ignore[attr-defined]


def _read_body(resp: requests.Response, max_bytes: int) -> tuple[bytes, bool]:
    """Stream at most `max_bytes` (decoded); (body, oversized). Closes the response."""
    buf = bytearray()
    oversized = False
    try:
        for chunk in resp.iter_content(16384):
            buf += chunk
            if len(buf) > max_bytes:
                oversized = True
                del buf[max_bytes:]
                break
    finally:
        resp.close()
    return bytes(buf), oversized


class _BoundedDigest(HTTPDigestAuth):
    """HTTPDigestAuth that reads the challenge's body bounded, paces the retry and notes the attempt."""

    def __init__(self, credential: Credential, before_send: Callable[[], None], max_bytes: int) -> None:
        super().__init__(credential.username.reveal(), credential.password.reveal())
        self._before_send = before_send
        self._max = max_bytes

    def __repr__(self) -> str:
        return "_BoundedDigest(***)"

    def handle_401(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        challenge = r.headers.get("www-authenticate", "")
        calls = self._thread_local.num_401_calls  # type: ignore[attr-defined]  # HTTPDigestAuth's per-thread state
        if 400 <= r.status_code < 500 and "digest" in challenge.lower() and calls < 2:
            r._content, _ = _read_body(r, self._max)  # what super() reads unbounded as r.content
            r._content_consumed = True  # type: ignore[attr-defined]
            if _LOCK_XML.search(r._content) or _LOCK_TEXT.search(r._content):
                return r  # locked already: no credential is sent at all
            self._before_send()
        return super().handle_401(r, **kwargs)  # type: ignore[no-any-return]


class AuditClient:
    """One device: `get(path)` and `soap(body)` return Replies or raise HostStop."""

    def __init__(
        self,
        ip: str,
        port: int,
        credential: Credential,
        limiter: RateLimiter,
        deadline: Deadline,
        timeout: float = 5.0,
        max_bytes: int = MAX_BODY,
        log: RequestLog | None = None,
    ) -> None:
        host = f"[{ip}]" if ":" in ip else ip
        self.base = f"http://{host}:{port}"
        self.credential = credential
        self.limiter = limiter
        self.deadline = deadline
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.log = log
        self.requests = 0
        self.bytes = 0
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy, no .netrc credentials
        self.session.max_redirects = 0
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"})
        self.session.mount("http://", _Adapter(max_retries=0))
        self.session.mount("https://", _Adapter(max_retries=0))
        self.auth = _BoundedDigest(credential, self._pace, max_bytes)

    def __repr__(self) -> str:
        return f"AuditClient({self.base})"

    def close(self) -> None:
        self.session.close()

    def _pace(self) -> None:
        if not self.limiter.acquire(self.deadline):
            raise HostStop("unreachable", "time budget spent before the request could be sent")
        self.requests += 1

    def get(self, path: str) -> Reply:
        return self._send("GET", path, None)

    def soap(self, body: bytes) -> Reply:
        return self._send("POST", ONVIF_PATH, body)

    def _send(self, method: str, path: str, body: bytes | None) -> Reply:
        action = check_request(method, path, body)
        if self.deadline.expired:
            raise HostStop("unreachable", "time budget spent")
        self._pace()
        if self.log is not None:
            self.log(method, path, action)
        _local.deadline, _local.per_read = self.deadline, self.timeout
        headers = {"Content-Type": "application/soap+xml; charset=utf-8"} if body else {}
        started = time.monotonic()
        try:
            resp = self.session.request(
                method,
                self.base + path,
                data=body,
                headers=headers,
                stream=True,
                auth=None if body else self.auth,  # SOAP reads carry a UsernameToken: no second mechanism
                allow_redirects=False,
                timeout=(min(self.timeout, max(0.05, self.deadline.remaining())), self.timeout),
            )
            data, oversized = _read_body(resp, self.max_bytes)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise HostStop("unreachable", _describe(exc, time.monotonic() - started)) from None
        finally:
            _local.deadline = None
        self.bytes += len(data)
        sent_credentials = "Authorization" in resp.request.headers or bool(body and b"UsernameToken" in body)
        reply = Reply(resp.status_code, data, resp.headers.get("content-type", ""), oversized)
        self._check_stop(resp, reply, sent_credentials, soap=bool(body))
        if oversized:
            raise HostStop(
                "hostile", f"{path.split('?')[0]}: reply over {self.max_bytes // 1024} KiB; host abandoned"
            )
        return reply

    def _check_stop(self, resp: requests.Response, reply: Reply, sent_credentials: bool, soap: bool) -> None:
        """Raise HostStop when the reply says: locked, back off, or credentials refused."""
        retry = _retry_after(resp.headers.get("retry-after"))
        locked = bool(_LOCK_XML.search(reply.body) or _LOCK_TEXT.search(reply.body))
        if locked or reply.status == 423:
            m = _UNLOCK_TIME.search(reply.body)
            wait = int(m.group(1)) if m else retry
            after = f"; the device asks to wait {wait} s" if wait else ""
            raise HostStop(
                "locked", f"the device reports the account locked (HTTP {reply.status}){after}", wait
            )
        if reply.status == 403 and not _RESPONSE_STATUS.search(reply.body[:2048]):
            # An ISAPI <ResponseStatus> 403 is "this account may not read that" (one endpoint);
            # any other 403 is taken as a lockout or a ban.
            raise HostStop("locked", "HTTP 403 Forbidden: treated as a lockout or a ban; backing off", retry)
        if reply.status == 429 or (reply.status == 503 and retry):
            raise HostStop("locked", f"HTTP {reply.status}: the device asks to back off", retry)
        if reply.status == 401:
            challenge = resp.headers.get("www-authenticate", "").lower()
            if soap and not sent_credentials:
                return  # an unauthenticated SOAP read the device wants a login for: no credential was tried
            if sent_credentials:
                raise HostStop("auth_failed", "credentials rejected (HTTP 401); not retried")
            if "digest" not in challenge:
                raise HostStop(
                    "refused",
                    "the device offers no Digest authentication; the password is never sent in clear",
                )
            raise HostStop("auth_failed", "HTTP 401 without a usable Digest challenge")


def _retry_after(value: str | None) -> int | None:
    if value and value.strip().isdigit():
        return min(int(value.strip()), 86400)
    return None


def _describe(exc: BaseException, elapsed: float) -> str:
    """A one-line reason from the exception's type (its text may carry a URL; never credentials)."""
    text = type(exc).__name__
    if isinstance(exc, requests.ConnectionError) and "refused" in str(exc).lower():
        return "connection refused"
    if (
        isinstance(exc, requests.Timeout | TimeoutError)
        or "timed out" in str(exc).lower()
        or "deadline" in str(exc)
    ):
        return f"timed out after {elapsed:.1f} s"
    return f"HTTP error ({text})"


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""
