"""Documents with character-span entities, and the files that hold them.

Spans are end-exclusive offsets into ``Document.text`` counted in Python characters (code
points), so ``text[span.start:span.end]`` is the entity. Tools that count UTF-16 units
(JavaScript annotators) need converting by their importer before they get here.

Two record forms are read, one is written:

- native: ``{"id": "r-1", "text": "...", "spans": [{"start": 0, "end": 4, "label": "NAME"}]}``
- annotations: ``{"text": "...", "annotations": [[0, 4, "NAME"]]}``

``id`` is optional in both and defaults to ``<file stem>-<index>``. Unknown keys are errors
rather than ignored, so a typo such as ``"span"`` cannot silently drop a document's labels;
other foreign formats belong to the data importers in nerp-training.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nerp_infra.files import atomic_file
from nerp_infra.text import unencodable_reason

__all__ = [
    "SUFFIXES",
    "Document",
    "DocumentError",
    "DocumentRecord",
    "Entity",
    "JsonRecord",
    "Span",
    "SpanRecord",
    "describe_json",
    "is_json_int",
    "iter_documents",
    "iter_json_records",
    "overlapping_spans",
    "parse_document_record",
    "read_documents",
    "write_documents",
]

SUFFIXES = (".json", ".jsonl")
_NATIVE_KEYS = frozenset({"id", "text", "spans"})
_ANNOTATION_KEYS = frozenset({"id", "text", "annotations"})


class DocumentError(ValueError):
    """A documents file or record is unusable; names where and why so it can be fixed."""

    def __init__(
        self,
        reason: str,
        *,
        path: str | os.PathLike[str] | None = None,
        location: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        self.line = line
        self.location = location if location is not None or line is None else f"line {line}"
        self.field = field
        where = [part for part in (self.path, self.location) if part]
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)


def _encodable(value: object) -> object:
    # Before the str validation, whose own refusal of surrogates does not say which one.
    if isinstance(value, str) and (reason := unencodable_reason(value)) is not None:
        raise ValueError(reason)
    return value


EncodableStr = Annotated[StrictStr, BeforeValidator(_encodable)]
"""A string that can be written as UTF-8 (no lone surrogates): ids, texts and labels."""
_NonEmptyEncodableStr = Annotated[StrictStr, Field(min_length=1), BeforeValidator(_encodable)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank (only whitespace)")
    return value


_DocumentId = Annotated[_NonEmptyEncodableStr, AfterValidator(_not_blank)]
"""As the document readers require: a blank id could not be read back from a file."""


class Span(BaseModel):
    """One labelled character range ``[start, end)`` of a document's text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: Annotated[StrictInt, Field(ge=0)]
    end: StrictInt
    label: _NonEmptyEncodableStr

    @field_validator("label")
    @classmethod
    def _label_not_blank(cls, label: str) -> str:
        if not label.strip():
            raise ValueError("label must not be blank")
        return label

    @model_validator(mode="after")
    def _end_after_start(self) -> Span:
        if self.end <= self.start:
            raise ValueError(
                f"end ({self.end}) must be greater than start ({self.start}); spans are "
                "end-exclusive and never empty"
            )
        return self

    def as_tuple(self) -> tuple[int, int, str]:
        return (self.start, self.end, self.label)


class Document(BaseModel):
    """A text and its gold spans; spans may be empty (unlabelled text to predict on)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: _DocumentId
    text: EncodableStr
    spans: list[Span] = Field(default_factory=list)

    @field_validator("spans")
    @classmethod
    def _spans_within_text(cls, spans: list[Span], info: ValidationInfo) -> list[Span]:
        text = info.data.get("text")
        if text is None:  # text itself failed validation; that error is reported instead
            return spans
        doc_id = info.data.get("id", "?")
        for index, span in enumerate(spans):
            if span.end > len(text):
                raise ValueError(
                    f"document {doc_id!r}: spans[{index}] {list(span.as_tuple())} ends past the "
                    f"end of the text (length {len(text)})"
                )
        return spans

    def span_text(self, span: Span) -> str:
        return self.text[span.start : span.end]


class Entity(BaseModel):
    """A predicted entity, as served by the API: the text it covers, where, and how sure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    label: str
    start: Annotated[int, Field(ge=0)]
    end: int
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]

    @model_validator(mode="after")
    def _end_after_start(self) -> Entity:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be greater than start ({self.start})")
        return self

    def to_span(self) -> Span:
        return Span(start=self.start, end=self.end, label=self.label)


def overlapping_spans(spans: Sequence[Span]) -> list[tuple[Span, Span]]:
    """Pairs of spans that share characters; BIO tags cannot represent them.

    Data validation reports these before training, since the encoder refuses them.
    """
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    pairs: list[tuple[Span, Span]] = []
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if second.start >= first.end:
                break
            pairs.append((first, second))
    return pairs


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DocumentError(
            f"unsupported file type {path.suffix or '(none)'!r}; use .json or .jsonl",
            path=path,
        )
    return suffix


# -- JSON records ---------------------------------------------------------------------


def describe_json(value: object) -> str:
    """How a JSON value is named in error messages: ``'a string'``, ``'null'``, ``'a list'``."""
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    names |= {int: "a number", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")


def is_json_int(value: object) -> bool:
    """An integer, and not a boolean (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class JsonRecord:
    """One JSON value of a documents file and where it is: ``line`` for JSONL, ``index`` always."""

    path: Path
    index: int
    line: int | None
    value: Any

    @property
    def location(self) -> str:
        return f"line {self.line}" if self.line is not None else f"index {self.index}"


def iter_json_records(path: str | os.PathLike[str]) -> Iterator[JsonRecord]:
    """The records of a ``.jsonl`` file (one per non-blank line, streamed) or of a ``.json``
    file (a list of records, or one record), each with its location.

    Every reader of JSON documents files (native documents here, the foreign formats of the
    nerp-training importers) goes through this, so they report bad files the same way.
    """
    path = Path(path)
    suffix = _check_suffix(path)
    if not path.is_file():
        raise DocumentError("no such file", path=path)
    if suffix == ".jsonl":
        yield from _iter_jsonl_records(path)
        return
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text: {exc.reason}", path=path) from None
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno
        ) from None
    if isinstance(payload, dict):
        yield JsonRecord(path, 0, None, payload)
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            yield JsonRecord(path, index, None, value)
    else:
        raise DocumentError(
            f"top level must be a list of records or one record, got {describe_json(payload)}",
            path=path,
        )


def _iter_jsonl_records(path: Path) -> Iterator[JsonRecord]:
    index = 0
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DocumentError(
                    f"not UTF-8 text: {exc.reason}", path=path, line=line_no
                ) from None
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DocumentError(
                    f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=line_no
                ) from None
            yield JsonRecord(path, index, line_no, value)
            index += 1


# -- native records -------------------------------------------------------------------


class SpanRecord(NamedTuple):
    """A span as a record states it: typed, but its geometry and label not yet checked."""

    start: int
    end: int
    label: str
    field: str
    """Where in the record, in the record's own form: ``spans[2]`` or ``annotations[2]``."""


@dataclass(frozen=True)
class DocumentRecord:
    """A native record, its keys and types checked; span geometry is checked by
    :class:`Document` (strict readers) or by data validation (the lenient importer)."""

    id: str
    text: str
    spans: list[SpanRecord]


def _record_span(field: str, start: object, end: object, label: object) -> SpanRecord:
    for name, value in (("start", start), ("end", end)):
        if not is_json_int(value):
            raise DocumentError(f"not an integer ({describe_json(value)})", field=f"{field}.{name}")
    if not isinstance(label, str):
        raise DocumentError(f"must be a string, got {describe_json(label)}", field=f"{field}.label")
    assert isinstance(start, int) and isinstance(end, int)
    return SpanRecord(start, end, label, field)


def parse_document_record(value: object, *, default_id: str) -> DocumentRecord:
    """Check one record of either native form and return its parts.

    Raises :class:`DocumentError` with ``reason`` and ``field`` only; the caller adds the
    file and location it knows.
    """
    if not isinstance(value, dict):
        raise DocumentError(f"a document must be a JSON object, got {describe_json(value)}")
    if "spans" in value and "annotations" in value:
        raise DocumentError("has both 'spans' and 'annotations'; use one form per document")
    form = "annotations" if "annotations" in value else "spans"
    allowed = _ANNOTATION_KEYS if form == "annotations" else _NATIVE_KEYS
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise DocumentError(
            f"unknown key(s) {', '.join(map(repr, unknown))}; a document has "
            f"{', '.join(sorted(allowed))}",
            field=str(unknown[0]),
        )
    doc_id = value.get("id", default_id)
    if is_json_int(doc_id):
        doc_id = str(doc_id)  # many annotation tools number their documents
    elif not isinstance(doc_id, str) or not doc_id.strip():
        raise DocumentError(
            f"must be a non-empty string or an integer, got {describe_json(doc_id)}", field="id"
        )
    if "text" not in value:
        raise DocumentError("is required", field="text")
    text = value["text"]
    if not isinstance(text, str):
        raise DocumentError(f"must be a string, got {describe_json(text)}", field="text")
    items = value.get(form, [])
    if not isinstance(items, list):
        shape = "[start, end, label]" if form == "annotations" else "span objects"
        raise DocumentError(f"must be a list of {shape}, got {describe_json(items)}", field=form)
    spans = []
    for i, item in enumerate(items):
        field = f"{form}[{i}]"
        if form == "annotations":
            if not isinstance(item, list) or len(item) != 3:
                raise DocumentError(f"must be [start, end, label], got {item!r:.60}", field=field)
            spans.append(_record_span(field, *item))
            continue
        if not isinstance(item, dict):
            raise DocumentError(f"must be an object, got {describe_json(item)}", field=field)
        extra = sorted(set(item) - {"start", "end", "label"})
        if extra:
            raise DocumentError(
                "unknown key; a span has start, end, label", field=f"{field}.{extra[0]}"
            )
        spans.append(_record_span(field, item.get("start"), item.get("end"), item.get("label")))
    return DocumentRecord(id=doc_id, text=text, spans=spans)


def _record_to_document(record: JsonRecord, *, default_id: str) -> Document:
    try:
        parsed = parse_document_record(record.value, default_id=default_id)
    except DocumentError as exc:
        raise DocumentError(
            exc.reason, path=record.path, location=record.location, field=exc.field
        ) from None
    data = {
        "id": parsed.id,
        "text": parsed.text,
        "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in parsed.spans],
    }
    try:
        return Document.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc = tuple(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        field = ".".join(str(part) for part in loc) or None
        if len(loc) > 1 and loc[0] == "spans":  # name the span as the user wrote it
            span_field, inner = parsed.spans[int(loc[1])].field, [str(p) for p in loc[2:]]
            if span_field.startswith("annotations"):  # [start, end, label]: no field names
                field, message = span_field, ": ".join([*inner, message])
            else:
                field = ".".join([span_field, *inner])
        raise DocumentError(
            message, path=record.path, location=record.location, field=field
        ) from None


def iter_documents(path: str | os.PathLike[str]) -> Iterator[Document]:
    """Yield the documents of a ``.json`` or ``.jsonl`` file one at a time.

    JSONL is streamed, so large corpora need not fit in memory twice. Ids must be unique
    within the file: splits and predictions are keyed by them.
    """
    path = Path(path)
    seen: dict[str, str] = {}
    for record in iter_json_records(path):
        doc = _record_to_document(record, default_id=f"{path.stem}-{record.index}")
        if doc.id in seen:
            raise DocumentError(
                f"duplicate document id {doc.id!r} (first at {seen[doc.id]})",
                path=path,
                location=record.location,
                field="id",
            )
        seen[doc.id] = record.location
        yield doc


def read_documents(path: str | os.PathLike[str]) -> list[Document]:
    """Read all documents of a ``.json`` (a list, or one object) or ``.jsonl`` file."""
    return list(iter_documents(path))


def _native(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id,
        "text": doc.text,
        "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in doc.spans],
    }


def write_documents(docs: Iterable[Document], path: str | os.PathLike[str]) -> Path:
    """Write documents in the native form, atomically.

    A temp file in the target folder is renamed over the target, so readers (and a crashed
    writer) never leave a half-written dataset behind.
    """
    path = Path(path)
    suffix = _check_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [_native(doc) for doc in docs]
    seen: set[str] = set()
    for index, record in enumerate(records):
        if record["id"] in seen:
            raise DocumentError(
                f"duplicate document id {record['id']!r}",
                path=path,
                location=f"index {index}",
                field="id",
            )
        seen.add(record["id"])
    with atomic_file(path, "w", newline="\n") as handle:
        if suffix == ".jsonl":
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            json.dump(records, handle, ensure_ascii=False, indent=2)
            handle.write("\n")
    return path
