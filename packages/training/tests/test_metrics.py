"""Entity-level metrics: strict IOB2 semantics, agreement with seqeval, flat names."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from nerp_training.metrics import (
    OBJECTIVE_METRICS,
    EntityMetrics,
    entity_metrics,
    metric_value,
)

GOLD = [
    ["B-NAME", "I-NAME", "O", "B-SKILL", "O", "B-SKILL", "I-SKILL"],
    ["O", "B-EMAIL", "O", "B-SKILL"],
]
PRED = [
    ["B-NAME", "I-NAME", "O", "B-SKILL", "O", "B-SKILL", "O"],  # last skill cut short
    ["O", "I-EMAIL", "O", "B-SKILL"],  # strict: I- does not open an entity
]


def _seqeval(average: str, y_true: list[list[str]], y_pred: list[list[str]]) -> dict[str, float]:
    kwargs = {"mode": "strict", "scheme": IOB2, "average": average, "zero_division": 0}
    return {
        "precision": float(precision_score(y_true, y_pred, **kwargs)),
        "recall": float(recall_score(y_true, y_pred, **kwargs)),
        "f1": float(f1_score(y_true, y_pred, **kwargs)),
    }


def test_counts_by_hand() -> None:
    metrics = entity_metrics(GOLD, PRED)
    # gold: NAME 1, SKILL 3, EMAIL 1; correct: NAME, SKILL x2; predicted entities: 4
    assert metrics.support == 5
    assert metrics.precision_micro == pytest.approx(3 / 4)
    assert metrics.recall_micro == pytest.approx(3 / 5)
    assert metrics.f1_micro == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert metrics.per_type["NAME"].f1 == 1.0
    assert metrics.per_type["EMAIL"].recall == 0.0
    assert metrics.per_type["EMAIL"].support == 1
    assert metrics.per_type["SKILL"].precision == pytest.approx(2 / 3)
    assert metrics.per_type["SKILL"].recall == pytest.approx(2 / 3)
    assert metrics.per_type["SKILL"].support == 3
    assert metrics.f1_macro == pytest.approx((1.0 + 0.0 + 2 / 3) / 3)


def test_agrees_with_seqeval_micro_and_macro() -> None:
    metrics = entity_metrics(GOLD, PRED)
    for average in ("micro", "macro"):
        expected = _seqeval(average, GOLD, PRED)
        assert getattr(metrics, f"precision_{average}") == pytest.approx(expected["precision"])
        assert getattr(metrics, f"recall_{average}") == pytest.approx(expected["recall"])
        assert getattr(metrics, f"f1_{average}") == pytest.approx(expected["f1"])


TAGS = st.sampled_from(["O", "O", "B-NAME", "I-NAME", "B-SKILL", "I-SKILL", "B-EMAIL"])


@st.composite
def _documents(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]]]:
    lengths = draw(st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=5))
    gold = [draw(st.lists(TAGS, min_size=n, max_size=n)) for n in lengths]
    pred = [draw(st.lists(TAGS, min_size=n, max_size=n)) for n in lengths]
    return gold, pred


@settings(max_examples=60, deadline=None)
@given(_documents())
def test_agrees_with_seqeval_on_random_documents(
    documents: tuple[list[list[str]], list[list[str]]],
) -> None:
    gold, pred = documents
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN averages or numpy warnings, ever
        metrics = entity_metrics(gold, pred)
    for average in ("micro", "macro"):
        if average == "macro" and metrics.support == 0 and not metrics.per_type:
            continue  # seqeval's macro over zero types is NaN; ours is 0.0 (tested below)
        expected = _seqeval(average, gold, pred)
        assert getattr(metrics, f"f1_{average}") == pytest.approx(expected["f1"])
        assert getattr(metrics, f"precision_{average}") == pytest.approx(expected["precision"])
        assert getattr(metrics, f"recall_{average}") == pytest.approx(expected["recall"])
    for name, value in metrics.as_flat_dict().items():
        assert not math.isnan(value)
        assert value >= 0.0
        if not name.startswith("support_"):
            assert value <= 1.0


def test_perfect_prediction_scores_one() -> None:
    metrics = entity_metrics(GOLD, GOLD)
    assert metrics.f1_micro == metrics.f1_macro == 1.0
    assert all(scores.f1 == 1.0 for scores in metrics.per_type.values())


def test_type_only_predicted_lowers_macro_precision() -> None:
    metrics = entity_metrics([["B-NAME", "O"]], [["B-NAME", "B-SKILL"]])
    assert metrics.per_type["SKILL"].support == 0
    assert metrics.per_type["SKILL"].precision == 0.0
    assert metrics.precision_micro == pytest.approx(0.5)
    assert metrics.precision_macro == pytest.approx(0.5)


def test_no_entities_anywhere_scores_zero_without_warnings(
    recwarn: pytest.WarningsRecorder,
) -> None:
    for predicted in (["O", "O"], ["I-NAME", "I-NAME"]):  # strict: I- opens no entity
        metrics = entity_metrics([["O", "O"], []], [predicted, []])
        assert metrics.as_flat_dict() == {name: 0.0 for name in OBJECTIVE_METRICS}
        assert metrics.support == 0
    assert not recwarn.list


def test_flat_dict_names() -> None:
    flat = entity_metrics(GOLD, PRED).as_flat_dict()
    assert set(OBJECTIVE_METRICS) <= set(flat)
    per_type = {
        f"{kind}_{name}"
        for kind in ("precision", "recall", "f1", "support")
        for name in ("EMAIL", "NAME", "SKILL")
    }
    assert set(flat) == set(OBJECTIVE_METRICS) | per_type
    assert flat["support_SKILL"] == 3
    assert flat["f1_NAME"] == 1.0


def test_metric_value_and_unknown_names() -> None:
    metrics = entity_metrics(GOLD, PRED)
    assert metric_value(metrics, "f1_macro") == metrics.f1_macro
    assert metric_value(metrics, "f1_SKILL") == metrics.per_type["SKILL"].f1
    with pytest.raises(ValueError, match="unknown metric 'f1'") as caught:
        metric_value(metrics, "f1")
    assert "f1_macro" in str(caught.value)
    assert "f1_SKILL" in str(caught.value)


def test_objective_names_are_the_averages() -> None:
    assert set(OBJECTIVE_METRICS) == {
        f"{kind}_{average}"
        for kind in ("precision", "recall", "f1")
        for average in ("micro", "macro")
    }
    metrics = entity_metrics(GOLD, PRED)
    for name in OBJECTIVE_METRICS:
        assert metric_value(metrics, name) == getattr(metrics, name)


def test_results_are_frozen() -> None:
    metrics = entity_metrics(GOLD, PRED)
    assert isinstance(metrics, EntityMetrics)
    with pytest.raises(AttributeError):
        metrics.f1_macro = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        metrics.per_type["NEW"] = metrics.per_type["NAME"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("gold", "pred", "message"),
    [
        ([["O"]], [["O"], ["O"]], "y_true holds 1 documents but y_pred 2"),
        ([["O", "O"]], [["O"]], r"document 0: y_true\[0\] has 2 tags but y_pred\[0\] 1"),
        ([["O", "NAME"]], [["O", "O"]], r"y_true\[0\]\[1\]: tag 'NAME' is not a BIO tag"),
        ([["O"]], [["B-"]], r"y_pred\[0\]\[0\]: tag 'B-' is not a BIO tag"),
        ([["O"]], [["E-NAME"]], r"y_pred\[0\]\[0\]"),
        (["B-NAME"], ["B-NAME"], r"y_true\[0\] is a string"),
    ],
)
def test_bad_input_names_the_document_and_tag(
    gold: list[list[str]], pred: list[list[str]], message: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        entity_metrics(gold, pred)
