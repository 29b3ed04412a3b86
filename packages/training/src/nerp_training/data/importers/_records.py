"""Reading JSON and JSONL files record by record, keeping where each record came from.

Every importer error must point at the place to fix: a line for JSONL, an index for a
JSON array, plus the field inside the record. :class:`Record` carries that location and
builds the :class:`DataError` for a field, so readers cannot forget it. The files are read
by ``nerp_infra.documents.iter_json_records``, the reader of native documents too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerp_infra.documents import (
    SUFFIXES,
    DocumentError,
    JsonRecord,
    describe_json,
    iter_json_records,
)
from nerp_infra.text import find_unencodable
from nerp_training.data.records import DataError

JSON_SUFFIXES = SUFFIXES


@dataclass(frozen=True)
class Record(JsonRecord):
    """A :class:`JsonRecord` that builds importer errors naming its place."""

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else f"{self.path}[{self.index}]"

    def error(self, reason: str, field: str | None = None) -> DataError:
        if self.line is not None:
            return DataError(reason, path=self.path, line=self.line, field=field)
        joined = f"[{self.index}]"
        if field:
            joined += field if field.startswith("[") else f".{field}"
        return DataError(reason, path=self.path, field=joined)

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.error(f"a record must be a JSON object, got {describe_json(self.value)}")
        return self.value


def iter_records(path: Path) -> Iterator[Record]:
    """The records of a ``.jsonl`` (one per non-blank line) or ``.json`` (a list or one object)."""
    records = iter_json_records(path)
    while True:
        try:
            found = next(records, None)
        except DocumentError as exc:
            raise DataError(exc.reason, path=exc.path, line=exc.line) from None
        if found is None:
            return
        yield _checked(Record(found.path, found.index, found.line, found.value))


def _checked(record: Record) -> Record:
    """The record, unless a string in it cannot be encoded (a lone surrogate from ``\\ud800``):
    tokenizers and writers would crash on it later, far from the line to fix."""
    found = find_unencodable(record.value)
    if found is not None:
        field, reason = found
        raise record.error(reason, field or None)
    return record


def peek_record(path: Path) -> Any:
    """The first record of a JSON/JSONL file (for format detection), or ``None`` if empty."""
    for record in iter_records(path):
        return record.value
    return None
