"""Rule regexes in a linear-time engine (RE2, `google-re2`): no pattern can hang on any input.

Python's `re` backtracks: `^(a+)+$` takes exponential time on 41 bytes of `a` and a `!`, and a pattern
like `^\\s*(\\S.*?)\\s*$` is quadratic on padded values. RE2 matches in time linear in the input and
has no backreferences or lookaround (the constructs that need backtracking); a rule using them is
refused when the rules load (`hikscan rules check` shows why). The input of every match is also cut
to `MAX_INPUT` characters, and a pattern's compiled size to `MAX_PROGRAM` bytes.

Differences from `re` a rule author may meet: `\\d`, `\\w`, `\\s` and `\\b` are ASCII (case folding with
`ignorecase` is Unicode), and `$` without `multiline` matches only at the very end (not before a final
newline). The schema's flags map to RE2's inline flags: ignorecase `(?i)`, multiline `(?m)`, dotall `(?s)`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import re2

#: Characters of a value a rule regex looks at (longer values are cut before matching).
MAX_INPUT = 4096
#: Memory RE2 may use to compile and run one pattern (its DFA cache); larger patterns are refused.
MAX_PROGRAM = 8 * 2**20
FLAGS = {"ignorecase": "i", "multiline": "m", "dotall": "s"}

# What needs backtracking, named for the error message (checked on the pattern text RE2 refused).
_BACKTRACKING = (
    (re.compile(r"\(\?<?[=!]"), "lookaround ((?=…), (?!…), (?<=…), (?<!…))"),
    (re.compile(r"\\[1-9]|\(\?P=|\\g<"), "a backreference (\\1, (?P=name))"),
    (re.compile(r"\(\?>|[*+?}]\+"), "an atomic group or possessive quantifier"),
    (re.compile(r"\(\?\("), "a conditional group"),
)


class RegexError(ValueError):
    """A pattern the linear-time engine cannot run, with the reason in words."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PROGRAM
    return options


class RuleRegex:
    """A compiled rule pattern: `search`, `match` and `fullmatch` like `re`, on at most MAX_INPUT chars."""

    __slots__ = ("_re", "flags", "pattern")

    def __init__(self, pattern: str, flags: Iterable[str] = ()) -> None:
        self.pattern = pattern
        self.flags = tuple(flags)
        unknown = [f for f in self.flags if f not in FLAGS]
        if unknown:
            raise RegexError(f"unknown regex flag {unknown[0]!r} (use {', '.join(FLAGS)})")
        inline = "".join(sorted({FLAGS[f] for f in self.flags}))
        source = f"(?{inline}){pattern}" if inline else pattern
        try:
            self._re = re2.compile(source, _options())
        except re2.error as exc:
            raise RegexError(_explain(pattern, exc)) from None

    @property
    def groups(self) -> int:
        return int(self._re.groups)

    @property
    def groupindex(self) -> Mapping[str, int]:
        return dict(self._re.groupindex)

    def search(self, text: str) -> Any:
        """The first match in text[:MAX_INPUT], or None (the match offers group(n or name) like re)."""
        return self._re.search(text[:MAX_INPUT])

    def match(self, text: str) -> Any:
        return self._re.match(text[:MAX_INPUT])

    def fullmatch(self, text: str) -> Any:
        return self._re.fullmatch(text[:MAX_INPUT])

    def __repr__(self) -> str:
        return f"RuleRegex({self.pattern!r}, flags={self.flags!r})"


def _explain(pattern: str, exc: BaseException) -> str:
    for probe, what in _BACKTRACKING:
        if probe.search(pattern):
            return (
                f"the pattern uses {what}, which needs a backtracking engine; rule regexes run in a "
                "linear-time engine (RE2), so rewrite it without"
            )
    raw = exc.args[0] if exc.args else exc
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if "too large" in text or "out of memory" in text:
        return f"the pattern compiles larger than {MAX_PROGRAM} bytes; make it smaller"
    return f"bad regex: {text}"


def compile_rule_regex(pattern: str, flags: Iterable[str] = ()) -> RuleRegex:
    """Compile a rule's pattern with the schema's flags; RegexError says why one is refused."""
    return RuleRegex(pattern, flags)
