from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from nerp_infra.documents import Entity
from nerp_infra.labels import ENTITY_FEATURES, EntityFilter, entity_features

TEXT = "Jane Roe\nSenior Engineer at Acme Corp\nSkills: python, Acme Corp tooling, docker"


def _entity(text: str, label: str, confidence: float, nth: int = 0) -> Entity:
    start = -1
    for _ in range(nth + 1):
        start = TEXT.index(text, start + 1)
    return Entity(text=text, label=label, start=start, end=start + len(text), confidence=confidence)


def test_features_describe_shape_and_place_of_each_entity() -> None:
    name = _entity("Jane Roe", "NAME", 0.9)
    company = _entity("Acme Corp", "COMPANY", 0.6)
    name_row, company_row = entity_features(TEXT, [name, company])
    assert set(ENTITY_FEATURES) <= set(name_row)
    assert name_row["type:NAME"] == 1.0
    assert name_row["confidence:NAME"] == 0.9
    assert "type:COMPANY" not in name_row
    assert name_row["line_start"] == name_row["line_end"] == name_row["line_share"] == 1.0
    assert name_row["position"] == 0.0
    assert name_row["line"] == 0.0
    assert name_row["words"] == pytest.approx(math.log1p(2))
    assert name_row["title_case"] == 1.0
    # "Acme Corp" sits at the end of line 2, not at its start, and occurs twice
    assert company_row["line_start"] == 0.0
    assert company_row["line_end"] == 1.0
    assert company_row["line"] == pytest.approx(math.log1p(1))
    assert company_row["mentions"] == pytest.approx(math.log1p(2))
    assert 0.0 < company_row["line_share"] < 1.0


def test_filter_keeps_what_its_logistic_model_scores_at_or_over_the_threshold() -> None:
    # Prefer entities that start their line; a COMPANY needs more confidence than a NAME.
    rule = EntityFilter(
        weights={"line_start": 4.0, "confidence": 2.0, "type:COMPANY": -3.0}, bias=-3.0
    )
    name = _entity("Jane Roe", "NAME", 0.9)  # z = -3 + 4 + 1.8 = 2.8
    company = _entity("Acme Corp", "COMPANY", 0.95)  # z = -3 + 1.9 - 3 = -4.1
    skill = _entity("python", "SKILL", 0.99)  # z = -3 + 1.98 = -1.02
    scores = rule.probabilities(TEXT, [name, company, skill])
    assert scores == pytest.approx([1 / (1 + math.exp(-z)) for z in (2.8, -4.1, -1.02)])
    assert rule.apply(TEXT, [name, company, skill]) == [name]
    lenient = rule.model_copy(update={"threshold": 0.2})
    assert lenient.apply(TEXT, [name, company, skill]) == [name, skill]
    assert rule.apply(TEXT, []) == []


def test_filter_names_its_types_and_rejects_unknown_features() -> None:
    rule = EntityFilter(
        weights={"confidence": 1.0, "confidence:SKILL": 1.0, "type:NAME": 0.5, "words": 1.0}
    )
    assert rule.entity_types == ("SKILL", "NAME")
    with pytest.raises(ValidationError, match="unknown feature 'shape'"):
        EntityFilter(weights={"shape": 1.0})
    with pytest.raises(ValidationError, match="unknown feature 'type:'"):
        EntityFilter(weights={"type:": 1.0})
    with pytest.raises(ValidationError, match="words is nan, not a finite number"):
        EntityFilter(weights={"words": float("nan")})
    with pytest.raises(ValidationError, match="threshold"):
        EntityFilter(weights={}, threshold=1.0)
