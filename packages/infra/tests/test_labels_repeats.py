"""Label consistency: a mention found once labels the document's other mentions."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from nerp_infra.documents import Entity
from nerp_infra.labels import propagate_repeats
from nerp_infra.labels.repeats import _mentions

TEXT = (
    "Engineer at Infosys, Bengaluru\n"
    "Team lead at Wipro, Bengaluru, Karnataka\n"
    "Bengaluru-based; moved from Bengaluruu; Infosys alumni\n"
)


def _entity(text: str, label: str, occurrence: int = 0, confidence: float = 0.9) -> Entity:
    start = -1
    for _ in range(occurrence + 1):
        start = TEXT.index(text, start + 1)
    return Entity(text=text, label=label, start=start, end=start + len(text), confidence=confidence)


def _spans(entities: list[Entity]) -> list[tuple[str, str, int]]:
    return [(e.text, e.label, e.start) for e in entities]


def test_other_mentions_of_a_listed_type_take_its_label_at_word_edges_only() -> None:
    found = [_entity("Bengaluru", "LOCATION", confidence=0.8)]
    out = propagate_repeats(TEXT, found, ["LOCATION"])
    starts = [e.start for e in out]
    # the second line's mention and the hyphenated "Bengaluru-based" (hyphen is a word edge);
    # "Bengaluruu" is another word
    assert starts == [m for m in _all(TEXT, "Bengaluru") if TEXT[m + 9] != "u"]
    assert all(e.label == "LOCATION" and e.confidence == 0.8 for e in out)
    assert all(TEXT[e.start : e.end] == "Bengaluru" for e in out)


def test_types_not_listed_short_texts_and_overlaps_are_left_alone() -> None:
    found = [
        _entity("Infosys", "COMPANY"),
        _entity("at", "DESIGNATION"),
        _entity("Bengaluru, Karnataka", "LOCATION"),
        _entity("Bengaluru", "LOCATION"),
    ]
    out = propagate_repeats(TEXT, found, ["LOCATION", "DESIGNATION"])
    added = [e for e in out if e not in found]
    # "at" is under the minimum length; "Infosys" is COMPANY, not listed; the "Bengaluru"
    # inside "Bengaluru, Karnataka" overlaps an entity and stays part of it
    assert _spans(added) == [("Bengaluru", "LOCATION", TEXT.index("Bengaluru-based"))]
    assert [e.start for e in out] == sorted(e.start for e in out)
    assert propagate_repeats(TEXT, found, []) == found


def test_the_surer_label_wins_when_two_predictions_of_one_text_disagree() -> None:
    found = [
        _entity("Infosys", "COMPANY", occurrence=0, confidence=0.95),
        _entity("Infosys", "LOCATION", occurrence=1, confidence=0.40),
    ]
    text = TEXT + "Infosys\n"
    out = propagate_repeats(text, found, ["COMPANY", "LOCATION"])
    last = out[-1]
    assert (last.start, last.label, last.confidence) == (len(TEXT), "COMPANY", 0.95)
    assert len(out) == 3


def _all(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i >= 0:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="ab_ -é1\n", max_size=40),
    needle=st.text(alphabet="ab_ -é1", min_size=1, max_size=4),
)
def test_mentions_are_the_word_edge_matches_of_the_regex_they_replace(
    text: str, needle: str
) -> None:
    # Overlapping candidates ("aa" in "aaa"), underscores and non-ASCII letters (word
    # characters to the regex) are where a hand-written search would drift from \w.
    pattern = r"(?<!\w)" + re.escape(needle) + r"(?!\w)"
    assert list(_mentions(text, needle)) == [m.start() for m in re.finditer(pattern, text)]
