"""The report's JSON Schema (report.schema.json), and validation of JSON and JSONL output against it.

When HIKSCAN_VALIDATE_OUTPUT=1 (the test suite sets it) the JSON and JSONL writers validate what they
write, so every JSON output any test produces is checked against the published schema.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where output is validated (tests): a plain run never needs jsonschema
    import jsonschema

ENV = "HIKSCAN_VALIDATE_OUTPUT"


@functools.lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    text = resources.files(__name__).joinpath("report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@functools.lru_cache(maxsize=2)
def _validator(part: str) -> jsonschema.Draft202012Validator:
    import jsonschema

    schema = report_schema()
    target = schema if part == "document" else {"$ref": f"#/$defs/{part}", "$defs": schema["$defs"]}
    return jsonschema.Draft202012Validator(target)


def validate_document(doc: Any) -> None:
    """Raise jsonschema.ValidationError unless `doc` is a valid report document."""
    _validator("document").validate(doc)


def validate_line(record: Any) -> None:
    """Raise jsonschema.ValidationError unless `record` is a valid JSONL line."""
    _validator("line").validate(record)


def validating() -> bool:
    return os.environ.get(ENV) == "1"
