"""Dataset statistics: what a user checks before training on a set of documents.

Span counts per type show class imbalance, document lengths show how many windows a
model will need, and the strata (sets of entity types per document) show what the
stratified splits will balance.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from nerp_infra.documents import Document
from nerp_training.data.splits import stratum_of

__all__ = ["document_stats", "render_stats"]


def _spread(values: Sequence[int]) -> dict[str, float | int]:
    if not values:
        return {"min": 0, "median": 0, "mean": 0, "max": 0}
    return {
        "min": min(values),
        "median": statistics.median(values),
        "mean": round(statistics.fmean(values), 2),
        "max": max(values),
    }


def document_stats(docs: Sequence[Document]) -> dict[str, Any]:
    """Counts and length distributions of ``docs`` as plain JSON-ready data."""
    spans_per_type: Counter[str] = Counter()
    docs_per_type: Counter[str] = Counter()
    lengths: dict[str, list[int]] = {}
    strata: Counter[str] = Counter()
    for doc in docs:
        types = set()
        for span in doc.spans:
            spans_per_type[span.label] += 1
            lengths.setdefault(span.label, []).append(span.end - span.start)
            types.add(span.label)
        docs_per_type.update(types)
        strata[stratum_of(doc)] += 1
    return {
        "documents": len(docs),
        "spans": sum(spans_per_type.values()),
        "characters": _spread([len(doc.text) for doc in docs]),
        "spans_per_document": _spread([len(doc.spans) for doc in docs]),
        "spans_per_type": dict(sorted(spans_per_type.items())),
        "documents_per_type": dict(sorted(docs_per_type.items())),
        "span_length_per_type": {k: _spread(v) for k, v in sorted(lengths.items())},
        "strata": dict(strata.most_common()),
    }


def render_stats(stats: Mapping[str, Any], *, title: str = "Dataset") -> RenderableType:
    """Rich tables for :func:`document_stats` output."""
    overview = Table(title=title, show_header=False)
    overview.add_column("what", style="bold")
    overview.add_column("value", justify="right")
    overview.add_row("documents", str(stats["documents"]))
    overview.add_row("spans", str(stats["spans"]))
    for key in ("characters", "spans_per_document"):
        spread = stats[key]
        overview.add_row(
            key.replace("_", " "),
            f"min {spread['min']} · median {spread['median']:g} · max {spread['max']}",
        )
    types = Table(title="Entity types")
    for column in ("type", "spans", "documents", "median length"):
        types.add_column(column, justify="left" if column == "type" else "right")
    for label, count in stats["spans_per_type"].items():
        types.add_row(
            label,
            str(count),
            str(stats["documents_per_type"].get(label, 0)),
            f"{stats['span_length_per_type'][label]['median']:g}",
        )
    strata = Table(title="Strata (entity-type sets), most common first")
    strata.add_column("types")
    strata.add_column("documents", justify="right")
    for key, count in list(stats["strata"].items())[:10]:
        strata.add_row(key, str(count))
    if len(stats["strata"]) > 10:
        strata.add_row(f"… {len(stats['strata']) - 10} more", "")
    return Group(overview, types, strata)
