"""Command line: `hikscan analyze`, `scan`, `audit`, `lab`, `rules`. Errors: one line and exit code 2."""

from __future__ import annotations

import copy
import gc
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hikscan import __version__
from hikscan.allocator import return_large_blocks
from hikscan.cli import estate_cmds
from hikscan.cli.options import (
    AsnDb,
    BaselineOpt,
    CaptureMethod,
    FailOn,
    Formats,
    GeoipDb,
    HomeCountry,
    Inventory,
    LocalNet,
    OutputFile,
    Outputs,
    RulesDir,
    Severity,
    ShowProgress,
    Syslog,
    WatchFormat,
)
from hikscan.cli.rules import rules_app
from hikscan.errors import HikscanError, UsageError

EXIT_FINDINGS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find Hikvision/Dahua CCTV devices and flag CCTV traffic that leaves the country.",
)
app.add_typer(rules_app, name="rules")


def _version(value: bool) -> None:
    if not value:
        return
    from hikscan.knowledge.geo import database_info
    from hikscan.knowledge.rules import load_rules

    rules = load_rules()
    typer.echo(f"hikscan {__version__}")
    for line in database_info():
        typer.echo(f"  {line}")
    typer.echo(
        "  location: both country databases answer for every remote (DB-IP first, --geoip-db replaces"
        " it); the policy uses the riskier when they disagree"
    )
    typer.echo(f"  rules: {rules.describe()}")
    raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show version and data sources."),
    ] = False,
) -> None:
    """hikscan — evidence about CCTV devices and where their traffic goes."""


@app.command()
def analyze(
    captures: Annotated[list[Path], typer.Argument(help="pcap/pcapng files, or directories of them.")],
    home_country: HomeCountry = None,
    output_format: Formats = None,
    output: Outputs = None,
    syslog: Syslog = False,
    fail_on: FailOn = Severity.high,
    merge: Annotated[
        bool, typer.Option(help="Treat all captures as one traffic set (e.g. a rotated ring buffer).")
    ] = False,
    geoip_db: GeoipDb = None,
    asn_db: AsnDb = None,
    rules_dir: RulesDir = None,
    inventory: Inventory = None,
    progress: ShowProgress = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            max=64,
            help="Worker processes for several captures (default: one per core); for one capture, processes "
            "that make its report (default: 1).",
        ),
    ] = None,
    local_net: LocalNet = None,
    baseline: BaselineOpt = None,
) -> None:
    """Read captures and report CCTV devices talking to overseas servers and vendor clouds."""
    from hikscan.cli.analyze import AnalyzeRequest, run_analyze
    from hikscan.report.fanout import plan_outputs

    request = AnalyzeRequest(
        captures=captures,
        home_country=home_country,
        outputs=plan_outputs([f.value for f in output_format or []], output, syslog=syslog),
        syslog=syslog,
        fail_on=fail_on.value,
        merge=merge,
        geoip_db=geoip_db,
        asn_db=asn_db,
        rules_dir=rules_dir,
        inventory=inventory,
        progress=sys.stderr.isatty() if progress is None else progress,
        jobs=jobs,
        local_nets=list(local_net or ()),
        baseline=baseline or [],
    )
    raise typer.Exit(run_analyze(request))


@app.command()
def scan(
    targets: Annotated[list[str] | None, typer.Argument(help="IP addresses, CIDRs or host names.")] = None,
    interface: Annotated[
        str | None,
        typer.Option("--interface", "-i", help="Interface for multicast discovery (SADP, ONVIF, DHIP)."),
    ] = None,
    output_format: Formats = None,
    output: Outputs = None,
    syslog: Syslog = False,
    rate: Annotated[
        float,
        typer.Option(
            min=1, max=10000, help="Sends per second, all probes together (the deadline scales with it)."
        ),
    ] = 50.0,
    timeout: Annotated[float, typer.Option(min=0.1, max=60, help="Seconds to wait for each reply.")] = 2.0,
    max_time: Annotated[float | None, typer.Option(min=1, help="Overall deadline in seconds.")] = None,
    probes: Annotated[
        str | None, typer.Option(help="Comma-separated probes (default: all but nmap).")
    ] = None,
    use_nmap: Annotated[bool, typer.Option("--nmap", help="Also run nmap -sV through python-nmap.")] = False,
    progress: ShowProgress = None,
    rules_dir: RulesDir = None,
    imports: Annotated[
        list[Path] | None,
        typer.Option(
            "--import",
            help="An nmap -oX report whose service evidence joins the inventory (repeatable; alone,"
            " without TARGETS, nothing is sent on the network).",
        ),
    ] = None,
) -> None:
    """Find Hikvision/Dahua devices: model, serial, firmware, activation, cloud, CVEs, with evidence."""
    from hikscan.cli.scan import ScanRequest, run_scan_command
    from hikscan.report.fanout import plan_outputs

    request = ScanRequest(
        targets=list(targets or []),
        interface=interface,
        outputs=plan_outputs([f.value for f in output_format or []], output, syslog=syslog),
        syslog=syslog,
        rate=rate,
        timeout=timeout,
        max_time=max_time,
        probes={p.strip() for p in probes.split(",") if p.strip()} if probes else None,
        use_nmap=use_nmap,
        progress=sys.stderr.isatty() if progress is None else progress,
        rules_dir=rules_dir,
        imports=list(imports or []),
    )
    raise typer.Exit(run_scan_command(request))


@app.command()
def watch(
    interface: Annotated[
        str, typer.Option("--interface", "-i", help="Interface to listen on (e.g. a SPAN port).")
    ],
    home_country: HomeCountry = None,
    output_format: Annotated[
        WatchFormat, typer.Option("--format", "-f", help="Output format.")
    ] = WatchFormat.table,
    output: OutputFile = None,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between evaluations.")] = 10.0,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many seconds.")] = None,
    fail_on: FailOn = Severity.high,
    geoip_db: GeoipDb = None,
    asn_db: AsnDb = None,
    rules_dir: RulesDir = None,
    inventory: Inventory = None,
    local_net: LocalNet = None,
    baseline: BaselineOpt = None,
    bpf: Annotated[
        str | None,
        typer.Option("--bpf", help="Kernel capture filter in tcpdump's language (e.g. 'not port 22')."),
    ] = None,
    capture: Annotated[
        CaptureMethod,
        typer.Option(
            "--capture",
            help="ring: AF_PACKET TPACKET_V3 ring; pcap: the same through libpcap; socket: packet socket.",
        ),
    ] = CaptureMethod.auto,
    buffer_mb: Annotated[
        int, typer.Option("--buffer-mb", min=1, max=1024, help="Kernel capture buffer in MiB.")
    ] = 64,
) -> None:
    """Watch live traffic and stream findings as they appear (Ctrl-C stops with a summary).

    A status line on stderr every interval gives packets, kernel drops and flows.
    """
    from hikscan.cli.analyze import AnalyzeRequest
    from hikscan.cli.watch import LiveOptions, run_watch

    request = AnalyzeRequest(
        captures=[],
        home_country=home_country,
        outputs=[(output_format.value, output)],
        fail_on=fail_on.value,
        geoip_db=geoip_db,
        asn_db=asn_db,
        rules_dir=rules_dir,
        inventory=inventory,
        local_nets=list(local_net or ()),
        baseline=baseline or [],
    )
    live = LiveOptions(interface, interval, duration, bpf, capture.value, buffer_mb)
    raise typer.Exit(run_watch(request, live))


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def lab(ctx: typer.Context) -> None:
    """Run emulated CCTV devices for demos and tests (`hikscan lab --help` for its options).

    Refuses the machine's own network namespace unless --loopback (127.77.0.x, unicast only).
    """
    from hikscan.lab.__main__ import main as lab_main

    raise typer.Exit(lab_main(list(ctx.args)))


for command in (estate_cmds.audit, estate_cmds.identify, estate_cmds.merge, estate_cmds.export):
    app.command()(command)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def argv_given(argv: list[str] | None) -> bool:
    return bool(sys.argv[1:] if argv is None else argv)


# typer 0.28's ParamType names (TyperPath is "file" or "directory" when it allows only one).
_TYPE_WORDS = {
    **dict.fromkeys(("path", "file", "directory"), "PATH"),
    "str": "TEXT",
    **dict.fromkeys(("int", "int range"), "INTEGER"),
    **dict.fromkeys(("float", "float range"), "NUMBER"),
}


def _metavar(param: Any) -> str:
    """A help label without Python type names: PATH, TEXT, NUMBER, a|b|c; none for a flag."""
    kind = param.type  # typer's ParamType; its name is what typer would print, as <name>
    if getattr(param, "is_flag", False):
        return ""
    if kind.name == "choice":
        return "|".join(str(c) for c in kind.choices)
    word = _TYPE_WORDS.get(kind.name, "VALUE")
    if param.param_type_name == "argument":
        name = str(param.name).upper().removesuffix("S")
        dots = "..." if param.nargs != 1 else ""
        # typer fills an argument's type column from its type (STRING is shared: a copy), and its usage
        # from the metavar without the dots
        param.type = copy.copy(kind)
        param.type.get_metavar = lambda param, ctx: word + dots
        usage = (f"{{{name}}}" if param.required else f"[{name}]") + dots
        param.get_usage_pieces = lambda ctx: [usage]
        return name
    return word


def _humanise(command: Any) -> Any:
    """Replace typer's <bool>/<list[Path]>/<str> labels in every command's help (metavar only)."""
    help_option = command.get_help_option(typer.Context(command)) if command.add_help_option else None
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if param.metavar is None:
            param.metavar = _metavar(param)
    for sub in getattr(command, "commands", {}).values():
        _humanise(sub)
    return command


def cli_command() -> Any:
    """The click command tree of the app, with readable help (used by main and scripts/make_man.py)."""
    return _humanise(typer.main.get_command(app))


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning every error into one line on stderr and an exit code.

    Called without `argv` (the `hikscan` command: the process ends when it returns), it first moves every
    object out of the collector's reach (gc.freeze): the collection Python runs while it shuts down would
    only scan what the process is about to drop (~0.2 s after a 1M-packet analysis)."""
    try:
        return _main(argv)
    finally:
        if argv is None:
            gc.freeze()


def _main(argv: list[str] | None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    return_large_blocks()
    command = cli_command()
    try:
        code = command.main(args=argv, prog_name="hikscan", standalone_mode=False)
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:
        if not argv_given(argv) or exc.__class__.__name__ == "NoArgsIsHelpError":
            return EXIT_ERROR  # click has printed the help (once)
        print(f"hikscan: error: {exc.format_message()}", file=sys.stderr)
        return EXIT_ERROR
    except HikscanError as exc:
        print(f"hikscan: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hikscan: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line, with the traceback only on request
        if os.environ.get("HIKSCAN_DEBUG"):
            raise
        print(
            f"hikscan: internal error: {exc.__class__.__name__}: {exc} (set HIKSCAN_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 3
    return code if isinstance(code, int) else 0


__all__ = ["UsageError", "app", "main"]
