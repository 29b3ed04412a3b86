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
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
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
    "Document",
    "DocumentError",
    "Entity",
    "Span",
    "iter_documents",
    "overlapping_spans",
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
    ) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        self.location = location
        self.field = field
        where = [part for part in (self.path, location) if part]
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

    id: _NonEmptyEncodableStr
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


def _field_name(loc: tuple[int | str, ...], form: str) -> str | None:
    if not loc:
        return None
    if form == "annotations" and loc[0] == "spans":
        # Report positions in the user's own form: annotations[i] is [start, end, label].
        return f"annotations[{loc[1]}]" if len(loc) > 1 else "annotations"
    name = str(loc[0])
    for part in loc[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def _record_to_document(record: object, *, default_id: str, path: Path, location: str) -> Document:
    if not isinstance(record, dict):
        raise DocumentError(
            f"a document must be a JSON object, got {type(record).__name__}",
            path=path,
            location=location,
        )
    if "spans" in record and "annotations" in record:
        raise DocumentError(
            "has both 'spans' and 'annotations'; use one form per document",
            path=path,
            location=location,
        )
    form = "annotations" if "annotations" in record else "native"
    allowed = _ANNOTATION_KEYS if form == "annotations" else _NATIVE_KEYS
    unknown = sorted(set(record) - allowed)
    if unknown:
        raise DocumentError(
            f"unknown key(s) {', '.join(map(repr, unknown))}; a document has "
            f"{', '.join(sorted(allowed))}",
            path=path,
            location=location,
            field=str(unknown[0]),
        )
    if "text" not in record:
        raise DocumentError("is required", path=path, location=location, field="text")
    doc_id: Any = record.get("id", default_id)
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)  # many annotation tools number their documents
    data: dict[str, Any] = {"id": doc_id, "text": record["text"]}
    if form == "annotations":
        annotations = record["annotations"]
        if not isinstance(annotations, list):
            raise DocumentError(
                "must be a list of [start, end, label]",
                path=path,
                location=location,
                field="annotations",
            )
        spans = []
        for i, item in enumerate(annotations):
            if not isinstance(item, list | tuple) or len(item) != 3:
                raise DocumentError(
                    f"must be [start, end, label], got {item!r}",
                    path=path,
                    location=location,
                    field=f"annotations[{i}]",
                )
            spans.append({"start": item[0], "end": item[1], "label": item[2]})
        data["spans"] = spans
    elif "spans" in record:
        data["spans"] = record["spans"]
    try:
        return Document.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = _field_name(tuple(error["loc"]), form)
        message = str(error["msg"]).removeprefix("Value error, ")
        if field and form == "annotations" and field.startswith("annotations["):
            inner = [str(p) for p in error["loc"][2:]]
            if inner:
                message = f"{inner[0]}: {message}"
        raise DocumentError(message, path=path, location=location, field=field) from None


def _iter_json_records(path: Path) -> Iterator[tuple[str, object]]:
    try:
        with path.open(encoding="utf-8") as handle:
            payload = json.load(handle)
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"invalid JSON: {exc.msg}", path=path, location=f"line {exc.lineno}, column {exc.colno}"
        ) from None
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text: {exc.reason}", path=path) from None
    if isinstance(payload, list):
        for index, record in enumerate(payload):
            yield f"index {index}", record
    elif isinstance(payload, dict):
        yield "index 0", payload
    else:
        raise DocumentError(
            f"top level must be a document object or a list of them, got {type(payload).__name__}",
            path=path,
        )


def _iter_jsonl_records(path: Path) -> Iterator[tuple[str, object]]:
    with path.open(encoding="utf-8", newline="") as handle:
        line_no = 0
        try:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DocumentError(
                        f"invalid JSON: {exc.msg} (column {exc.colno})",
                        path=path,
                        location=f"line {line_no}",
                    ) from None
                yield f"line {line_no}", record
        except UnicodeDecodeError as exc:
            raise DocumentError(
                f"not UTF-8 text: {exc.reason}", path=path, location=f"line {line_no + 1}"
            ) from None


def iter_documents(path: str | os.PathLike[str]) -> Iterator[Document]:
    """Yield the documents of a ``.json`` or ``.jsonl`` file one at a time.

    JSONL is streamed, so large corpora need not fit in memory twice. Ids must be unique
    within the file: splits and predictions are keyed by them.
    """
    path = Path(path)
    suffix = _check_suffix(path)
    records = _iter_jsonl_records(path) if suffix == ".jsonl" else _iter_json_records(path)
    seen: dict[str, str] = {}
    for index, (location, record) in enumerate(records):
        doc = _record_to_document(
            record, default_id=f"{path.stem}-{index}", path=path, location=location
        )
        if doc.id in seen:
            raise DocumentError(
                f"duplicate document id {doc.id!r} (first at {seen[doc.id]})",
                path=path,
                location=location,
                field="id",
            )
        seen[doc.id] = location
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
