"""Server names for external addresses, learnt from the capture itself: TLS SNI, HTTP Host, DNS answers.

A DNS answer is remembered per client, because the same address can serve many names (CDNs): the name
a camera asked for is the one that explains its connection. SNI and Host are stronger still: they are
what the client put on the wire for that very server. A few names are kept per (client, server), so a
vendor-cloud name is not hidden behind another name the same client used for the same address.

Everything the payloads told about one (client, server) pair is one interned "cell": its names by
source, the cloud signature its bytes matched, and how many of its hellos and requests were parsed.
Pairs are many (hundreds of thousands on a large capture) and cells few (most pairs share one), so a
pair costs one slot of its client's dict, and every address and name string is held once.

Only names of external servers are kept (`NameBook.external`, which the Inspector sets): the report asks
for no other, and a large flat LAN (tens of thousands of hosts, each fetching a page from an intranet
server) would otherwise fill the byte bound with names nobody reads, and crowd out the flow table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any, Final

MAX_ENTRIES = 500_000  # (client, server) pairs, and servers
NAMES_PER_KEY = 4
#: Longest name kept: a DNS name is at most 253 characters; a longer SNI or Host is not a server name.
MAX_NAME = 253
#: Bytes the tables may hold (estimated from above, tests/passive/test_naming.py measures it); past it new
#: pairs, names and servers are only counted in `dropped`. 10 MiB: ~200,000 pairs of a camera fleet (the
#: 10M-packet many-findings capture holds 132,000), a tenth of a 100 MB process.
MAX_BYTES = 10 * 2**20
PAIR_COST = 48  # a slot in the client's dict (str keys: 16-byte entries, up to 2/3 empty after a resize)
CLIENT_COST = 256  # the client's own dict (184 bytes with one entry) and its slot
CELL_COST = 192  # a new distinct cell (a 5-tuple, its slot in the intern table, a new names tuple)
SERVER_COST = 120  # a by_server slot and its names tuple
STR_COST = 96  # a str object past its characters, and its slot in the intern table

Names = tuple[str, ...]
#: (sni, http_host, dns, signature id, parse counts 4 bits per kind)
Cell = tuple[Names, Names, Names, str | None, int]
SNI: Final = 0
HOST: Final = 1
DNS: Final = 2
SIGNATURE: Final = 3
PARSED: Final = 4
EMPTY: Cell = ((), (), (), None, 0)
PARSE_SHIFT = {"tls": 0, "http-request": 4}  # per-pair kinds counted (worth_parsing), each below 16


def _with(cell: Cell | None, field: int, value: object) -> Cell:
    """cell (or the empty one) with one field replaced."""
    base = cell if cell is not None else EMPTY
    return (*base[:field], value, *base[field + 1 :])  # type: ignore[return-value]


class NameBook:
    """Per (client, server) cells and server → names; bounded in bytes, past the bound new keys are only
    counted. `sni`, `http_host`, `dns` and `signatures` are flat views for tests and benchmarks."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.pairs: dict[str, dict[str, Cell]] = {}  # client → server → cell
        self.pair_count = 0
        self.by_server: dict[str, Names] = {}
        self.dropped = 0
        self.bytes = 0  # an upper estimate of what the tables hold
        self._strings: dict[str, str] = {}  # one str per distinct address or name
        self._cells: dict[Cell, Cell] = {}  # one tuple per distinct cell
        # Which servers' names are kept (None: every server's); the Inspector keeps external ones only
        self.external: Callable[[str], bool] | None = None

    # -- the cells --------------------------------------------------------------------------------
    def _cost(self, text: str) -> int:
        return 0 if text in self._strings else STR_COST + len(text)

    def _intern(self, text: str) -> str:
        return self._strings.setdefault(text, text)

    def _store(self, client: str, server: str, cell: Cell | None, new: Cell, extra: int = 0) -> bool:
        """Put `new` as the cell of (client, server), whose cell is `cell`; False (counted) past a bound.
        `extra` is the cost of strings in `new` not interned yet (interned here)."""
        servers = self.pairs.get(client)
        cost = extra
        if servers is None:
            cost += CLIENT_COST + self._cost(client)
        if cell is None:
            if self.pair_count >= self.max_entries:
                self.dropped += 1
                return False
            cost += PAIR_COST + self._cost(server)
        shared = self._cells.get(new)
        if shared is None:
            cost += CELL_COST
        if self.bytes + cost > self.max_bytes:
            self.dropped += 1
            return False
        self.bytes += cost
        if shared is None:
            shared = self._cells[new] = new
        if servers is None:
            servers = self.pairs[self._intern(client)] = {}
        if cell is None:
            self.pair_count += 1
            server = self._intern(server)
        servers[server] = shared
        return True

    def cell(self, client: str, server: str) -> Cell | None:
        servers = self.pairs.get(client)
        return servers.get(server) if servers is not None else None

    def _keeps(self, server: str) -> bool:
        return self.external is None or self.external(server)

    def _put(self, client: str, server: str, field: int, name: str) -> None:
        if not self._keeps(server):
            return
        name = name.rstrip(".").lower()
        if not name or len(name) > MAX_NAME:
            self.dropped += 1
            return
        servers = self.pairs.get(client)
        cell = servers.get(server) if servers is not None else None
        names: Names = cell[field] if cell is not None else ()  # type: ignore[assignment]
        if name in names or len(names) >= NAMES_PER_KEY:
            return
        cost = self._cost(name)
        new = _with(cell, field, (*names, self._strings.get(name, name)))
        if self._store(client, server, cell, new, cost):
            self._intern(name)

    def _put_server(self, server: str, name: str) -> None:
        if not self._keeps(server):
            return
        name = name.rstrip(".").lower()
        if not name or len(name) > MAX_NAME:
            self.dropped += 1
            return
        names = self.by_server.get(server)
        if names is not None and (name in names or len(names) >= NAMES_PER_KEY):
            return
        cost = self._cost(name)
        if names is None:
            if len(self.by_server) >= self.max_entries:
                self.dropped += 1
                return
            cost += SERVER_COST + self._cost(server)
        if self.bytes + cost > self.max_bytes:
            self.dropped += 1
            return
        self.bytes += cost
        if names is None:
            server, names = self._intern(server), ()
        self.by_server[server] = (*names, self._intern(name))

    def _holds(self, names: Names | None, name: str) -> bool:
        """True when putting name where names are changes nothing, now or later: the tables only grow."""
        name = name.rstrip(".").lower()
        return (
            bool(name)
            and len(name) <= MAX_NAME
            and names is not None
            and (name in names or len(names) >= NAMES_PER_KEY)
        )

    # -- names ------------------------------------------------------------------------------------
    def holds_dns_answer(self, client: str, asked: str, server: str) -> bool:
        """True when add_dns_answer(client, asked, server) would change nothing (now or later)."""
        if not self._keeps(server):
            return True
        cell = self.cell(client, server)
        return self._holds(cell[DNS] if cell is not None and cell[DNS] else None, asked) and self._holds(
            self.by_server.get(server), asked
        )

    def add_dns_answer(self, client: str, asked: str, server: str) -> None:
        self._put(client, server, DNS, asked)
        self._put_server(server, asked)

    def add_sni(self, client: str, server: str, name: str) -> None:
        self._put(client, server, SNI, name)
        self._put_server(server, name)

    def add_http_host(self, client: str, server: str, host: str) -> None:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        self._put(client, server, HOST, host)
        self._put_server(server, host)

    def names_for(self, client: str, server: str) -> list[tuple[str, str]]:
        """Every name known for server as seen by client, strongest source first: [(name, source)]."""
        cell = self.cell(client, server)
        if cell is None or not (cell[SNI] or cell[HOST] or cell[DNS]):
            return [(name, "other-client") for name in self.by_server.get(server, ())]
        # no pair repeats: a key's names are distinct, and each source tags its own
        out = [(name, "sni") for name in cell[SNI]]
        out += [(name, "http-host") for name in cell[HOST]]
        out += [(name, "dns") for name in cell[DNS]]
        return out

    # -- signatures and parse counts ----------------------------------------------------------------
    def add_signature(self, client: str, server: str, signature: str) -> None:
        """The first cloud signature the pair's bytes matched (later ones are not kept)."""
        cell = self.cell(client, server)
        if (cell is not None and cell[SIGNATURE] is not None) or not self._keeps(server):
            return
        cost = self._cost(signature)
        if self._store(
            client, server, cell, _with(cell, SIGNATURE, self._strings.get(signature, signature)), cost
        ):
            self._intern(signature)

    def signature(self, client: str, server: str) -> str | None:
        cell = self.cell(client, server)
        return cell[SIGNATURE] if cell is not None else None

    def count_parse(self, client: str, server: str, kind: str, limit: int) -> bool:
        """True while fewer than `limit` (< 16) payloads of `kind` were parsed for the pair, counting this
        one; past the bytes bound a new pair is always parsed (and counted in `dropped`)."""
        shift = PARSE_SHIFT[kind]
        servers = self.pairs.get(client)
        cell = servers.get(server) if servers is not None else None
        if cell is None:
            self._store(client, server, None, (*EMPTY[:PARSED], 1 << shift))
            return True
        parsed = cell[PARSED]
        if (parsed >> shift) & 15 >= limit:
            return False
        new: Cell = (*cell[:PARSED], parsed + (1 << shift))
        shared = self._cells.get(new)
        if shared is not None and servers is not None:  # the usual case: no new cell, nothing to count
            servers[server] = shared
        else:
            self._store(client, server, cell, new)
        return True

    # -- flat views (tests, benchmarks) --------------------------------------------------------------
    def _view(self, field: int) -> dict[tuple[str, str], Any]:
        return {
            (client, server): cell[field]
            for client, servers in self.pairs.items()
            for server, cell in servers.items()
            if cell[field]
        }

    @property
    def sni(self) -> dict[tuple[str, str], Names]:
        return self._view(SNI)

    @property
    def http_host(self) -> dict[tuple[str, str], Names]:
        return self._view(HOST)

    @property
    def dns(self) -> dict[tuple[str, str], Names]:
        return self._view(DNS)

    @property
    def signatures(self) -> dict[tuple[str, str], str]:
        return self._view(SIGNATURE)


#: DNS messages whose parsed answers are remembered (by a digest, not the message).
MAX_DNS_CACHE = 16_384
#: Bytes the remembered answers may take; when full the cache starts again empty (a cache: answers are
#: parsed again, with the same result).
MAX_DNS_CACHE_BYTES = 4 * 2**20
#: One message's answers larger than this are parsed again when repeated, never remembered.
MAX_DNS_ENTRY_BYTES = 64 * 1024
DNS_ENTRY_COST = 200  # a dict slot, a 16-byte digest key and the parsed tuple
DNS_NAME_COST = 60  # a short str object and its slot in a tuple


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
            cost = DNS_ENTRY_COST + sum(DNS_NAME_COST * 3 + len(a) + len(b) for a, b, _ttl in answers or ())
        else:
            cost = DNS_ENTRY_COST + sum(DNS_NAME_COST + len(s) for s in strings)
        if cost > MAX_DNS_ENTRY_BYTES:
            return
        if len(self._table) >= self.max_entries or self.bytes + cost > self.max_bytes:
            self._table.clear()
            self.bytes = 0
        self._table[key] = answers
        self.bytes += cost
