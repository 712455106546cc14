"""DNS (UDP 53): answers name external servers for the client that asked; the names a LAN host asks for
are evidence about that host (`dns.query`: a host resolving a camera vendor's cloud), kept when a rule
reads them or they name a vendor cloud (base.NameFilter).

Every DNS packet is inspected (pyloop.ALWAYS_INSPECT), and most repeat one seen before: the same
question from the same client, the same answer to it. Such a packet is "settled" once its effects are
all in place (its question filed for that client; each of its answers in the name tables, which only
grow), and a settled packet is passed over at the cost of one set look-up (its key: the address length,
the two addresses and the message past its id, as one bytes string; bounded in entries and bytes). The
settled set is emptied whenever the tables it stands for forget (the parse cache or the filed questions
start again), so a packet is only ever passed over where inspecting it would have changed nothing.
"""

from __future__ import annotations

from hikscan.errors import MalformedInput
from hikscan.passive.decode import Packet
from hikscan.passive.naming import DnsCache, NameBook
from hikscan.passive.sources.base import UDP, Context, NameFilter, Payload, host_evidence
from hikscan.report.model import Evidence

MAX_FILED = 16_384  # (host, question) pairs already filed as evidence: ≤ ~3 MiB
MAX_SETTLED = 16_384  # settled packets remembered (sender, receiver, message past its id)
MAX_SETTLED_BYTES = 2 * 2**20  # ... and the bytes their keys may take (a key's length + SETTLED_COST)
SETTLED_BYTES = 512  # longer messages are never remembered as settled
SETTLED_COST = 80  # a bytes object past its data, its set slot (and an IPv6 key's tuple)
Parsed = tuple[bool, tuple[str, ...], tuple[tuple[str, str, int], ...]] | None
Settled = bytes | tuple[bytes, bytes]


class DnsSource:
    name = "dns"
    proto = UDP
    ports = frozenset({53})
    first_bytes: frozenset[int] = frozenset()

    def __init__(self) -> None:
        # Messages repeat byte for byte but for the id: parse each once; and file a host's question once.
        self._cache = DnsCache()  # bounded in entries and bytes (passive.naming)
        self._filed: set[tuple[str, tuple[str, ...]]] = set()
        self._settled: set[Settled] = set()
        self._settled_bytes = 0
        self._telling: NameFilter | None = None

    def accepts(self, head: bytes) -> bool:
        return True

    def parse(self, ctx: Context, payload: Payload, key: bytes | None = None) -> Parsed:
        """The message's (is_response, questions, answers), or None if malformed; `key` its DnsCache.key."""
        if key is None:
            key = DnsCache.key(payload)
        if key in self._cache:
            cached: Parsed = self._cache[key]
            return cached
        from hikscan.protocols import dns  # dnspython (~15 ms to import) once a DNS message is parsed

        try:
            message = dns.parse_dns(payload)
            parsed: Parsed = (message.is_response, message.questions, message.answers)
        except MalformedInput:
            ctx.bad("dns")
            parsed = None
        texts = () if parsed is None else (*parsed[1], *(s for a, b, _ttl in parsed[2] for s in (a, b)))
        before = len(self._cache)
        self._cache.put(key, parsed, texts)
        if len(self._cache) <= before or key not in self._cache:
            self._forget_settled()  # the cache started again (or kept nothing): it may parse anew
        return parsed

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        settled: Settled | None = None
        if len(payload) <= SETTLED_BYTES:
            # the addresses and the message past its id, as one bytes string; an IPv6 key is a tuple, so it
            # never equals an IPv4 key whose message starts with bytes that spell IPv6 addresses
            src = pkt.src
            settled = src + pkt.dst + payload[2:] if len(src) == 4 else (src + pkt.dst, bytes(payload[2:]))
        if settled in self._settled:
            return
        parsed = self.parse(ctx, payload)
        if parsed is None:
            return
        is_response, questions, answers = parsed
        client = ctx.text(pkt.dst if is_response else pkt.src)
        if is_response:
            for asked, address, _ttl in answers:
                ctx.names.add_dns_answer(client, asked, address)
            if settled is not None and _answered(ctx.names, client, answers):
                self._settle(settled)
            return  # the question is filed from the query, which the same tap saw
        if questions and (client, questions) not in self._filed:
            if len(self._filed) >= MAX_FILED:
                self._filed.clear()
                self._forget_settled()
            self._filed.add((client, questions))
            if self._telling is None or self._telling.rules is not ctx.rules:
                self._telling = NameFilter(ctx.rules, "dns.query")
            telling = [Evidence("capture", "dns.query", q) for q in questions if self._telling(q)]
            if telling:
                host_evidence(ctx, client, telling)
        if settled is not None:
            self._settle(settled)

    def _settle(self, settled: Settled) -> None:
        cost = (len(settled) if isinstance(settled, bytes) else 32 + len(settled[1])) + SETTLED_COST
        if len(self._settled) >= MAX_SETTLED or self._settled_bytes + cost > MAX_SETTLED_BYTES:
            self._forget_settled()
        self._settled.add(settled)
        self._settled_bytes += cost

    def _forget_settled(self) -> None:
        self._settled.clear()
        self._settled_bytes = 0


def _answered(names: NameBook, client: str, answers: tuple[tuple[str, str, int], ...]) -> bool:
    """True when filing every answer again cannot change the name tables."""
    return all(names.holds_dns_answer(client, asked, address) for asked, address, _ttl in answers)


SOURCE = DnsSource
