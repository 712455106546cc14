"""The few errors callers branch on. cli.py turns them into one-line messages and exit codes."""


class HikscanError(Exception):
    """Base for every error hikscan reports to the user (exit code 2)."""


class MalformedInput(HikscanError, ValueError):
    """Bytes from a file or the network that do not parse. Parsers raise only this."""


class RuleError(HikscanError):
    """A rule file that does not validate against the schema or whose examples fail."""


class UsageError(HikscanError):
    """Bad arguments or an unusable input file."""
