"""What importers hand to validation: documents whose spans are not yet trusted.

``nerp_infra.documents.Span`` refuses empty or out-of-bounds spans, which is right for a
clean dataset but would make an importer crash on exactly the problems the validation
report exists to count. Importers therefore produce :class:`RawDocument` objects whose
spans are plain numbers; :func:`nerp_training.data.validation.validate_documents` turns
them into ``Document`` objects and records what it had to fix on the way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from nerp_infra.documents import DocumentError

__all__ = ["Action", "DataError", "Issue", "IssueKind", "RawDocument", "RawSpan"]

IssueKind = Literal[
    "out_of_bounds",
    "empty_span",
    "whitespace_only",
    "trimmed",
    "offset_mismatch",
    "unlabelled",
    "label_dropped",
    "unknown_label",
    "duplicate_span",
    "overlap",
    "nested",
    "token_boundary",
    "duplicate_document",
    "duplicate_id",
    "empty_document",
    "unannotated",
    "bio_repair",
]
"""What was wrong. ``overlap`` means partly overlapping, ``nested`` one inside the other."""

Action = Literal["trimmed", "dropped", "mapped", "kept", "realigned", "renamed", "error"]
"""What was done about it. ``error`` is only used under the ``error`` overlap policy."""


class DataError(DocumentError):
    """Input data that cannot be imported, named as ``file:line: field: reason``.

    A subclass of ``DocumentError`` so callers that already handle bad document files
    handle foreign formats too; the message puts the location first because that is what
    a user needs to open the file at the right place.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str | os.PathLike[str] | None = None,
        line: int | None = None,
        field: str | None = None,
        report: Any = None,
    ) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        self.line = line
        self.location = None if line is None else f"line {line}"
        self.field = field
        self.report = report
        where = self.path or ""
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        parts = [part for part in (where, field) if part]
        ValueError.__init__(self, ": ".join([*parts, reason]))


@dataclass
class RawSpan:
    """A span as the source file stated it (end-exclusive), before any checks."""

    start: int
    end: int
    label: str
    where: str = ""
    """Where in the source record it came from, e.g. ``annotation[3].points[0]``."""


@dataclass
class Issue:
    """One finding of import or validation, and what was done about it."""

    doc_id: str
    kind: IssueKind
    action: Action
    reason: str
    span: tuple[int, int, str] | None = None
    source: str | None = None
    """``file:line`` (or ``file#index``) of the document, when it came from a file."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "kind": self.kind,
            "action": self.action,
            "reason": self.reason,
            "span": None if self.span is None else list(self.span),
            "source": self.source,
        }


@dataclass
class RawDocument:
    """A document read from a file, with unchecked spans and the reader's own findings."""

    id: str
    text: str
    spans: list[RawSpan] = field(default_factory=list)
    source: str | None = None
    """``file:line`` or ``file[index]`` of the record, for messages."""
    file: str | None = None
    """The file it was read from, as given."""
    issues: list[Issue] = field(default_factory=list)
