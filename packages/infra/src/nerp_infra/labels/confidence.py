"""Per-type confidence floors: drop the decoded entities a model is unsure of.

On small, noisy data a token classifier over-predicts the open-ended types (skills lists,
job titles, company names): many of its low-confidence entities are spans the annotators
left unmarked or cut elsewhere, and strict scoring counts each as a false positive. A floor
per type (``model.min_confidence``) trades a little recall for more precision where the
accuracy benchmark shows it pays; it is applied before ``repeat_types`` propagates a found
entity to its other mentions, so only confident entities spread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from nerp_infra.documents import Entity

__all__ = ["confident"]


def confident(entities: Sequence[Entity], thresholds: Mapping[str, float]) -> list[Entity]:
    """The entities whose confidence reaches their type's threshold; types without one keep
    every entity."""
    return [e for e in entities if e.confidence >= thresholds.get(e.label, 0.0)]
