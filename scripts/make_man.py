"""Write the hikscan(1) man page from the command line's own definitions (`make man` → docs/hikscan.1).

Every command, argument and option comes from the click tree typer builds (hikscan.cli.app.cli_command),
so the page cannot drift from `--help`; tests/cli/test_conventions.py checks the committed page is current.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hikscan import __version__
from hikscan.cli.app import cli_command

EXIT_STATUS = (
    ("0", "no finding at or above --fail-on (or a scan that finished)"),
    ("1", "a finding at or above --fail-on"),
    ("2", "usage or input error (one line on stderr)"),
    ("130", "interrupted; the report written so far is complete and valid"),
)


def roff(text: str) -> str:
    """Text safe for roff: backslashes escaped, no line starting with a control character."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in out.splitlines())


def _option(param: Any) -> str:
    names = ", ".join(f"\\fB{roff(o)}\\fR" for o in [*param.opts, *param.secondary_opts])
    if param.param_type_name == "argument":
        names = f"\\fI{roff(str(param.metavar or param.name).upper())}\\fR"
    elif param.metavar:
        names += f" \\fI{roff(str(param.metavar))}\\fR"
    help_text = roff(" ".join((getattr(param, "help", None) or "").split()))
    default = param.default
    if param.param_type_name == "option" and default not in (None, False, (), []) and not param.is_flag:
        shown = getattr(default, "value", default)
        help_text += f" (default: {roff(str(shown))})"
    return f".TP\n{names}\n{help_text}"


def _command(name: str, command: Any, lines: list[str]) -> None:
    lines.append(f".SS {roff(name)}")
    lines.append(roff(" ".join((command.help or "").split())))
    params = [p for p in command.params if p.name not in ("install_completion", "show_completion")]
    lines.extend(_option(p) for p in params if not getattr(p, "hidden", False))
    for sub_name, sub in sorted(getattr(command, "commands", {}).items()):
        _command(f"{name} {sub_name}", sub, lines)


def man_page() -> str:
    root = cli_command()
    lines = [
        f'.TH HIKSCAN 1 "" "hikscan {roff(__version__)}" "User Commands"',
        ".SH NAME",
        "hikscan \\- " + roff(root.help or ""),
        ".SH SYNOPSIS",
        "\\fBhikscan\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
        roff(
            "hikscan finds Hikvision and Dahua CCTV devices (and their OEM brands) on a network and flags "
            "CCTV traffic to overseas servers and vendor clouds, with the evidence for every verdict. "
            "Reports: table, json, jsonl, csv, html, ecs (Elastic Common Schema), cef (ArcSight CEF, "
            "optionally RFC 5424 syslog); give -f FORMAT -o FILE once per report."
        ),
        ".SH COMMANDS",
    ]
    for name, command in sorted(root.commands.items()):
        if not getattr(command, "hidden", False):
            _command(f"hikscan {name}", command, lines)
    lines.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        lines.append(f".TP\n\\fB{code}\\fR\n{roff(meaning)}")
    lines += [
        ".SH SHELL COMPLETION",
        roff(
            "hikscan --install-completion installs completion for the current shell (bash, zsh, fish); "
            "hikscan --show-completion prints the script."
        ),
        ".SH SEE ALSO",
        "\\fBnmap\\fR(1), \\fBtshark\\fR(1), \\fBsuricata\\fR(1)",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else Path("docs/hikscan.1")
    target.write_text(man_page(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
