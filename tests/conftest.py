"""Suite-wide: every JSON/JSONL report any test writes is validated against the published schema
(hikscan/report/schema/report.schema.json) by the writers themselves; subprocesses inherit this."""

from __future__ import annotations

import os

from hikscan.report.schema import ENV

os.environ[ENV] = "1"
