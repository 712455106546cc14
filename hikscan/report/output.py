"""Where a report goes: stdout or a file (written atomically when the format is not streamed)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

# json.dumps(record, ensure_ascii=False, default=str), with its encoder made once instead of per call
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=False, default=str)


def dumps(record: Any) -> str:
    return _ENCODER.encode(record)


@contextlib.contextmanager
def open_output(path: Path | None, atomic: bool) -> Iterator[IO[str]]:
    """stdout, or a file; a non-streamed file is written to a temporary name and renamed when complete."""
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    if not atomic or not path.parent.exists() or str(path).startswith("/dev/"):
        with open(path, "w", encoding="utf-8") as handle:
            yield handle
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
