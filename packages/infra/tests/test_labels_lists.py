"""One entity per list: same-type neighbours with only separators between them are joined."""

from __future__ import annotations

import pytest

from nerp_infra.documents import Entity
from nerp_infra.labels import join_fragments, merge_lists

TEXT = "Skills: Java, SQL;\nDocker and Kubernetes\nInfosys, Wipro"


def _entity(text: str, label: str, confidence: float = 0.9) -> Entity:
    start = TEXT.index(text)
    return Entity(text=text, label=label, start=start, end=start + len(text), confidence=confidence)


def test_a_list_across_commas_semicolons_and_line_breaks_becomes_one_entity() -> None:
    parts = [
        _entity("Docker", "SKILL", 0.6),
        _entity("Java", "SKILL", 1.0),
        _entity("SQL", "SKILL", 0.8),
        _entity("Kubernetes", "SKILL"),
    ]
    out = merge_lists(TEXT, parts, ["SKILL"])
    # "and" is a word, not a separator: Kubernetes stays its own entity
    assert [(e.text, e.label) for e in out] == [
        ("Java, SQL;\nDocker", "SKILL"),
        ("Kubernetes", "SKILL"),
    ]
    joined = out[0]
    assert TEXT[joined.start : joined.end] == joined.text
    # length-weighted: Java (4 chars, 1.0), SQL (3, 0.8), Docker (6, 0.6)
    assert joined.confidence == pytest.approx((4 * 1.0 + 3 * 0.8 + 6 * 0.6) / 13)


def test_only_listed_types_and_same_type_neighbours_are_joined() -> None:
    companies = [_entity("Infosys", "COMPANY"), _entity("Wipro", "COMPANY")]
    assert merge_lists(TEXT, companies, ["SKILL"]) == companies  # COMPANY not listed
    mixed = [_entity("Java", "SKILL"), _entity("SQL", "COMPANY")]
    assert merge_lists(TEXT, mixed, ["SKILL", "COMPANY"]) == mixed
    assert merge_lists(TEXT, list(reversed(companies)), []) == companies  # sorted, unchanged


def test_join_fragments_joins_only_across_spaces_and_tabs_on_one_line() -> None:
    text = "Senior Sales\tExecutive, Lead\nManager"
    words = ["Senior", "Sales", "Executive", "Lead", "Manager"]
    parts = [
        Entity(
            text=w,
            label="DESIGNATION",
            start=(at := text.index(w)),
            end=at + len(w),
            confidence=0.9,
        )
        for w in words
    ]
    out = join_fragments(text, parts, ["DESIGNATION"])
    assert [e.text for e in out] == ["Senior Sales\tExecutive", "Lead", "Manager"]
    assert join_fragments(text, parts, ["NAME"]) == parts  # DESIGNATION not listed


def test_confident_keeps_entities_at_or_above_their_types_floor() -> None:
    from nerp_infra.labels import confident

    entities = [
        Entity(text="a", label="SKILL", start=0, end=1, confidence=0.79),
        Entity(text="b", label="SKILL", start=2, end=3, confidence=0.8),
        Entity(text="c", label="NAME", start=4, end=5, confidence=0.1),
    ]
    assert [e.text for e in confident(entities, {"SKILL": 0.8})] == ["b", "c"]
    assert confident(entities, {}) == entities
