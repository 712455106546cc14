"""Server names for external addresses, learnt from the capture itself: DNS answers, TLS SNI, HTTP Host.

A DNS answer is remembered per client, because the same address can serve many names (CDNs): the name
a camera asked for is the one that explains its connection. SNI and Host are stronger still: they are
what the client put on the wire for that very server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ENTRIES = 500_000


@dataclass
class NameBook:
    """Bounded maps (client, server) → name and server → name; past the bound, new names are only counted."""

    max_entries: int = MAX_ENTRIES
    by_pair: dict[tuple[str, str], str] = field(default_factory=dict)
    by_server: dict[str, str] = field(default_factory=dict)
    sni: dict[tuple[str, str], str] = field(default_factory=dict)
    http_host: dict[tuple[str, str], str] = field(default_factory=dict)
    dropped: int = 0

    def _put(self, table: dict, key, name: str) -> None:  # type: ignore[type-arg]
        if key in table or len(table) < self.max_entries:
            table[key] = name.rstrip(".").lower()
        else:
            self.dropped += 1

    def add_dns_answer(self, client: str, asked: str, server: str) -> None:
        self._put(self.by_pair, (client, server), asked)
        self._put(self.by_server, server, asked)

    def add_sni(self, client: str, server: str, name: str) -> None:
        self._put(self.sni, (client, server), name)
        self._put(self.by_server, server, name)

    def add_http_host(self, client: str, server: str, host: str) -> None:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        self._put(self.http_host, (client, server), host)
        self._put(self.by_server, server, host)

    def name_for(self, client: str, server: str) -> tuple[str | None, str | None]:
        """The best name for server as seen by client, and where it came from (sni, http-host, dns)."""
        for source, table in (("sni", self.sni), ("http-host", self.http_host), ("dns", self.by_pair)):
            name = table.get((client, server))
            if name:
                return name, source
        name = self.by_server.get(server)
        return (name, "other-client") if name else (None, None)
