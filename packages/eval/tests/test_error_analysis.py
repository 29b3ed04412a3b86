"""The error classes on hand-made tag sequences: one example of each, and the sums."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from nerp_eval.evaluation import ERROR_CLASSES, analyse_errors
from nerp_eval.evaluation.errors import strict_entities


def test_each_error_class_on_one_example() -> None:
    gold = [
        ["B-NAME", "I-NAME", "O", "B-SKILL", "O", "B-EMAIL", "O", "B-PHONE", "I-PHONE", "O"],
    ]
    pred = [
        # NAME exact (correct), SKILL typed as COMPANY (wrong type), EMAIL missed,
        # PHONE cut short (wrong boundary), a spurious LOCATION at the end
        ["B-NAME", "I-NAME", "O", "B-COMPANY", "O", "O", "O", "B-PHONE", "O", "B-LOCATION"],
    ]
    units = [["Ann", "Lee", "knows", "Python", "at", "a@b.c", "tel", "555", "0100", "Paris"]]
    analysis = analyse_errors(gold, pred, doc_ids=["d1"], unit_texts=units)
    assert analysis.by_type["NAME"]["correct"] == 1
    assert analysis.by_type["SKILL"]["wrong_type"] == 1
    assert analysis.by_type["EMAIL"]["missed"] == 1
    assert analysis.by_type["PHONE"]["wrong_boundary"] == 1
    assert analysis.by_type["LOCATION"]["spurious"] == 1
    assert analysis.confusion[("SKILL", "COMPANY")] == 1
    totals = analysis.totals
    assert totals == {
        "correct": 1,
        "wrong_type": 1,
        "wrong_boundary": 1,
        "wrong_type_and_boundary": 0,
        "missed": 1,
        "spurious": 1,
    }
    example = analysis.examples["wrong_boundary"][0]
    assert (example.gold, example.predicted, example.doc_id) == ("555 0100", "555", "d1")
    assert analysis.examples["spurious"][0].predicted == "Paris"


def test_wrong_type_and_boundary() -> None:
    analysis = analyse_errors([["B-SKILL", "I-SKILL", "O"]], [["O", "B-COMPANY", "I-COMPANY"]])
    assert analysis.by_type["SKILL"]["wrong_type_and_boundary"] == 1
    assert analysis.totals["spurious"] == 0  # the overlapping prediction is counted once


def test_stray_inside_tag_opens_no_entity_in_strict_mode() -> None:
    assert strict_entities(["O", "I-NAME", "I-NAME", "B-SKILL"]) == [("SKILL", 3, 4)]


def test_length_mismatch_is_an_error() -> None:
    import pytest

    with pytest.raises(ValueError, match="document 0: 2 gold tags but 1 predicted"):
        analyse_errors([["O", "O"]], [["O"]])


TAGS = st.sampled_from(["O", "B-A", "I-A", "B-B", "I-B"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.integers(min_value=1, max_value=12).flatmap(
            lambda n: st.tuples(
                st.lists(TAGS, min_size=n, max_size=n), st.lists(TAGS, min_size=n, max_size=n)
            )
        ),
        min_size=1,
        max_size=4,
    )
)
def test_classes_add_up_to_seqeval_counts(docs: list[tuple[list[str], list[str]]]) -> None:
    gold = [g for g, _ in docs]
    pred = [p for _, p in docs]
    analysis = analyse_errors(gold, pred)
    gold_count = sum(len(strict_entities(g)) for g in gold)
    totals = analysis.totals
    assert sum(totals[k] for k in ("correct", *ERROR_CLASSES) if k != "spurious") == gold_count
    if gold_count and any(strict_entities(p) for p in pred):
        report = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True)
        for name, row in analysis.by_type.items():
            if name in report:
                true_positives = round(report[name]["recall"] * report[name]["support"])
                assert row["correct"] == true_positives
