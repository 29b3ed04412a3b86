"""nerp's own document files, read leniently so validation can report bad spans.

The same two record forms as ``nerp_infra.documents`` (``spans`` objects, or
``annotations`` triples as written by the earlier resume-ner project), with the same
strictness about keys and types; only span geometry (out of bounds, empty) is left to
the validation report instead of failing the whole file.
"""

from __future__ import annotations

import os
from pathlib import Path

from nerp_training.data.importers._records import Record, describe, is_int, iter_records
from nerp_training.data.records import RawDocument, RawSpan

__all__ = ["read_native"]

_NATIVE_KEYS = frozenset({"id", "text", "spans"})
_ANNOTATION_KEYS = frozenset({"id", "text", "annotations"})


def _doc_id(record: Record, data: dict[str, object], prefix: str) -> str:
    if "id" not in data:
        return f"{prefix}-{record.index}"
    value = data["id"]
    if is_int(value):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise record.error(f"must be a non-empty string or an integer, got {describe(value)}", "id")


def _span(record: Record, field: str, start: object, end: object, label: object) -> RawSpan:
    for name, value in (("start", start), ("end", end)):
        if not is_int(value):
            raise record.error(f"not an integer ({describe(value)})", f"{field}.{name}")
    if not isinstance(label, str):
        raise record.error(f"must be a string, got {describe(label)}", f"{field}.label")
    assert isinstance(start, int)
    assert isinstance(end, int)
    return RawSpan(start, end, label, field)


def _parse(record: Record, prefix: str) -> RawDocument:
    data = record.obj()
    if "spans" in data and "annotations" in data:
        raise record.error("has both 'spans' and 'annotations'; use one form per document")
    form = "annotations" if "annotations" in data else "spans"
    allowed = _ANNOTATION_KEYS if form == "annotations" else _NATIVE_KEYS
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise record.error(
            f"unknown key; a document has {', '.join(sorted(allowed))}", str(unknown[0])
        )
    text = data.get("text")
    if not isinstance(text, str):
        raise record.error(f"must be a string, got {describe(text)}", "text")
    items = data.get(form, [])
    if not isinstance(items, list):
        raise record.error(f"must be a list, got {describe(items)}", form)
    spans = []
    for i, item in enumerate(items):
        field = f"{form}[{i}]"
        if form == "annotations":
            if not isinstance(item, list) or len(item) != 3:
                raise record.error(f"must be [start, end, label], got {item!r:.60}", field)
            spans.append(_span(record, field, *item))
        else:
            if not isinstance(item, dict):
                raise record.error(f"must be an object, got {describe(item)}", field)
            extra = sorted(set(item) - {"start", "end", "label"})
            if extra:
                raise record.error(
                    "unknown key; a span has start, end, label", f"{field}.{extra[0]}"
                )
            spans.append(
                _span(record, field, item.get("start"), item.get("end"), item.get("label"))
            )
    return RawDocument(
        id=_doc_id(record, data, prefix),
        text=text,
        spans=spans,
        source=record.source,
        file=str(record.path),
    )


def read_native(path: str | os.PathLike[str], *, id_prefix: str | None = None) -> list[RawDocument]:
    """Documents of a native ``.json``/``.jsonl`` file; ids default to ``<id_prefix>-<index>``."""
    path = Path(path)
    prefix = id_prefix or path.stem
    return [_parse(record, prefix) for record in iter_records(path)]
