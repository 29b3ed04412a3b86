"""Synthetic resumes: deterministic, exact spans, every entity type, several layouts."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from nerp_infra.config.data import DEFAULT_LABELS
from nerp_infra.documents import overlapping_spans
from nerp_training.data import DataError, synthesize_resumes, validate_documents
from nerp_training.data.synth import SYNTH_LABELS

DURATION = re.compile(r"^(\d+\+? (years?|yrs)|\d+ months?|Less than 1 year)$")


def test_same_seed_same_documents_and_stable_prefix() -> None:
    docs = synthesize_resumes(30, seed=4)
    assert synthesize_resumes(30, seed=4) == docs
    assert synthesize_resumes(10, seed=4) == docs[:10]
    other = synthesize_resumes(30, seed=5)
    assert [d.text for d in other] != [d.text for d in docs]
    assert len({d.text for d in docs}) == 30
    assert docs[0].id == "synth-4-00000"


def test_spans_are_exact_trimmed_and_never_overlap() -> None:
    docs = synthesize_resumes(60, seed=1)
    for doc in docs:
        assert overlapping_spans(doc.spans) == []
        for span in doc.spans:
            piece = doc.text[span.start : span.end]
            assert piece
            assert piece == piece.strip()
    clean, report = validate_documents(docs, labels=DEFAULT_LABELS)
    assert clean == docs
    assert report.issues == []


def test_every_entity_type_appears_with_the_right_shape() -> None:
    docs = synthesize_resumes(80, seed=2)
    by_label: dict[str, list[str]] = {}
    for doc in docs:
        for span in doc.spans:
            by_label.setdefault(span.label, []).append(doc.text[span.start : span.end])
    assert set(by_label) == set(SYNTH_LABELS) == set(DEFAULT_LABELS)
    assert all("@" in email and " " not in email for email in by_label["EMAIL"])
    assert all(sum(c.isdigit() for c in phone) >= 7 for phone in by_label["PHONE"])
    assert all(DURATION.match(text) for text in by_label["EXPERIENCE"]), by_label["EXPERIENCE"]
    assert len(set(by_label["COMPANY"])) > 40
    assert len(set(by_label["SKILL"])) > 60
    # The name is the first entity of every resume, at the top.
    for doc in docs:
        first = doc.spans[0]
        assert first.label == "NAME"
        assert first.start <= len("Name: ")


def test_several_layouts_are_used() -> None:
    docs = synthesize_resumes(60, seed=3)

    def layout(text: str) -> str:
        if text.startswith("# "):
            return "markdown"
        if text.startswith("Name: "):
            return "keyvalue"
        if "WORK EXPERIENCE\n\n" in text and "\nSKILLS\n\n" in text:
            return "indeed"
        return "classic"

    counts = Counter(layout(doc.text) for doc in docs)
    assert set(counts) == {"markdown", "keyvalue", "indeed", "classic"}
    assert min(counts.values()) >= 5


def test_optional_fields_vary_so_strata_differ() -> None:
    docs = synthesize_resumes(120, seed=9)
    with_email = sum(any(s.label == "EMAIL" for s in d.spans) for d in docs)
    with_phone = sum(any(s.label == "PHONE" for s in d.spans) for d in docs)
    assert 90 < with_email < 120
    assert 85 < with_phone < 120


def test_other_locales_and_bad_locales() -> None:
    (german,) = synthesize_resumes(1, seed=1, locale="de_DE")
    (american,) = synthesize_resumes(1, seed=1)
    assert german.text != american.text
    assert {s.label for s in german.spans} >= {"NAME", "COMPANY", "SKILL"}
    with pytest.raises(DataError, match="unknown faker locale 'xx_YY'"):
        synthesize_resumes(1, seed=1, locale="xx_YY")


def test_sizes_from_none_to_a_thousand() -> None:
    assert synthesize_resumes(0, seed=1) == []
    docs = synthesize_resumes(1000, seed=11)
    assert len({d.id for d in docs}) == 1000
    with pytest.raises(ValueError, match="n must be >= 0"):
        synthesize_resumes(-1, seed=1)
