from __future__ import annotations

import pytest

from nerp_infra.labels import (
    LabelScheme,
    TokenPredictions,
    WindowPrediction,
    decode_tags,
    merge_window_predictions,
    plan_windows,
    probabilities_to_tags,
)


@pytest.mark.parametrize(
    ("n", "max_tokens", "stride", "windows"),
    [
        # Same cuts as the tokenizers library's overflowing windows (checked against it).
        (10, 4, 2, [(0, 4), (2, 6), (4, 8), (6, 10)]),
        (10, 4, 0, [(0, 4), (4, 8), (8, 10)]),
        (7, 4, 1, [(0, 4), (3, 7)]),
        (4, 4, 2, [(0, 4)]),
        (5, 4, 2, [(0, 4), (2, 5)]),
        (3, 4, 1, [(0, 3)]),
        (11, 5, 2, [(0, 5), (3, 8), (6, 11)]),
        (0, 4, 2, []),
    ],
)
def test_plan_windows_matches_hugging_face_overflow(
    n: int, max_tokens: int, stride: int, windows: list[tuple[int, int]]
) -> None:
    assert plan_windows(n, max_tokens, stride) == windows


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((5, 4, 4), ValueError, "stride must be >= 0 and smaller than max_tokens"),
        ((5, 4, -1), ValueError, "stride must be"),
        ((5, 0, 0), ValueError, "max_tokens must be >= 1"),
        ((-1, 4, 1), ValueError, "n_tokens must be >= 0"),
        ((5.0, 4, 1), TypeError, "n_tokens must be an int"),
        ((5, True, 0), TypeError, "max_tokens must be an int"),
    ],
)
def test_plan_windows_rejects_bad_arguments(
    args: tuple[object, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        plan_windows(*args)  # type: ignore[arg-type]


def test_merge_takes_each_token_from_the_window_with_most_context() -> None:
    # Windows (0, 6) and (2, 8) of 8 tokens; they disagree on the overlap 2..5.
    first = WindowPrediction(0, 6, ["O", "O", "B-A", "I-A", "B-A", "I-A"], [0.9] * 6)
    second = WindowPrediction(2, 8, ["B-B", "I-B", "B-B", "I-B", "O", "O"], [0.5] * 6)
    merged = merge_window_predictions([second, first])  # order does not matter
    # token 2: left context 2 in first, 0 in second -> first; token 3: 2 vs 1 -> first;
    # token 4: 1 vs 2 -> second; token 5: 0 vs 3 -> second.
    assert merged == TokenPredictions(
        ["O", "O", "B-A", "I-A", "B-B", "I-B", "O", "O"],
        [0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5],
    )


def test_merge_breaks_ties_for_the_earlier_window_and_counts_document_edges_as_context() -> None:
    # Overlap of one token (stride 1): both windows have it at their inner edge.
    first = WindowPrediction(0, 3, ["O", "O", "B-A"], [1.0, 1.0, 0.6])
    second = WindowPrediction(2, 5, ["B-B", "O", "O"], [0.7, 1.0, 1.0])
    assert merge_window_predictions([first, second]).tags == ["O", "O", "B-A", "O", "O"]
    # A window edge at the document's edge hides no context: a window holding the whole
    # document beats a shorter one on every token (counted naively, token 0 would tie at 0).
    short = WindowPrediction(0, 3, ["B-A", "I-A", "I-A"], [1.0] * 3)
    whole = WindowPrediction(0, 6, ["O", "B-B", "I-B", "O", "O", "O"], [1.0] * 6)
    assert merge_window_predictions([short, whole]).tags == list(whole.tags)


def test_merged_entity_across_a_seam_is_decoded_once() -> None:
    text = "a b c d e f g h"
    offsets = [(i * 2, i * 2 + 1) for i in range(8)]
    # Entity over tokens 3..5 ("d e f"); windows (0, 5) and (3, 8) overlap on 3, 4.
    first = WindowPrediction(0, 5, ["O", "O", "O", "B-X", "I-X"], [0.8] * 5)
    second = WindowPrediction(3, 8, ["B-X", "I-X", "I-X", "O", "O"], [0.6] * 5)
    tags, confidences = merge_window_predictions([first, second], n_tokens=8)
    entities = decode_tags(tags, offsets, text, confidences=confidences)
    assert [(e.text, e.start, e.end) for e in entities] == [("d e f", 6, 11)]
    assert entities[0].confidence == pytest.approx((0.8 + 0.6 + 0.6) / 3)


def test_merge_rejects_gaps_and_windows_past_the_end() -> None:
    first = WindowPrediction(0, 2, ["O", "O"], [1.0, 1.0])
    last = WindowPrediction(3, 5, ["O", "O"], [1.0, 1.0])
    with pytest.raises(ValueError, match="token 2 is covered by no window"):
        merge_window_predictions([first, last])
    with pytest.raises(ValueError, match="token 2 is covered by no window \\(4 tokens"):
        merge_window_predictions([first], n_tokens=6)
    with pytest.raises(ValueError, match=r"window \[3, 5\) reaches past the document's 4 tokens"):
        merge_window_predictions([first, last], n_tokens=4)
    assert merge_window_predictions([]) == TokenPredictions([], [])
    with pytest.raises(ValueError, match="covered by no window"):
        merge_window_predictions([], n_tokens=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((2, 2, [], []), r"window \[2, 2\) must satisfy 0 <= start < end"),
        ((-1, 1, ["O", "O"], [1.0, 1.0]), "must satisfy"),
        ((0, 3, ["O", "O"], [1.0, 1.0]), "covers 3 tokens but has 2 tags and 2 confidences"),
        ((0, 2, ["O", "X"], [1.0, 1.0]), "invalid BIO tag 'X'"),
    ],
)
def test_window_prediction_rejects_bad_shapes(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WindowPrediction(*args)  # type: ignore[arg-type]


def test_probabilities_to_tags_and_window_from_probabilities() -> None:
    scheme = LabelScheme(["NAME"])
    probabilities = [[0.1, 0.7, 0.2], [0.2, 0.2, 0.6], [0.9, 0.05, 0.05]]
    assert probabilities_to_tags(probabilities, scheme) == TokenPredictions(
        ["B-NAME", "I-NAME", "O"], [0.7, 0.6, 0.9]
    )
    window = WindowPrediction.from_probabilities(4, probabilities, scheme)
    assert (window.start, window.end) == (4, 7)
    assert list(window.tags) == ["B-NAME", "I-NAME", "O"]
    with pytest.raises(ValueError, match=r"probabilities\[0\] has 2 values but the label scheme"):
        probabilities_to_tags([[0.5, 0.5]], scheme)
    with pytest.raises(ValueError, match="apply softmax to logits first"):
        probabilities_to_tags([[-1.0, 3.2, 0.4]], scheme)
