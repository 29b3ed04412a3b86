from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerp_infra.labels import (
    LabelScheme,
    decode_tags,
    is_valid_bio,
    probabilities_to_tags,
    tagged_tokens,
    viterbi_batch,
    viterbi_tags,
)

SCHEME = LabelScheme(["NAME", "EMAIL"])  # O, B-NAME, I-NAME, B-EMAIL, I-EMAIL


def _row(**probs: float) -> list[float]:
    """A probability row over SCHEME's labels; unnamed labels share what is left."""
    named = {label.replace("_", "-"): p for label, p in probs.items()}
    rest = (1.0 - sum(named.values())) / (len(SCHEME.labels) - len(named))
    return [named.get(label, rest) for label in SCHEME.labels]


def _path_score(rows: list[list[float]], tags: list[str]) -> float:
    ids = SCHEME.label2id
    return sum(math.log(row[ids[tag]]) for row, tag in zip(rows, tags, strict=True))


def test_a_type_switch_inside_an_entity_becomes_one_entity() -> None:
    # Greedy: B-NAME I-EMAIL I-NAME; the lenient decoder would cut three entities.
    rows = [_row(B_NAME=0.9), _row(I_EMAIL=0.5, I_NAME=0.4), _row(I_NAME=0.9)]
    greedy = probabilities_to_tags(rows, SCHEME).tags
    assert greedy == ["B-NAME", "I-EMAIL", "I-NAME"]
    best = viterbi_tags(rows, SCHEME)
    assert best.tags == ["B-NAME", "I-NAME", "I-NAME"]
    assert best.confidences[1] == pytest.approx(0.4)
    offsets = [(0, 4), (5, 8), (9, 12)]
    entities = decode_tags(best.tags, offsets, "Jane Ann Doe", confidences=best.confidences)
    assert [(e.text, e.label) for e in entities] == [("Jane Ann Doe", "NAME")]


def test_an_inside_tag_cannot_open_a_sequence_unless_it_continues() -> None:
    rows = [_row(I_NAME=0.6, B_NAME=0.3), _row(I_NAME=0.9)]
    assert viterbi_tags(rows, SCHEME).tags == ["B-NAME", "I-NAME"]
    assert viterbi_tags(rows, SCHEME, continues=True).tags == ["I-NAME", "I-NAME"]


def test_untagged_tokens_neither_constrain_nor_change() -> None:
    # The middle token is a non-first sub-token: its (untrained) EMAIL output must not
    # break the NAME entity, and it keeps its greedy tag.
    rows = [_row(B_NAME=0.9), _row(B_EMAIL=0.9), _row(I_NAME=0.9)]
    best = viterbi_tags(rows, SCHEME, tagged=[True, False, True])
    assert best.tags == ["B-NAME", "B-EMAIL", "I-NAME"]
    with pytest.raises(ValueError, match="tagged has 2 entries"):
        viterbi_tags(rows, SCHEME, tagged=[True, False])


def test_tagged_tokens_marks_first_sub_tokens_or_all() -> None:
    offsets = [(0, 4), (4, 6), (7, 10), (0, 0)]
    assert tagged_tokens(offsets, label_all_subtokens=False) == [True, False, True, False]
    assert tagged_tokens(offsets, label_all_subtokens=True) == [True, True, True, False]


_rows = st.lists(
    st.lists(st.floats(0.01, 1.0), min_size=5, max_size=5).map(lambda r: [v / sum(r) for v in r]),
    min_size=1,
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(rows=_rows, continues=st.booleans())
def test_viterbi_returns_the_best_valid_sequence(rows: list[list[float]], continues: bool) -> None:
    best = viterbi_tags(rows, SCHEME, continues=continues)
    assert is_valid_bio(best.tags) or (continues and best.tags[0].startswith("I-"))
    # Brute force over every sequence that obeys the same rule.
    candidates = []
    for tags in itertools.product(SCHEME.labels, repeat=len(rows)):
        head_ok = continues or not tags[0].startswith("I-")
        body_ok = (
            is_valid_bio(("B-" + tags[0][2:], *tags[1:]))
            if tags[0] != "O"
            else (is_valid_bio(tags))
        )
        if head_ok and body_ok:
            candidates.append(_path_score(rows, list(tags)))
    assert _path_score(rows, best.tags) == pytest.approx(max(candidates))


def test_is_valid_bio() -> None:
    assert is_valid_bio(["B-NAME", "I-NAME", "O", "B-EMAIL", None, "I-EMAIL"])
    assert not is_valid_bio(["O", "I-NAME"])
    assert not is_valid_bio(["B-NAME", "I-EMAIL"])


@settings(max_examples=60, deadline=None)
@given(
    windows=st.lists(
        st.tuples(_rows, st.lists(st.booleans(), min_size=5, max_size=5), st.booleans()),
        min_size=1,
        max_size=4,
    )
)
def test_a_batch_of_padded_windows_decodes_like_each_window_alone(
    windows: list[tuple[list[list[float]], list[bool], bool]],
) -> None:
    # Windows of different lengths share one padded array; padding is untagged and its
    # probabilities (here: a confident I-EMAIL that would break any path) must not matter.
    width = max(len(rows) for rows, _, _ in windows)
    pad = _row(I_EMAIL=0.96)
    probabilities = [rows + [pad] * (width - len(rows)) for rows, _, _ in windows]
    tagged = [marks[: len(rows)] + [False] * (width - len(rows)) for rows, marks, _ in windows]
    ids, confidences = viterbi_batch(
        probabilities, SCHEME, tagged=tagged, continues=[c for _, _, c in windows]
    )
    for index, (rows, marks, continues) in enumerate(windows):
        alone = viterbi_tags(rows, SCHEME, tagged=marks[: len(rows)], continues=continues)
        assert [SCHEME.labels[i] for i in ids[index, : len(rows)]] == alone.tags
        assert confidences[index, : len(rows)].tolist() == pytest.approx(alone.confidences)


def test_batch_input_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"expected \(windows, tokens, 5\)"):
        viterbi_batch([[[0.5, 0.5]]], SCHEME)
    with pytest.raises(ValueError, match=r"probabilities\[0\]\[1\] peaks at 3.0"):
        viterbi_batch([[_row(O=1.0), [3.0, 0, 0, 0, 0]]], SCHEME)
    with pytest.raises(ValueError, match="tagged has shape"):
        viterbi_batch([[_row(O=1.0)]], SCHEME, tagged=[[True, False]])
