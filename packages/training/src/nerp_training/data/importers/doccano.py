"""doccano JSONL exports: ``text`` plus ``label`` triples or ``entities`` objects.

doccano 1.x writes ``"label": [[start, end, "TYPE"], ...]``; newer versions write
``"entities": [{"start_offset": 0, "end_offset": 4, "label": "TYPE"}, ...]``. Offsets are
end-exclusive. Other keys (``meta``, ``Comments``, approvers) are export metadata and
are ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

from nerp_infra.documents import describe_json, is_json_int
from nerp_training.data.importers._records import Record, iter_records
from nerp_training.data.records import RawDocument, RawSpan

__all__ = ["read_doccano"]


def _span(record: Record, field: str, start: object, end: object, label: object) -> RawSpan:
    names = ("start", "end") if field.startswith("label") else ("start_offset", "end_offset")
    for name, value in zip(names, (start, end), strict=True):
        if not is_json_int(value):
            suffix = f"[{names.index(name)}]" if field.startswith("label") else f".{name}"
            raise record.error(f"not an integer ({describe_json(value)})", f"{field}{suffix}")
    if not isinstance(label, str):
        suffix = "[2]" if field.startswith("label") else ".label"
        raise record.error(f"must be a string, got {describe_json(label)}", f"{field}{suffix}")
    assert isinstance(start, int)
    assert isinstance(end, int)
    return RawSpan(start, end, label, field)


def _parse(record: Record, prefix: str) -> RawDocument:
    data = record.obj()
    text = data.get("text")
    if not isinstance(text, str):
        raise record.error(f"must be a string, got {describe_json(text)}", "text")
    if "label" in data and "entities" in data:
        raise record.error("has both 'label' and 'entities'; expected one of them")
    raw_id = data.get("id")
    if raw_id is None:
        doc_id = f"{prefix}-{record.index}"
    elif is_json_int(raw_id) or (isinstance(raw_id, str) and raw_id.strip()):
        doc_id = str(raw_id)
    else:
        raise record.error(f"must be a string or an integer, got {describe_json(raw_id)}", "id")
    spans = []
    if "entities" in data:
        entities = data["entities"]
        if not isinstance(entities, list):
            raise record.error(f"must be a list, got {describe_json(entities)}", "entities")
        for i, entity in enumerate(entities):
            field = f"entities[{i}]"
            if not isinstance(entity, dict):
                raise record.error(f"must be an object, got {describe_json(entity)}", field)
            spans.append(
                _span(
                    record,
                    field,
                    entity.get("start_offset"),
                    entity.get("end_offset"),
                    entity.get("label"),
                )
            )
    else:
        labels = data.get("label", [])
        if not isinstance(labels, list):
            raise record.error(
                f"must be a list of [start, end, label], got {describe_json(labels)}", "label"
            )
        for i, item in enumerate(labels):
            field = f"label[{i}]"
            if not isinstance(item, list) or len(item) != 3:
                raise record.error(
                    f"must be [start, end, label], got {item!r:.60} (a text-classification "
                    "export has no spans)",
                    field,
                )
            spans.append(_span(record, field, *item))
    return RawDocument(
        id=doc_id, text=text, spans=spans, source=record.source, file=str(record.path)
    )


def read_doccano(
    path: str | os.PathLike[str], *, id_prefix: str | None = None
) -> list[RawDocument]:
    """Documents of a doccano export; records without ``id`` get ``<id_prefix>-<index>``."""
    path = Path(path)
    prefix = id_prefix or path.stem
    return [_parse(record, prefix) for record in iter_records(path)]
