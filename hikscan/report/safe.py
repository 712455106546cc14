"""Text from the wire, a capture, an inventory or a rule is data: make it safe for each kind of output.

One place decides, and every writer calls it: terminal and table text never carries control bytes or
markup, CSV cells never start a formula, HTML is escaped, CEF header and extension separators are
escaped, syslog header tokens are printable ASCII. JSON needs nothing more than `json.dumps`
(which escapes control characters itself).
"""

from __future__ import annotations

import html
import re

from rich.markup import escape as _rich_escape
from rich.text import Text

# C0 and C1 controls, DEL, and the Unicode bidirectional overrides/isolates that reorder what a reader sees.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
MAX_CELL = 512  # longer values are cut in tables and CSV (JSON keeps them whole, already bounded upstream)


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, limit: int | None = MAX_CELL) -> str:
    """Printable text: controls and bidi overrides shown as \\xNN / \\uNNNN escapes, length cut with '…'."""
    text = "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return _UNSAFE.sub(_escape_char, text)


def cell(value: object) -> Text:
    """A rich table cell that is never parsed as markup."""
    return Text(clean(value))


def markup(value: object) -> str:
    """Text to embed inside a rich markup string (our own [bold] etc. around it)."""
    return _rich_escape(clean(value))


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP: prefix with a quote)."""
    text = clean(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def html_text(value: object) -> str:
    return html.escape(clean(value, limit=None), quote=True)


def cef_header(value: object) -> str:
    """A CEF header field: printable, with '\\' and '|' escaped (ArcSight CEF rev. 25, "Header")."""
    return clean(value).replace("\\", "\\\\").replace("|", "\\|")


def cef_value(value: object) -> str:
    """A CEF extension value: printable, with '\\' and '=' escaped (ArcSight CEF rev. 25, "Extension")."""
    return clean(value, limit=1023).replace("\\", "\\\\").replace("=", "\\=")


def syslog_token(value: object, limit: int) -> str:
    """An RFC 5424 header token (HOSTNAME, APP-NAME, MSGID): printable US-ASCII without spaces, or "-"."""
    text = "".join(c for c in str(value or "") if "!" <= c <= "~")[:limit]
    return text or "-"
