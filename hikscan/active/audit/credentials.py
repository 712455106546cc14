"""Audit credentials: a TOML file of per-host, per-subnet and default entries, one credential per host.

Why TOML (stdlib `tomllib`) rather than YAML: a TOML string is always quoted, so a password such as
`no`, `on`, `0123` or `1e5` stays exactly that string; YAML would silently turn them into
False/True/83/100000.0. An unquoted value is a syntax error instead of a different password.

    [default]
    username = "auditor"
    password = "…"

    [[subnet]]
    cidr = "10.20.0.0/16"
    username = "admin"
    password = "…"

    [[host]]
    address = "10.20.1.15"
    username = "admin"
    password = "…"

The most specific entry wins (host, then the longest matching subnet, then default); no other
entry is ever tried for that host. The file must be a regular file owned by the user (or root)
and not readable or writable by group or others. Passwords live in `Secret`, whose repr and str
are redacted; usernames are not printed by hikscan either.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hikscan.errors import UsageError

ENV_VAR = "HIKSCAN_CREDENTIALS"
MAX_FILE = 64 * 1024
MAX_FIELD = 256
REDACTED = "***"


class Secret:
    """A string that never shows itself: repr/str/format are redacted and it cannot be pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value, for the one place that computes a digest from it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))


@dataclass(frozen=True, slots=True, repr=False)
class Credential:
    """One username/password pair and which entry of the file it came from ("host 10.0.0.5")."""

    username: Secret
    password: Secret
    entry: str

    def __repr__(self) -> str:
        return f"Credential(entry={self.entry!r}, username={REDACTED!r}, password={REDACTED!r})"

    __str__ = __repr__


IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True, repr=False)
class CredentialStore:
    hosts: dict[str, Credential]
    subnets: tuple[tuple[IpNet, Credential], ...]
    default: Credential | None

    def __repr__(self) -> str:
        n_hosts, n_nets = len(self.hosts), len(self.subnets)
        return f"CredentialStore({n_hosts} hosts, {n_nets} subnets, default={self.default is not None})"

    __str__ = __repr__

    def for_host(self, ip: str) -> Credential | None:
        """The one credential to use for `ip`, or None (then the host is not audited)."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if str(addr) in self.hosts:
            return self.hosts[str(addr)]
        best: tuple[int, Credential] | None = None
        for net, cred in self.subnets:
            if addr.version == net.version and addr in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, cred)
        if best is not None:
            return best[1]
        return self.default


def check_permissions(path: Path) -> None:
    """Refuse a file others could read or change, or that is not a regular file of ours."""
    try:
        st = path.stat()
    except OSError as exc:
        raise UsageError(f"credentials file {path}: {exc.strerror or 'cannot stat'}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"credentials file {path}: not a regular file")
    if st.st_mode & 0o077:
        raise UsageError(
            f"credentials file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}): run chmod 600 {path}"
        )
    if st.st_uid not in (os.geteuid(), 0):
        raise UsageError(f"credentials file {path} is owned by another user (uid {st.st_uid})")


def _text(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_FIELD or "\x00" in value:
        # Never echo the value itself: it may be a password.
        raise UsageError(f"credentials file: {where}: '{what}' must be a non-empty quoted string")
    return value


def _credential(raw: Any, where: str) -> Credential:
    if not isinstance(raw, dict):
        raise UsageError(f"credentials file: {where} must be a table")
    unknown = set(raw) - {"username", "password", "address", "cidr"}
    if unknown:
        raise UsageError(f"credentials file: {where}: unknown key(s) {', '.join(sorted(unknown))}")
    return Credential(
        Secret(_text(raw.get("username"), "username", where)),
        Secret(_text(raw.get("password"), "password", where)),
        where,
    )


def parse_credentials(data: bytes, name: str = "credentials file") -> CredentialStore:
    """Parse the TOML text. Errors name the entry, never a value (values may be secrets)."""
    if len(data) > MAX_FILE:
        raise UsageError(f"{name}: larger than {MAX_FILE} bytes")
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message gives a line and column, not the offending text.
        raise UsageError(f"{name}: invalid TOML ({str(exc).splitlines()[0][:120]})") from None
    unknown = set(doc) - {"default", "subnet", "host"}
    if unknown:
        raise UsageError(f"{name}: unknown section(s) {', '.join(sorted(unknown))}")
    default = _credential(doc["default"], "default") if "default" in doc else None
    hosts: dict[str, Credential] = {}
    for i, raw in enumerate(_entries(doc, "host", name)):
        where = f"host #{i + 1}"
        text = _text(raw.get("address"), "address", where)
        try:
            addr = str(ipaddress.ip_address(text))
        except ValueError:
            raise UsageError(f"{name}: {where}: address is not an IP address") from None
        if addr in hosts:
            raise UsageError(f"{name}: {where}: {addr} listed twice")
        hosts[addr] = _credential(raw, f"host {addr}")
    subnets: list[tuple[IpNet, Credential]] = []
    for i, raw in enumerate(_entries(doc, "subnet", name)):
        where = f"subnet #{i + 1}"
        text = _text(raw.get("cidr"), "cidr", where)
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError:
            raise UsageError(f"{name}: {where}: cidr is not a network (host bits set?)") from None
        if any(n == net for n, _ in subnets):
            raise UsageError(f"{name}: {where}: {net} listed twice")
        subnets.append((net, _credential(raw, f"subnet {net}")))
    if default is None and not hosts and not subnets:
        raise UsageError(f"{name}: no [default], [[subnet]] or [[host]] entry")
    return CredentialStore(hosts, tuple(subnets), default)


def _entries(doc: dict[str, Any], key: str, name: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise UsageError(f"{name}: '{key}' must be an array of tables ([[{key}]])")
    return value


def load_credentials(path: Path | None) -> CredentialStore:
    """Load `path` (or $HIKSCAN_CREDENTIALS) after the permission check; UsageError on any problem."""
    if path is None:
        env = os.environ.get(ENV_VAR)
        if not env:
            raise UsageError(f"audit needs --credentials FILE (or {ENV_VAR}=FILE)")
        path = Path(env)
    check_permissions(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE + 1)
    except OSError as exc:
        raise UsageError(f"credentials file {path}: {exc.strerror or 'cannot read'}") from None
    return parse_credentials(data, f"credentials file {path}")
