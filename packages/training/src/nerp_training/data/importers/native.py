"""nerp's own document files, read leniently so validation can report bad spans.

The records are parsed by ``nerp_infra.documents.parse_document_record``, the parser of
``read_documents``, so both accept the same two forms (``spans`` objects, or
``annotations`` triples) with the same strictness about keys and types; only span geometry
(out of bounds, empty) and blank labels are left to the validation report instead of
failing the whole file.
"""

from __future__ import annotations

import os
from pathlib import Path

from nerp_infra.documents import DocumentError, parse_document_record
from nerp_training.data.importers._records import Record, iter_records
from nerp_training.data.records import RawDocument, RawSpan

__all__ = ["read_native"]


def _parse(record: Record, prefix: str) -> RawDocument:
    try:
        parsed = parse_document_record(record.value, default_id=f"{prefix}-{record.index}")
    except DocumentError as exc:
        raise record.error(exc.reason, exc.field) from None
    return RawDocument(
        id=parsed.id,
        text=parsed.text,
        spans=[RawSpan(s.start, s.end, s.label, s.field) for s in parsed.spans],
        source=record.source,
        file=str(record.path),
    )


def read_native(path: str | os.PathLike[str], *, id_prefix: str | None = None) -> list[RawDocument]:
    """Documents of a native ``.json``/``.jsonl`` file; ids default to ``<id_prefix>-<index>``."""
    path = Path(path)
    prefix = id_prefix or path.stem
    return [_parse(record, prefix) for record in iter_records(path)]
