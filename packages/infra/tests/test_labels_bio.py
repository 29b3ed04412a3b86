from __future__ import annotations

import pytest

from nerp_infra.documents import Entity, Span
from nerp_infra.labels import (
    LabelAlignmentError,
    LabelScheme,
    decode_tags,
    encode_spans,
    misaligned_spans,
)

# "Ann Lee, Python dev" as a WordPiece tokenizer sees it, with [CLS] and [SEP] around.
TEXT = "Ann Lee, Python dev"
OFFSETS = [(0, 0), (0, 3), (4, 7), (7, 8), (9, 11), (11, 15), (16, 19), (0, 0)]
WORD_IDS: list[int | None] = [None, 0, 1, 2, 3, 3, 4, None]
SPANS = [Span(start=0, end=7, label="NAME"), Span(start=9, end=15, label="SKILL")]
SCHEME = LabelScheme(["NAME", "SKILL"])


def _triples(entities: list[Entity]) -> list[tuple[int, int, str, str]]:
    return [(e.start, e.end, e.label, e.text) for e in entities]


def test_encode_all_subtokens() -> None:
    tags = encode_spans(SPANS, OFFSETS, SCHEME, label_all_subtokens=True, word_ids=WORD_IDS)
    assert tags == [None, "B-NAME", "I-NAME", "O", "B-SKILL", "I-SKILL", "O", None]
    assert SCHEME.tags_to_ids(tags) == [-100, 1, 2, 0, 3, 4, 0, -100]


def test_encode_first_subtoken_with_word_ids() -> None:
    tags = encode_spans(SPANS, OFFSETS, SCHEME, label_all_subtokens=False, word_ids=WORD_IDS)
    assert tags == [None, "B-NAME", "I-NAME", "O", "B-SKILL", None, "O", None]


def test_encode_first_subtoken_groups_touching_tokens_without_word_ids() -> None:
    # Without word ids "Lee" and "," touch, so they are one word inside the NAME span.
    tags = encode_spans(SPANS, OFFSETS, label_all_subtokens=False)
    assert tags == [None, "B-NAME", "I-NAME", None, "B-SKILL", None, "O", None]
    entities = decode_tags(tags, OFFSETS, TEXT, label_all_subtokens=False)
    assert _triples(entities) == [(0, 8, "NAME", "Ann Lee,"), (9, 15, "SKILL", "Python")]
    assert misaligned_spans(SPANS, OFFSETS, label_all_subtokens=False) == [SPANS[0]]
    assert misaligned_spans(SPANS, OFFSETS, label_all_subtokens=False, word_ids=WORD_IDS) == []


def test_decode_reads_only_first_subtokens_when_trained_that_way() -> None:
    # The model's guesses for "##thon" were never trained; decoding must ignore them.
    tags = [None, "B-NAME", "I-NAME", "O", "B-SKILL", "B-NAME", "O", None]
    confidences = [0.1, 0.9, 0.7, 0.6, 0.8, 0.01, 0.5, 0.2]
    entities = decode_tags(
        tags,
        OFFSETS,
        TEXT,
        confidences=confidences,
        word_ids=WORD_IDS,
        label_all_subtokens=False,
    )
    assert _triples(entities) == [(0, 7, "NAME", "Ann Lee"), (9, 15, "SKILL", "Python")]
    assert entities[0].confidence == pytest.approx(0.8)
    assert entities[1].confidence == pytest.approx(0.8)
    # Read token by token, the stray B-NAME splits the skill.
    per_token = decode_tags(tags, OFFSETS, TEXT, confidences=confidences)
    assert _triples(per_token)[1:] == [(9, 11, "SKILL", "Py"), (11, 15, "NAME", "thon")]


def test_decode_gives_whole_words_when_every_subtoken_is_tagged() -> None:
    # "Py" tagged, "##thon" not: the entity is still the word "Python", not "Py"; a word
    # split between two entities stays with the first; without word ids, token edges hold.
    confidences = [0.1, 0.9, 0.7, 0.6, 0.8, 0.4, 0.5, 0.2]
    tags = [None, "B-NAME", "I-NAME", "O", "B-SKILL", "O", "O", None]
    entities = decode_tags(tags, OFFSETS, TEXT, confidences=confidences, word_ids=WORD_IDS)
    assert _triples(entities) == [(0, 7, "NAME", "Ann Lee"), (9, 15, "SKILL", "Python")]
    assert entities[1].confidence == pytest.approx(0.8)  # the tagged sub-token's alone
    split = [None, "B-NAME", "O", "O", "B-SKILL", "B-NAME", "O", None]
    assert _triples(decode_tags(split, OFFSETS, TEXT, word_ids=WORD_IDS)) == [
        (0, 3, "NAME", "Ann"),
        (9, 15, "SKILL", "Python"),
    ]
    assert _triples(decode_tags(tags, OFFSETS, TEXT))[1] == (9, 11, "SKILL", "Py")


def test_decode_round_trips_the_encoding() -> None:
    for all_subtokens in (True, False):
        tags = encode_spans(
            SPANS, OFFSETS, SCHEME, label_all_subtokens=all_subtokens, word_ids=WORD_IDS
        )
        entities = decode_tags(
            tags, OFFSETS, TEXT, word_ids=WORD_IDS, label_all_subtokens=all_subtokens
        )
        assert [e.to_span() for e in entities] == SPANS
        assert [e.confidence for e in entities] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        # I- after O opens an entity (seqeval default / conlleval), it is not dropped.
        (["O", "I-NAME", "I-NAME", "O"], [("NAME", "Li C")]),
        # I- of another type starts a new entity.
        (["B-NAME", "I-SKILL", "I-SKILL", "O"], [("NAME", "Bo"), ("SKILL", "Li C")]),
        # B- always starts a new entity, even of the same type.
        (
            ["B-NAME", "B-NAME", "I-NAME", "B-NAME"],
            [("NAME", "Bo"), ("NAME", "Li C"), ("NAME", "D")],
        ),
        # O ends an entity; a following I- starts another.
        (["B-NAME", "O", "I-NAME", "O"], [("NAME", "Bo"), ("NAME", "C")]),
        (["O", "O", "O", "O"], []),
    ],
)
def test_decode_is_lenient_with_invalid_sequences(
    tags: list[str], expected: list[tuple[str, str]]
) -> None:
    text = "Bo Li C D"
    offsets = [(0, 2), (3, 5), (6, 7), (8, 9)]
    assert [(e.label, e.text) for e in decode_tags(tags, offsets, text)] == expected


def test_decode_confidence_is_mean_of_chosen_tag_probabilities() -> None:
    text = "Bo Li C"
    entities = decode_tags(
        ["B-NAME", "I-NAME", "B-SKILL"],
        [(0, 2), (3, 5), (6, 7)],
        text,
        confidences=[0.9, 0.6, 0.25],
    )
    assert [e.confidence for e in entities] == pytest.approx([0.75, 0.25])


def test_decode_skips_special_and_none_tokens_without_ending_an_entity() -> None:
    text = "Bo Li"
    entities = decode_tags(["B-NAME", None, "I-NAME"], [(0, 2), (0, 0), (3, 5)], text)
    assert _triples(entities) == [(0, 5, "NAME", "Bo Li")]
    assert decode_tags(["B-NAME", None], [(0, 0), (0, 2)], text) == []


def test_decode_trims_whitespace_inside_offsets_and_applies_doc_offset() -> None:
    # Byte-level BPE tokenizers may report the leading space as part of a token.
    text = "Hi  Ann Lee \n"
    offsets = [(0, 2), (2, 7), (7, 13)]
    entities = decode_tags(["O", "B-NAME", "I-NAME"], offsets, text, doc_offset=100)
    assert _triples(entities) == [(104, 111, "NAME", "Ann Lee")]
    # An entity made of whitespace only disappears.
    assert decode_tags(["O", "O", "B-NAME"], [(0, 2), (2, 4), (11, 13)], text) == []


def test_encode_continues_a_span_that_began_before_the_window() -> None:
    # A window of "Lee, Python dev": the NAME span started in an earlier window.
    window = [(0, 0), (4, 7), (7, 8), (9, 11), (0, 0)]
    tags = encode_spans(SPANS, window, label_all_subtokens=True)
    assert tags == [None, "I-NAME", "O", "B-SKILL", None]
    # A window starting inside a word: "##thon" continues the skill.
    tags = encode_spans(
        SPANS,
        [(0, 0), (11, 15), (16, 19), (0, 0)],
        label_all_subtokens=False,
        word_ids=[None, 3, 4, None],
    )
    assert tags == [None, "I-SKILL", "O", None]


def test_encode_accepts_entities_and_unsorted_spans() -> None:
    entities = decode_tags(
        [None, "B-NAME", "I-NAME", "O", "B-SKILL", "I-SKILL", "O", None], OFFSETS, TEXT
    )
    assert encode_spans(entities[::-1], OFFSETS, label_all_subtokens=True) == [
        None,
        "B-NAME",
        "I-NAME",
        "O",
        "B-SKILL",
        "I-SKILL",
        "O",
        None,
    ]


def test_span_in_whitespace_tags_nothing_and_is_reported() -> None:
    span = Span(start=3, end=4, label="NAME")  # the space between "Ann" and "Lee"
    assert encode_spans([span], OFFSETS, label_all_subtokens=True) == [
        None,
        "O",
        "O",
        "O",
        "O",
        "O",
        "O",
        None,
    ]
    assert misaligned_spans([span], OFFSETS, label_all_subtokens=True) == [span]


def test_encode_with_no_content_tokens() -> None:
    assert encode_spans(SPANS, [(0, 0), (0, 0)], label_all_subtokens=True) == [None, None]
    assert encode_spans([], [], label_all_subtokens=False) == []


def test_encode_rejects_overlapping_spans() -> None:
    spans = [Span(start=0, end=7, label="NAME"), Span(start=4, end=8, label="SKILL")]
    with pytest.raises(
        LabelAlignmentError, match=r"\(0, 7, 'NAME'\) and \(4, 8, 'SKILL'\) overlap"
    ):
        encode_spans(spans, OFFSETS, label_all_subtokens=True)


def test_encode_rejects_two_spans_in_one_token() -> None:
    spans = [Span(start=9, end=10, label="NAME"), Span(start=10, end=11, label="SKILL")]
    with pytest.raises(LabelAlignmentError, match="token at characters 9-11 \\(token 4\\)"):
        encode_spans(spans, OFFSETS, label_all_subtokens=True)
    spans = [Span(start=9, end=11, label="NAME"), Span(start=11, end=15, label="SKILL")]
    with pytest.raises(LabelAlignmentError, match="word at characters 9-15"):
        encode_spans(spans, OFFSETS, label_all_subtokens=False, word_ids=WORD_IDS)
    assert isinstance(LabelAlignmentError("x"), ValueError)


def test_encode_rejects_labels_outside_the_scheme() -> None:
    with pytest.raises(ValueError, match=r"span \(9, 15, 'SKILL'\) has a label outside the scheme"):
        encode_spans(SPANS, OFFSETS, LabelScheme(["NAME"]), label_all_subtokens=True)
    with pytest.raises(ValueError, match="outside the scheme's entity types \\(NAME\\)"):
        encode_spans(SPANS, OFFSETS, ["NAME"], label_all_subtokens=True)


@pytest.mark.parametrize(
    ("offsets", "word_ids", "message"),
    [
        ([(0, 3), (5, 4)], None, r"offsets\[1\] \(5, 4\) must satisfy 0 <= start <= end"),
        ([(0, 3), (-1, 4)], None, r"offsets\[1\]"),
        ([(0, 3, 4)], None, r"offsets\[0\] must be a \(start, end\) pair"),
        ([(0, 3)], [0, 1], "word_ids has 2 entries but offsets has 1"),
    ],
)
def test_encode_rejects_bad_offsets(
    offsets: list[tuple[int, ...]], word_ids: list[int | None] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode_spans([], offsets, label_all_subtokens=True, word_ids=word_ids)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tags": ["O"]}, "tags has 1 entries but offsets has 2"),
        ({"confidences": [0.5]}, "confidences has 1 entries but there are 2 tags"),
        ({"confidences": [0.5, 1.5]}, r"confidences\[1\] = 1.5 is not a probability"),
        ({"confidences": [float("nan"), 0.5]}, r"confidences\[0\] = nan"),
        ({"tags": ["O", "B_NAME"]}, "invalid BIO tag 'B_NAME'"),
        ({"text": "Bo"}, r"offsets\[1\] \(3, 5\) reaches past the end of the text \(length 2\)"),
    ],
)
def test_decode_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "tags": ["B-NAME", "I-NAME"],
        "offsets": [(0, 2), (3, 5)],
        "text": "Bo Li",
    }
    args.update(kwargs)
    confidences = args.pop("confidences", None)
    with pytest.raises(ValueError, match=message):
        decode_tags(
            args["tags"],  # type: ignore[arg-type]
            args["offsets"],  # type: ignore[arg-type]
            args["text"],  # type: ignore[arg-type]
            confidences=confidences,  # type: ignore[arg-type]
        )
