"""A learned keep-or-drop rule for decoded entities: a logistic model over what a floor cannot see.

A per-type confidence floor (``model.min_confidence``) reads one number per entity. Whether
annotators marked a span also shows in where it sits and what it looks like: a job title
alone on its line, a company named five times in the resume, a "skill" that runs over half a
paragraph. ``EntityFilter`` is a logistic regression over a few such features, fitted on
out-of-fold predictions of the recipe's own models (``benchmarks/accuracy.py --fit-filter``)
and written into the experiment as plain weights, so serving applies it with no ML library.
On the DataTurks resumes (3 folds x 2 data orders, filters fitted on two folds and scored on
the third) it lifts strict micro F1 from 0.655 with floors chosen the same way to 0.686.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nerp_infra.documents import Entity

__all__ = ["ENTITY_FEATURES", "EntityFilter", "entity_features"]

ENTITY_FEATURES: dict[str, str] = {
    "confidence": "the entity's confidence (mean probability of its tags)",
    "words": "log(1 + whitespace words in the entity)",
    "chars": "log(1 + characters in the entity)",
    "line_start": "1 when only whitespace precedes the entity on its line",
    "line_end": "1 when only whitespace follows the entity on its line",
    "line_share": "the entity's share of its line's non-blank characters",
    "position": "where the entity starts, as a fraction of the text",
    "mentions": "log(1 + times the entity's text occurs in the text, ignoring case)",
    "digits": "1 when the entity holds a digit",
    "at_sign": "1 when the entity holds '@'",
    "upper": "share of the entity's characters in upper case",
    "title_case": "share of the entity's words that start with a capital",
    "line": "log(1 + line breaks before the entity)",
}
"""Features of one entity in its text; each type ``T`` also has ``type:T`` (1 for entities of
type ``T``) and ``confidence:T`` (the confidence, for entities of type ``T``)."""

_TYPED = ("type", "confidence")


def entity_features(text: str, entities: Sequence[Entity]) -> list[dict[str, float]]:
    """Each entity's features (``ENTITY_FEATURES`` plus its two typed ones) in ``text``."""
    lower = text.lower()
    size = max(len(text), 1)
    rows = []
    for entity in entities:
        line_start = text.rfind("\n", 0, entity.start) + 1
        line_end = text.find("\n", entity.end)
        line_end = len(text) if line_end < 0 else line_end
        span = text[entity.start : entity.end]
        needle = span.strip().lower()
        words = span.split()
        letters = max(len(span), 1)
        rows.append(
            {
                "confidence": entity.confidence,
                "words": math.log1p(len(words)),
                "chars": math.log1p(len(span)),
                "line_start": float(not text[line_start : entity.start].strip()),
                "line_end": float(not text[entity.end : line_end].strip()),
                "line_share": len(span.strip()) / max(len(text[line_start:line_end].strip()), 1),
                "position": entity.start / size,
                "mentions": math.log1p(lower.count(needle)) if needle else 0.0,
                "digits": float(any(ch.isdigit() for ch in span)),
                "at_sign": float("@" in span),
                "upper": sum(ch.isupper() for ch in span) / letters,
                "title_case": sum(w[:1].isupper() for w in words) / max(len(words), 1),
                "line": math.log1p(text.count("\n", 0, entity.start)),
                f"type:{entity.label}": 1.0,
                f"confidence:{entity.label}": entity.confidence,
            }
        )
    return rows


class EntityFilter(BaseModel):
    """Keep an entity when ``sigmoid(bias + sum(weights[f] * feature f))`` reaches
    ``threshold``; a feature without a weight counts zero."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[str, float] = Field(
        description="weight per feature name: one of ENTITY_FEATURES, 'type:<TYPE>' or "
        "'confidence:<TYPE>'"
    )
    bias: float = 0.0
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)

    @field_validator("weights")
    @classmethod
    def _known_features(cls, weights: dict[str, float]) -> dict[str, float]:
        for name, weight in weights.items():
            prefix, _, entity_type = name.partition(":")
            if name not in ENTITY_FEATURES and not (prefix in _TYPED and entity_type):
                raise ValueError(
                    f"weights: unknown feature {name!r}; use one of "
                    f"{', '.join(ENTITY_FEATURES)}, 'type:<TYPE>' or 'confidence:<TYPE>'"
                )
            if not math.isfinite(weight):
                raise ValueError(f"weights: {name} is {weight}, not a finite number")
        return weights

    @property
    def entity_types(self) -> tuple[str, ...]:
        """The entity types the weights name, for checking against a model's labels."""
        typed = (name.split(":", 1) for name in self.weights if name not in ENTITY_FEATURES)
        return tuple(dict.fromkeys(entity_type for _, entity_type in typed))

    def probabilities(self, text: str, entities: Sequence[Entity]) -> list[float]:
        """How likely each entity is one the annotators would mark, by the fitted model."""
        scores = []
        for row in entity_features(text, entities):
            z = self.bias + sum(self.weights.get(name, 0.0) * x for name, x in row.items())
            scores.append(1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0))))
        return scores

    def apply(self, text: str, entities: Sequence[Entity]) -> list[Entity]:
        """The entities the model keeps, in their order."""
        scores = self.probabilities(text, entities)
        return [e for e, p in zip(entities, scores, strict=True) if p >= self.threshold]
