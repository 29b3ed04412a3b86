"""Reading JSON and JSONL files record by record, keeping where each record came from.

Every importer error must point at the place to fix: a line for JSONL, an index for a
JSON array, plus the field inside the record. :class:`Record` carries that location and
builds the :class:`DataError` for a field, so readers cannot forget it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerp_infra.text import find_unencodable
from nerp_training.data.records import DataError

JSON_SUFFIXES = (".json", ".jsonl")


@dataclass(frozen=True)
class Record:
    """One JSON value of a file and where it is: ``line`` for JSONL, ``index`` always."""

    path: Path
    index: int
    line: int | None
    value: Any

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
            raise self.error(f"a record must be a JSON object, got {_kind(self.value)}")
        return self.value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


def describe(value: object) -> str:
    """``'a string'``, ``'null'``…: how a JSON value is named in error messages."""
    return _kind(value)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def iter_records(path: Path) -> Iterator[Record]:
    """The records of a ``.jsonl`` (one per non-blank line) or ``.json`` (a list or one object)."""
    suffix = path.suffix.lower()
    if suffix not in JSON_SUFFIXES:
        raise DataError(f"unsupported file type {path.suffix or '(none)'!r}", path=path)
    if not path.is_file():
        raise DataError("no such file", path=path)
    if suffix == ".jsonl":
        yield from _iter_jsonl(path)
        return
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text: {exc.reason}", path=path) from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno
        ) from None
    if isinstance(payload, dict):
        yield _checked(Record(path, 0, None, payload))
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            yield _checked(Record(path, index, None, value))
    else:
        raise DataError(
            f"top level must be a list of records or one record, got {_kind(payload)}", path=path
        )


def _iter_jsonl(path: Path) -> Iterator[Record]:
    index = 0
    line_no = 0
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8 text: {exc.reason}", path=path, line=line_no) from None
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=line_no
                ) from None
            yield _checked(Record(path, index, line_no, value))
            index += 1


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
