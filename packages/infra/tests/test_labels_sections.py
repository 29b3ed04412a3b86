"""One entity per titled section: the text under a heading such as SKILLS becomes one span."""

from __future__ import annotations

from nerp_infra.documents import Entity
from nerp_infra.labels import section_entities

RESUME = (
    "Dana Nguyen\nSoftware Engineer\n\n"
    "SKILLS\n\n"
    "Java (3 years), SQL (Less than 1 year),\nDocker (1 year)\n\n"
    "EDUCATION\n\nB.E. in CSE\n\n"
    "Technical Skills:\n  Python, Go  \n"
    "https://www.indeed.com/r/Dana-Nguyen/0a1b2c3d\n"
    "Kubernetes\n"
)
SECTION = "Java (3 years), SQL (Less than 1 year),\nDocker (1 year)"


def _entity(text: str, label: str, confidence: float = 0.9, after: int = 0) -> Entity:
    start = RESUME.index(text, after)
    return Entity(text=text, label=label, start=start, end=start + len(text), confidence=confidence)


def test_the_text_under_a_heading_replaces_the_pieces_the_model_found_there() -> None:
    pieces = [
        _entity("Dana Nguyen", "NAME"),
        _entity("Java", "SKILL", 0.7),
        _entity("Docker (1 year)", "SKILL", 0.6),
        _entity("B.E. in CSE", "EDUCATION"),
    ]
    out = section_entities(RESUME, pieces, {"SKILL": ["SKILLS"]})
    assert [(e.text, e.label) for e in out] == [
        ("Dana Nguyen", "NAME"),
        (SECTION, "SKILL"),  # up to the next heading in capitals, outer blank space left out
        ("B.E. in CSE", "EDUCATION"),
    ]
    section = out[1]
    assert RESUME[section.start : section.end] == section.text
    assert section.confidence == 1.0


def test_headings_match_without_case_or_colon_and_a_link_line_ends_the_section() -> None:
    out = section_entities(RESUME, [], {"SKILL": ["technical skills"]})
    # "Technical Skills:" opens it, the Indeed link line closes it: Kubernetes stays outside
    assert [e.text for e in out] == ["Python, Go"]


def test_entities_outside_sections_and_documents_without_the_heading_stay_as_they_are() -> None:
    outside = [_entity("Kubernetes", "SKILL", 0.8), _entity("Dana Nguyen", "NAME")]
    out = section_entities(RESUME, outside, {"SKILL": ["SKILLS"]})
    assert [(e.text, e.label) for e in out] == [
        ("Dana Nguyen", "NAME"),
        (SECTION, "SKILL"),
        ("Kubernetes", "SKILL"),
    ]
    assert section_entities("no headings here", outside, {"SKILL": ["SKILLS"]}) == sorted(
        outside, key=lambda e: e.start
    )
    assert section_entities(RESUME, outside, {}) == sorted(outside, key=lambda e: e.start)


def test_a_heading_with_nothing_under_it_gives_no_entity() -> None:
    text = "SKILLS\n\nEDUCATION\nB.E."
    assert section_entities(text, [], {"SKILL": ["SKILLS"]}) == []
