"""Server names for external addresses, learnt from the capture itself: TLS SNI, HTTP Host, DNS answers.

A DNS answer is remembered per client, because the same address can serve many names (CDNs): the name
a camera asked for is the one that explains its connection. SNI and Host are stronger still: they are
what the client put on the wire for that very server. A few names are kept per (client, server), so a
vendor-cloud name is not hidden behind another name the same client used for the same address.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ENTRIES = 500_000
NAMES_PER_KEY = 4

Table = dict[tuple[str, str], list[str]]


@dataclass
class NameBook:
    """Bounded maps (client, server) → names and server → names; past the bound, new keys are only counted."""

    max_entries: int = MAX_ENTRIES
    sni: Table = field(default_factory=dict)
    http_host: Table = field(default_factory=dict)
    dns: Table = field(default_factory=dict)
    by_server: dict[str, list[str]] = field(default_factory=dict)
    dropped: int = 0

    def _put(self, table: dict, key: object, name: str) -> None:  # type: ignore[type-arg]
        name = name.rstrip(".").lower()
        names = table.get(key)
        if names is None:
            if len(table) >= self.max_entries:
                self.dropped += 1
                return
            names = table[key] = []
        if name not in names and len(names) < NAMES_PER_KEY:
            names.append(name)

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
        out: list[tuple[str, str]] = []
        for source, table in (("sni", self.sni), ("http-host", self.http_host), ("dns", self.dns)):
            out += [(name, source) for name in table.get((client, server), ()) if (name, source) not in out]
        if not out:
            out = [(name, "other-client") for name in self.by_server.get(server, ())]
        return out
