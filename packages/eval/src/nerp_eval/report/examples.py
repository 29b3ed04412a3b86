"""Predictions on a few documents, as the report draws them: each gold span and each
predicted entity gets an outcome, and the text is cut into segments to highlight.

Outcomes use the error classes of :mod:`nerp_eval.evaluation.errors`, compared on the
characters of the spans (the page shows characters):

- a prediction with the exact extent and type of a gold span is ``correct`` (both sides);
- a gold span: ``wrong_type`` when a prediction has its extent and another type,
  ``wrong_boundary`` when a prediction of its type overlaps it with other edges,
  ``wrong_type_and_boundary`` when only other types with other edges overlap it,
  ``missed`` when nothing overlaps it;
- a prediction that is not exact takes the best class among the gold spans it overlaps,
  or ``spurious`` when it overlaps none.

The error table is counted on the model's tagged units, so a prediction whose edges
differ from the gold span only by characters inside a unit (trailing punctuation glued to
a word) counts as correct there and shows as a boundary error here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

__all__ = ["PALETTE", "Mark", "Segment", "classify", "example_view", "segments"]

PALETTE: tuple[str, ...] = (
    "#ffe08a",
    "#a8e6cf",
    "#a0c4ff",
    "#ffc6a8",
    "#d7b8f3",
    "#b5ead7",
    "#ffadad",
    "#caffbf",
    "#9bf6ff",
    "#fdffb6",
    "#e2c2b9",
    "#c9c9ff",
)
"""Background colour per entity type (CSS classes ``t0``…), cycled past twelve types."""

_RANK = ("correct", "wrong_type", "wrong_boundary", "wrong_type_and_boundary")
_TITLES = {
    "correct": "correct",
    "wrong_type": "wrong type",
    "wrong_boundary": "wrong boundary",
    "wrong_type_and_boundary": "wrong type and boundary",
    "missed": "missed",
    "spurious": "spurious",
}


@dataclass(frozen=True)
class Mark:
    """One gold span or predicted entity and its outcome."""

    side: str
    """``gold`` or ``pred``."""
    start: int
    end: int
    label: str
    outcome: str
    score: float | None = None
    other: str = ""
    """The other side's label(s) it was compared with (for the tooltip)."""


@dataclass
class Segment:
    """A piece of text under at most one predicted entity and one (not exact) gold span."""

    text: str
    pred: Mark | None = None
    gold: Mark | None = None
    badges: list[tuple[str, str]] = field(default_factory=list)
    """(kind, text) drawn after the segment where a mark ends: ``pred``, ``missed``, ``gold``."""


def _overlaps(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return int(a["start"]) < int(b["end"]) and int(b["start"]) < int(a["end"])


def _same_extent(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return (int(a["start"]), int(a["end"])) == (int(b["start"]), int(b["end"]))


def _compare(one: Mapping[str, Any], other: Mapping[str, Any]) -> str:
    same_type = one["label"] == other["label"]
    if _same_extent(one, other):
        return "correct" if same_type else "wrong_type"
    return "wrong_boundary" if same_type else "wrong_type_and_boundary"


def _outcome(span: Mapping[str, Any], others: Iterable[Mapping[str, Any]]) -> tuple[str, str]:
    touching = [o for o in others if _overlaps(span, o)]
    if not touching:
        return "", ""
    best = min(touching, key=lambda o: _RANK.index(_compare(span, o)))
    return _compare(span, best), ", ".join(sorted({str(o["label"]) for o in touching}))


def classify(
    gold: Sequence[Mapping[str, Any]], predicted: Sequence[Mapping[str, Any]]
) -> tuple[list[Mark], list[Mark]]:
    """Outcomes of the gold spans and of the predicted entities of one document."""
    gold_marks = []
    for span in gold:
        outcome, other = _outcome(span, predicted)
        gold_marks.append(
            Mark("gold", int(span["start"]), int(span["end"]), str(span["label"]),
                 outcome or "missed", other=other)
        )  # fmt: skip
    pred_marks = []
    for entity in predicted:
        outcome, other = _outcome(entity, gold)
        score = entity.get("confidence")
        pred_marks.append(
            Mark("pred", int(entity["start"]), int(entity["end"]), str(entity["label"]),
                 outcome or "spurious", None if score is None else float(score), other)
        )  # fmt: skip
    return gold_marks, pred_marks


def segments(text: str, gold: Sequence[Mark], predicted: Sequence[Mark]) -> list[Segment]:
    """Cut ``text`` at every edge of a predicted entity or a not-exact gold span.

    Exact gold spans are drawn by their prediction; each side's spans do not overlap
    each other (gold spans are validated so, decoded entities never overlap)."""
    shown_gold = [g for g in gold if g.outcome != "correct"]
    cuts = sorted({0, len(text), *(x for m in [*shown_gold, *predicted] for x in (m.start, m.end))})
    cuts = [c for c in cuts if 0 <= c <= len(text)]
    out: list[Segment] = []
    for start, end in pairwise(cuts):
        if start == end:
            continue
        pred = next((p for p in predicted if p.start <= start and end <= p.end), None)
        gold_here = next((g for g in shown_gold if g.start <= start and end <= g.end), None)
        segment = Segment(text[start:end], pred, gold_here)
        if pred is not None and pred.end == end:
            score = "" if pred.score is None else f" {pred.score:.2f}"
            segment.badges.append(("pred", f"{pred.label}{score}"))
        if gold_here is not None and gold_here.end == end:
            missed = gold_here.outcome == "missed"
            segment.badges.append(
                ("missed", f"missed {gold_here.label}")
                if missed
                else ("gold", f"gold {gold_here.label}")
            )
        out.append(segment)
    return out


def _title(mark: Mark) -> str:
    score = "" if mark.score is None else f" {mark.score:.3f}"
    side = "predicted" if mark.side == "pred" else "gold"
    other = f" (compared with {mark.other})" if mark.other else ""
    return f"{side} {mark.label}{score}: {_TITLES[mark.outcome]}{other}"


def example_view(examples: Mapping[str, Any], labels: Iterable[str] = ()) -> dict[str, Any]:
    """What the page template needs to draw an ``examples.json`` payload."""
    docs = list(examples.get("documents", []))
    types = sorted(
        {*labels}
        | {str(s["label"]) for d in docs for s in [*d.get("gold", []), *d.get("predicted", [])]}
    )
    color = {label: n % len(PALETTE) for n, label in enumerate(types)}
    views = []
    for doc in docs:
        gold, pred = classify(doc.get("gold", []), doc.get("predicted", []))
        counts: dict[str, int] = {}
        for mark in [*gold, *pred]:
            if mark.side == "gold" or mark.outcome == "spurious":
                counts[mark.outcome] = counts.get(mark.outcome, 0) + 1
        number = {m: f"g{n}" for n, m in enumerate(gold)} | {m: f"p{n}" for n, m in enumerate(pred)}
        drawn = []
        for seg in segments(str(doc["text"]), gold, pred):
            drawn.append(
                {
                    "text": seg.text,
                    "pred": None
                    if seg.pred is None
                    else {
                        "label": seg.pred.label,
                        "score": "" if seg.pred.score is None else f"{seg.pred.score:.3f}",
                        "outcome": seg.pred.outcome,
                        "color": color[seg.pred.label],
                        "span": number[seg.pred],
                        "title": _title(seg.pred),
                    },
                    "gold": None
                    if seg.gold is None
                    else {
                        "label": seg.gold.label,
                        "outcome": seg.gold.outcome,
                        "span": number[seg.gold],
                        "title": _title(seg.gold),
                    },
                    "badges": [{"kind": k, "text": t} for k, t in seg.badges],
                }
            )
        summary = ", ".join(
            f"{counts[k]} {_TITLES[k]}" for k in (*_RANK, "missed", "spurious") if counts.get(k)
        )
        views.append(
            {
                "id": doc["id"],
                "summary": f"{len(gold)} gold, {len(pred)} predicted"
                + (f" ({summary})" if summary else ""),
                "segments": drawn,
            }
        )
    choice = examples.get("choice", {})
    return {
        "documents": views,
        "types": [{"label": t, "color": color[t]} for t in types],
        "choice": (
            f"{len(views)} of {choice.get('of_documents', '?')} documents, a fixed sample "
            f"(seed {choice.get('seed', '?')}): the same documents for every backend and run "
            "on the same data, not picked by how well the model did."
            if choice.get("method") == "seeded_sample"
            else f"{len(views)} documents."
        ),
    }
