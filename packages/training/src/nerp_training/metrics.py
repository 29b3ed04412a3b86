"""Entity-level precision, recall and F1 (seqeval, strict IOB2), per type, micro and macro.

Strict mode counts an entity as found only when its type and exact token extent match
and it starts with ``B-``; a stray ``I-`` does not open an entity. Callers pass one tag
sequence per *whole document*, after the predictions of overlapping windows have been
merged: scoring windows would count an entity cut by a window edge twice or as two
half-entities, and the result would depend on the window size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import get_args

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, Entities

from nerp_infra.config import MetricName

__all__ = [
    "OBJECTIVE_METRICS",
    "EntityMetrics",
    "TypeMetrics",
    "entity_metrics",
    "metric_value",
]

OBJECTIVE_METRICS: tuple[str, ...] = get_args(MetricName)
"""Names an HPO objective or a model selection may optimise (all are maximised): the
config's ``MetricName``, so a name the config accepts is one training reports."""


@dataclass(frozen=True)
class TypeMetrics:
    """Scores of one entity type; ``support`` is its number of gold entities."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class EntityMetrics:
    """Entity-level scores of a set of documents.

    Macro averages weigh each entity type equally (rare types such as EMAIL count as
    much as SKILL); micro averages weigh each entity. ``per_type`` holds every type seen
    in gold or predicted tags (a type only predicted has support 0 and precision 0).
    With no entity in gold nor predictions every score is 0.0.
    """

    precision_micro: float
    recall_micro: float
    f1_micro: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    support: int
    per_type: Mapping[str, TypeMetrics]

    def as_flat_dict(self) -> dict[str, float]:
        """One flat name -> number mapping, the shape MLflow metrics and reports want."""
        flat: dict[str, float] = {
            "precision_micro": self.precision_micro,
            "recall_micro": self.recall_micro,
            "f1_micro": self.f1_micro,
            "precision_macro": self.precision_macro,
            "recall_macro": self.recall_macro,
            "f1_macro": self.f1_macro,
        }
        for name, scores in self.per_type.items():
            flat[f"precision_{name}"] = scores.precision
            flat[f"recall_{name}"] = scores.recall
            flat[f"f1_{name}"] = scores.f1
            flat[f"support_{name}"] = scores.support
        return flat


def _check_tags(name: str, sequences: Sequence[Sequence[str]]) -> None:
    for doc, tags in enumerate(sequences):
        if isinstance(tags, str):
            raise TypeError(f"{name}[{doc}] is a string; expected a list of tags")
        for position, tag in enumerate(tags):
            valid = tag == "O" or (
                isinstance(tag, str) and tag[:2] in ("B-", "I-") and len(tag) > 2
            )
            if not valid:
                raise ValueError(
                    f"{name}[{doc}][{position}]: tag {tag!r} is not a BIO tag "
                    "(expected 'O', 'B-<TYPE>' or 'I-<TYPE>')"
                )


def _number(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]  # seqeval returns numpy scalars
    return 0.0 if math.isnan(number) else number


def entity_metrics(
    y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]
) -> EntityMetrics:
    """Score predicted BIO tags against gold tags, one sequence per whole document."""
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true holds {len(y_true)} documents but y_pred {len(y_pred)}; "
            "pass one tag sequence per document to both"
        )
    for doc, (gold, predicted) in enumerate(zip(y_true, y_pred, strict=True)):
        if len(gold) != len(predicted):
            raise ValueError(
                f"document {doc}: y_true[{doc}] has {len(gold)} tags but y_pred[{doc}] "
                f"{len(predicted)}; predictions must align token by token with gold tags"
            )
    _check_tags("y_true", y_true)
    _check_tags("y_pred", y_pred)
    gold_lists = [list(tags) for tags in y_true]
    pred_lists = [list(tags) for tags in y_pred]
    types = Entities(gold_lists, IOB2).unique_tags | Entities(pred_lists, IOB2).unique_tags
    if not types:
        # seqeval's macro average over zero types is NaN with a RuntimeWarning; a stray
        # I- tag opens no entity in strict mode, so this covers more than all-"O" input.
        return EntityMetrics(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, MappingProxyType({}))
    report = classification_report(
        gold_lists, pred_lists, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    micro, macro = report["micro avg"], report["macro avg"]
    per_type = {
        name: TypeMetrics(
            precision=_number(scores["precision"]),
            recall=_number(scores["recall"]),
            f1=_number(scores["f1-score"]),
            support=int(scores["support"]),
        )
        for name, scores in sorted(report.items())
        if not name.endswith(" avg")
    }
    return EntityMetrics(
        precision_micro=_number(micro["precision"]),
        recall_micro=_number(micro["recall"]),
        f1_micro=_number(micro["f1-score"]),
        precision_macro=_number(macro["precision"]),
        recall_macro=_number(macro["recall"]),
        f1_macro=_number(macro["f1-score"]),
        support=int(micro["support"]),
        per_type=MappingProxyType(per_type),
    )


def metric_value(metrics: EntityMetrics, name: str) -> float:
    """The value of one named metric, e.g. the HPO objective ``f1_macro`` or ``f1_SKILL``."""
    flat = metrics.as_flat_dict()
    if name not in flat:
        per_type = sorted(key for key in flat if key not in OBJECTIVE_METRICS)
        known = ", ".join(OBJECTIVE_METRICS)
        typed = f"; per type for these documents: {', '.join(per_type)}" if per_type else ""
        raise ValueError(f"unknown metric {name!r}: expected one of {known}{typed}")
    return float(flat[name])
