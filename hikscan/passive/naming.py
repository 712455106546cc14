"""Server names for external addresses, learnt from the capture itself: TLS SNI, HTTP Host, DNS answers.

A DNS answer is remembered per client, because the same address can serve many names (CDNs): the name
a camera asked for is the one that explains its connection. SNI and Host are stronger still: they are
what the client put on the wire for that very server. A few names are kept per (client, server), so a
vendor-cloud name is not hidden behind another name the same client used for the same address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MAX_ENTRIES = 500_000
NAMES_PER_KEY = 4
#: Longest name kept: a DNS name is at most 253 characters; a longer SNI or Host is not a server name.
MAX_NAME = 253
#: Bytes the name tables may hold (keys, lists and names, counted generously); past it, only counted.
MAX_BYTES = 192 * 2**20
ENTRY_COST = 200  # a dict slot, a (client, server) tuple of two address strings and a list
NAME_COST = 60  # a short str object and its list slot

Table = dict[tuple[str, str], tuple[str, ...]]
Answers = tuple[tuple[str, str, int], ...]


@dataclass
class NameBook:
    """Bounded maps (client, server) → names and server → names; past the bound, new keys are only counted."""

    max_entries: int = MAX_ENTRIES
    sni: Table = field(default_factory=dict)
    http_host: Table = field(default_factory=dict)
    dns: Table = field(default_factory=dict)
    by_server: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dropped: int = 0
    max_bytes: int = MAX_BYTES
    bytes: int = 0  # an upper estimate of what the tables hold
    # One str per distinct name: the same name is learnt for many (client, server) keys, and each would
    # otherwise hold its own copy. Names are tuples, not lists: a key holds one name most of the time.
    _spelling: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def _put(self, table: dict, key: object, name: str) -> None:  # type: ignore[type-arg]
        name = name.rstrip(".").lower()
        if not name or len(name) > MAX_NAME:
            self.dropped += 1
            return
        names = table.get(key)
        cost = NAME_COST + len(name)
        if names is None:
            cost += ENTRY_COST
            if len(table) >= self.max_entries or self.bytes + cost > self.max_bytes:
                self.dropped += 1
                return
            names = ()
        if name not in names and len(names) < NAMES_PER_KEY:
            if self.bytes + cost > self.max_bytes:
                self.dropped += 1
                return
            self.bytes += cost
            table[key] = (*names, self._spelling.setdefault(name, name))

    def _holds(self, table: dict, key: object, name: str) -> bool:  # type: ignore[type-arg]
        """True when _put(table, key, name) changes nothing, now or later: the tables only grow."""
        name = name.rstrip(".").lower()
        names = table.get(key)
        return (
            bool(name)
            and len(name) <= MAX_NAME
            and names is not None
            and (name in names or len(names) >= NAMES_PER_KEY)
        )

    def holds_dns_answer(self, client: str, asked: str, server: str) -> bool:
        """True when add_dns_answer(client, asked, server) would change nothing (now or later)."""
        return self._holds(self.dns, (client, server), asked) and self._holds(self.by_server, server, asked)

    def add_dns_answer(self, client: str, asked: str, server: str) -> None:
        self._put(self.dns, (client, server), asked)
        self._put(self.by_server, server, asked)

    def add_sni(self, client: str, server: str, name: str) -> None:
        self._put(self.sni, (client, server), name)
        self._put(self.by_server, server, name)

    def add_http_host(self, client: str, server: str, host: str) -> None:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        self._put(self.http_host, (client, server), host)
        self._put(self.by_server, server, host)

    def names_for(self, client: str, server: str) -> list[tuple[str, str]]:
        """Every name known for server as seen by client, strongest source first: [(name, source)]."""
        key = (client, server)
        sni, host, dns = self.sni.get(key, ()), self.http_host.get(key, ()), self.dns.get(key, ())
        if not (sni or host or dns):
            return [(name, "other-client") for name in self.by_server.get(server, ())]
        # no pair repeats: a key's names are distinct, and each source tags its own
        out = [(name, "sni") for name in sni]
        out += [(name, "http-host") for name in host]
        out += [(name, "dns") for name in dns]
        return out


#: DNS messages whose parsed answers are remembered (by a digest, not the message).
MAX_DNS_CACHE = 50_000
#: Bytes the remembered answers may take; when full the cache starts again empty.
MAX_DNS_CACHE_BYTES = 32 * 2**20
#: One message's answers larger than this are parsed again when repeated, never remembered.
MAX_DNS_ENTRY_BYTES = 64 * 1024


class DnsCache:
    """Parsed answers of DNS messages seen before, keyed by a 16-byte digest of the message past its id.

    Bounded in entries and in bytes (the answers of one message can hold thousands of names): at most
    MAX_DNS_CACHE_BYTES, whatever the messages are, instead of whole payloads kept as keys."""

    def __init__(self, max_entries: int = MAX_DNS_CACHE, max_bytes: int = MAX_DNS_CACHE_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._table: dict[bytes, Any] = {}

    @staticmethod
    def key(payload: bytes | memoryview) -> bytes:
        return hashlib.blake2b(memoryview(payload)[2:], digest_size=16).digest()

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, key: bytes) -> bool:
        return key in self._table

    def __getitem__(self, key: bytes) -> Any:
        return self._table[key]

    def put(self, key: bytes, answers: Any, strings: Iterable[str] | None = None) -> None:
        """Keep `answers` (or any parsed value whose text is `strings`) unless it alone is too big."""
        if strings is None:
            cost = ENTRY_COST + sum(NAME_COST * 3 + len(a) + len(b) for a, b, _ttl in answers or ())
        else:
            cost = ENTRY_COST + sum(NAME_COST + len(s) for s in strings)
        if cost > MAX_DNS_ENTRY_BYTES:
            return
        if len(self._table) >= self.max_entries or self.bytes + cost > self.max_bytes:
            self._table.clear()
            self.bytes = 0
        self._table[key] = answers
        self.bytes += cost
