"""A finding's JSON text without the dict: the parts many findings share encoded once.

`FindingEncoder(extra)(finding)` is, character for character, `dumps({**finding.to_dict(), **extra})`
(report.output.dumps: the key order of Finding.to_dict, ", " and ": " separators, non-ASCII kept, control
characters escaped by the json module's own encoder). A report has tens of thousands of findings but only a
few rules, hosts, remotes and evidence lines: the head (severity, rule, title), the device, the evidence list
and a remote's per-address part are each encoded once and their text reused; the counts, times and a remote's
per-contact part (port, name, cloud, round trip) are encoded per finding. A value of a type
this module does not special-case goes through the same encoder as dumps(), so the text cannot differ.
tests/report/test_finding_json.py compares it with dumps() on hostile and unusual values.
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring
from typing import Any, TypeVar

from hikscan.report.model import Finding, Remote, iso_time
from hikscan.report.output import dumps

T = TypeVar("T")
MAX_MEMO = 4096  # texts kept per memo (heads, devices, evidence lists, remotes) before it starts again empty
MAX_MEMO_CHARS = 1 << 20  # characters of text in all the memos together (FindingEncoder._remember)

# dumps()'s own encoder (report.output: JSONEncoder(ensure_ascii=False, default=str)), made once instead of
# per call (most of the cost of encoding a small value), without the check for circular references: a
# finding's values are plain data made by the detectors, never a structure that holds itself.
try:
    from _json import make_encoder
except ImportError:  # a Python without the json module's C part: dumps() alone
    _C_ENCODER = None
else:
    _C_ENCODER = make_encoder(None, str, encode_basestring, None, ": ", ", ", False, False, True)


def _json(value: Any) -> str:
    """Any value, as dumps() writes it."""
    return "".join(_C_ENCODER(value, 0)) if _C_ENCODER is not None else dumps(value)


def _value(value: Any) -> str:
    """One JSON value, as dumps() writes it (str, int, None and finite floats directly; the rest by dumps)."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)  # type: ignore[no-any-return]
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    return _json(value)


def _strings(values: Any) -> str:
    """A list (or tuple) of strings as dumps() writes it (anything else: by dumps)."""
    if type(values) is list or type(values) is tuple:
        try:
            return "[" + ", ".join(map(encode_basestring, values)) + "]"
        except TypeError:  # not all strings
            pass
    return _json(values)


def _all_text(values: tuple[Any, ...]) -> bool:
    """True when every value is a str or None: a memo keyed by such a tuple finds only tuples of the same
    strings (a number would not do: 1 == 1.0 == True, which dumps() writes three ways)."""
    return all(v is None or type(v) is str for v in values)


def _get(memo: dict[tuple[Any, ...], T], key: tuple[Any, ...]) -> T | None:
    try:
        return memo.get(key)
    except TypeError:  # a value that cannot be a key (a list): never in the memo
        return None


class FindingEncoder:
    """Finding → its report line's JSON text (the record plus `extra` keys, e.g. the capture's name).

    Memos, each keyed by strings only (see _all_text), bounded by MAX_MEMO entries each and MAX_MEMO_CHARS
    in all: the head by (severity, rule, title), the device by its items, the evidence by its lines, a
    remote's per-address part by its address, country, org, owner, owner's country and located opinions.
    Numbers are encoded every time."""

    def __init__(self, extra: dict[str, Any] | None = None) -> None:
        extra = extra or {}
        self._plain = not (set(extra) & set(Finding.__dataclass_fields__))  # else extra replaces a field
        self._extra = extra
        self._tail = "".join(f", {dumps(k)}: {dumps(v)}" for k, v in extra.items()) + "}"
        self._heads: dict[tuple[Any, ...], str] = {}
        self._devices: dict[tuple[Any, ...], str] = {}
        self._evidence: dict[tuple[Any, ...], str] = {}
        self._places: dict[tuple[Any, ...], tuple[str, str, str, str]] = {}
        self._chars = 0  # in the memos (MAX_MEMO_CHARS)

    def __call__(self, finding: Finding) -> str:
        remote = finding.remote
        if not self._plain or type(remote) is not Remote:
            return dumps({**finding.to_dict(), **self._extra})
        key = (finding.severity, finding.rule, finding.title)
        head = _get(self._heads, key)
        if head is None:
            head = self._remember(
                self._heads,
                key,
                f'{{"severity": {_value(key[0])}, "rule": {_value(key[1])}, "title": {_value(key[2])}, '
                '"device": ',
            )
        device = finding.device
        items = tuple(device.items())
        device_text = _get(self._devices, items)
        if device_text is None:
            device_text = self._remember(self._devices, items, _json(device), (*device, *device.values()))
        evidence = finding.evidence
        lines = tuple(evidence)
        evidence_text = _get(self._evidence, lines)
        if evidence_text is None:
            evidence_text = self._remember(self._evidence, lines, _strings(lines))  # as list(evidence)
        onset = finding.onset
        return "".join(
            (
                head,
                device_text,
                ', "remote": ',
                self._remote(remote),
                ', "first_seen": "',
                iso_time(finding.first_seen),
                '", "last_seen": "',
                iso_time(finding.last_seen),
                '", "packets": ',
                _value(finding.packets),
                ', "bytes": ',
                _value(finding.bytes),
                ', "evidence": ',
                evidence_text,
                ', "flows": ',
                _value(finding.flows),
                ', "new_destination": ',
                _value(finding.new_destination),
                ', "onset": ',
                "null" if onset is None else f'"{iso_time(onset)}"',
                ', "rate_per_hour": ',
                _value(finding.rate_per_hour),
                ', "metrics": ',
                "{}" if type(finding.metrics) is dict and not finding.metrics else _json(finding.metrics),
                self._tail,
            )
        )

    def _remote(self, remote: Remote) -> str:
        """Remote.to_dict() as JSON: the per-address part from the memo, the per-contact part each time."""
        located = remote.located
        key = (remote.ip, remote.country, remote.org, remote.owner, remote.owner_country, located)
        place = _get(self._places, key)
        if place is None:
            place = (
                f'{{"ip": {_value(remote.ip)}, "port": ',
                f', "country": {_value(remote.country)}, "asn": ',
                f', "org": {_value(remote.org)}, "cloud": ',
                f', "owner": {_value(remote.owner)}, "owner_country": {_value(remote.owner_country)}, '
                f'"located": {_json([list(pair) for pair in located])}, "rtt_ms": ',
            )
            if type(located) is tuple and all(type(pair) is tuple and _all_text(pair) for pair in located):
                self._remember(self._places, key, place, key[:5])
        return "".join(
            (
                place[0],
                _value(remote.port),
                ', "proto": ',
                _value(remote.proto),
                ', "name": ',
                _value(remote.name),
                place[1],
                _value(remote.asn),
                place[2],
                _value(remote.cloud),
                place[3],
                _value(remote.rtt_ms),
                ', "ports": ',
                _strings(remote.ports if type(remote.ports) is tuple else tuple(remote.ports)),
                "}",
            )
        )

    def _remember(self, memo: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any,
                  values: tuple[Any, ...] | None = None) -> Any:  # fmt: skip
        """`value`, kept under `key` when `values` (the key itself by default) are all text. The memos hold
        at most MAX_MEMO_CHARS characters of text in all (counted twice: the key's strings are about as
        long), then start again empty: a capture where no two findings share their evidence costs a
        bounded few hundred KiB here, never a copy of the report."""
        if _all_text(key if values is None else values):
            size = 2 * (len(value) if type(value) is str else sum(map(len, value)))
            self._chars += size
            if self._chars > MAX_MEMO_CHARS:
                for kept in (self._heads, self._devices, self._evidence, self._places):
                    kept.clear()
                self._chars = size
            if len(memo) >= MAX_MEMO:
                memo.clear()
            memo[key] = value
        return value
