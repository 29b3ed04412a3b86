"""Where a model goes wrong: each gold and predicted entity put in one error class.

seqeval says *how many* entities were right; fixing a model needs to know *how* the rest
were wrong. Entities are read from the same strict IOB2 tag sequences seqeval scores
(``seqeval.scheme.Entities``), so ``correct`` per type is exactly seqeval's true
positives and the classes add up to its support and prediction counts.

Classes, for each gold entity without an exact match:

- ``wrong_type``: a prediction covers exactly its tokens with another type;
- ``wrong_boundary``: a prediction of the same type overlaps it with other edges;
- ``wrong_type_and_boundary``: only predictions of other types with other edges overlap;
- ``missed``: no prediction overlaps it.

and for each prediction without an exact match and overlapping no gold entity:
``spurious``. (Predictions that overlap a gold entity are counted once, on the gold side.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from seqeval.scheme import IOB2, Entities

__all__ = ["ERROR_CLASSES", "EntityError", "ErrorAnalysis", "analyse_errors", "strict_entities"]

ERROR_CLASSES: tuple[str, ...] = (
    "wrong_type",
    "wrong_boundary",
    "wrong_type_and_boundary",
    "missed",
    "spurious",
)
_MAX_EXAMPLES = 5

Chunk = tuple[str, int, int]
"""(type, first unit, end unit) of an entity in a tag sequence, end-exclusive."""


def strict_entities(tags: Sequence[str]) -> list[Chunk]:
    """Entities of one tag sequence as seqeval's strict IOB2 mode sees them."""
    found = Entities([list(tags)], IOB2).entities[0]
    return [(e.tag, e.start, e.end) for e in found]


@dataclass(frozen=True)
class EntityError:
    """One error, with the texts involved, for reports."""

    kind: str
    doc_id: str
    gold: str | None
    predicted: str | None
    gold_type: str | None
    predicted_type: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ErrorAnalysis:
    """Counts per entity type and class, which types get confused, and a few examples."""

    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(gold type, predicted type) -> overlapping pairs with different types."""
    examples: dict[str, list[EntityError]] = field(default_factory=dict)

    def _row(self, entity_type: str) -> dict[str, int]:
        return self.by_type.setdefault(
            entity_type, {"correct": 0, **dict.fromkeys(ERROR_CLASSES, 0)}
        )

    def _add(self, kind: str, entity_type: str, error: EntityError | None) -> None:
        self._row(entity_type)[kind] += 1
        if error is not None:
            bucket = self.examples.setdefault(kind, [])
            if len(bucket) < _MAX_EXAMPLES:
                bucket.append(error)

    @property
    def totals(self) -> dict[str, int]:
        total = {"correct": 0, **dict.fromkeys(ERROR_CLASSES, 0)}
        for row in self.by_type.values():
            for key, value in row.items():
                total[key] += value
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "classes": list(ERROR_CLASSES),
            "by_type": {name: dict(row) for name, row in sorted(self.by_type.items())},
            "totals": self.totals,
            "confusion": [
                {"gold": gold, "predicted": pred, "count": count}
                for (gold, pred), count in sorted(self.confusion.items())
            ],
            "examples": {
                kind: [error.as_dict() for error in errors]
                for kind, errors in sorted(self.examples.items())
            },
        }


def _overlaps(a: Chunk, b: Chunk) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def analyse_errors(
    y_true: Sequence[Sequence[str]],
    y_pred: Sequence[Sequence[str]],
    *,
    doc_ids: Sequence[str] | None = None,
    unit_texts: Sequence[Sequence[str]] | None = None,
) -> ErrorAnalysis:
    """Classify every entity of aligned gold/predicted tag sequences (one per document).

    ``unit_texts`` (the text of each tagged unit) lets examples show the entity text.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true holds {len(y_true)} documents but y_pred {len(y_pred)}")
    analysis = ErrorAnalysis()
    for doc, (gold_tags, pred_tags) in enumerate(zip(y_true, y_pred, strict=True)):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(
                f"document {doc}: {len(gold_tags)} gold tags but {len(pred_tags)} predicted"
            )
        doc_id = doc_ids[doc] if doc_ids is not None else str(doc)
        units = unit_texts[doc] if unit_texts is not None else None

        def text(chunk: Chunk, units: Sequence[str] | None = units) -> str | None:
            return None if units is None else " ".join(units[chunk[1] : chunk[2]])

        gold = strict_entities(gold_tags)
        pred = strict_entities(pred_tags)
        exact = set(gold) & set(pred)
        for chunk in gold:
            if chunk in exact:
                analysis._add("correct", chunk[0], None)
                continue
            overlapping = [p for p in pred if p not in exact and _overlaps(chunk, p)]
            same_extent = [p for p in overlapping if p[1:] == chunk[1:]]
            same_type = [p for p in overlapping if p[0] == chunk[0]]
            if same_extent:
                kind, other = "wrong_type", same_extent[0]
            elif same_type:
                kind, other = "wrong_boundary", same_type[0]
            elif overlapping:
                kind, other = "wrong_type_and_boundary", overlapping[0]
            else:
                kind, other = "missed", None
            if other is not None and other[0] != chunk[0]:
                analysis.confusion[(chunk[0], other[0])] += 1
            analysis._add(
                kind,
                chunk[0],
                EntityError(
                    kind=kind,
                    doc_id=doc_id,
                    gold=text(chunk),
                    predicted=None if other is None else text(other),
                    gold_type=chunk[0],
                    predicted_type=None if other is None else other[0],
                ),
            )
        for chunk in pred:
            if chunk in exact or any(_overlaps(chunk, g) for g in gold):
                continue
            analysis._add(
                "spurious",
                chunk[0],
                EntityError(
                    kind="spurious",
                    doc_id=doc_id,
                    gold=None,
                    predicted=text(chunk),
                    gold_type=None,
                    predicted_type=chunk[0],
                ),
            )
    return analysis
