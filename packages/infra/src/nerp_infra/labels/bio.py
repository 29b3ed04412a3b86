"""BIO tags per sub-word token: spans to tags for training, tags back to entities for serving.

Training and serving call these same two functions, with the offsets a fast tokenizer
reports, so the two sides cannot disagree on what a tag sequence means.

Conventions shared by both directions:

- A token whose offsets are empty (``(0, 0)`` for ``[CLS]``/``[SEP]``/padding), or whose
  ``word_id`` is ``None`` when word ids are given, is special: it gets no tag and is skipped.
- Words: with ``word_ids`` (``BatchEncoding.word_ids()``) tokens sharing an id form a word;
  without them, tokens whose offsets touch (``previous.end == start``) form a word.
- ``label_all_subtokens=False`` tags only the first token of each word; its tag stands for
  the whole word (the decoder extends an entity to the word's last token). ``True`` tags
  every token; the first token of a span gets ``B-``, the rest ``I-``.

Serving needs both the tagged tokens (for constrained decoding) and the entities of every
document, so ``TokenUnits`` checks a document's offsets and groups its tokens once for
both. The grouping and the offset checks are numpy over the whole document and decoding
visits only the entity tags: a resume has thousands of tokens, almost all tagged ``O``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import pairwise
from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from nerp_infra.documents import Entity
from nerp_infra.labels.scheme import OUTSIDE, LabelScheme, split_tag

__all__ = [
    "LabelAlignmentError",
    "Offset",
    "SpanLike",
    "TokenUnits",
    "decode_tags",
    "encode_spans",
    "misaligned_spans",
    "tagged_tokens",
]

Offset = tuple[int, int]


class SpanLike(Protocol):
    """Anything with a character range and a label: ``Span``, ``Entity``."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def label(self) -> str: ...


class LabelAlignmentError(ValueError):
    """Spans cannot be expressed as one BIO tag per token (overlaps, two spans in one token)."""


class _Units(NamedTuple):
    """What gets one tag, in token order: a token, or a whole word when only first
    sub-tokens are tagged. Parallel arrays, one entry per unit."""

    tokens: npt.NDArray[np.intp]  # the token that carries the tag
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    word_starts: npt.NDArray[np.int64]  # where the unit's word starts and ends: entities
    word_ends: npt.NDArray[np.int64]  # never begin or end inside a word


def _check_offsets(offsets: Sequence[Sequence[int]]) -> list[Offset]:
    checked = []
    for i, offset in enumerate(offsets):
        if len(offset) != 2:
            raise ValueError(f"offsets[{i}] must be a (start, end) pair, got {offset!r}")
        start, end = int(offset[0]), int(offset[1])
        if start < 0 or end < start:
            raise ValueError(f"offsets[{i}] {offset!r} must satisfy 0 <= start <= end")
        checked.append((start, end))
    return checked


def _offset_pairs(offsets: Sequence[Sequence[int]]) -> npt.NDArray[np.int64]:
    """``offsets`` as an ``(n, 2)`` array, accepted and rejected as ``_check_offsets`` does.

    One ``np.array`` call converts a list of int pairs in C instead of a Python loop over
    the document. Anything it does not give back as exact ints (floats, huge ints, ragged
    rows) or that fails the checks goes through ``_check_offsets``, which converts it the
    old way or raises naming the first bad token.
    """
    try:
        pairs = np.array(offsets)
    except (TypeError, ValueError):  # ragged rows
        pairs = np.empty(0)
    if (
        pairs.ndim != 2
        or pairs.shape[1] != 2
        or not np.can_cast(pairs.dtype, np.int64)
        or ((pairs[:, 0] < 0) | (pairs[:, 1] < pairs[:, 0])).any()
    ):
        return np.array(_check_offsets(offsets), dtype=np.int64).reshape(-1, 2)
    return pairs.astype(np.int64, copy=False)


def _is_none(values: npt.NDArray[np.object_]) -> npt.NDArray[np.bool_]:
    """Which elements of an object array are None, in one numpy comparison."""
    return values == None  # noqa: E711 - on an array, == compares each element


def _units(
    offsets: npt.NDArray[np.int64],
    word_ids: Sequence[int | None] | None,
    label_all_subtokens: bool,
) -> _Units:
    """Group checked ``(n, 2)`` offsets into tagged units; special tokens belong to none."""
    if word_ids is not None and len(word_ids) != len(offsets):
        raise ValueError(
            f"word_ids has {len(word_ids)} entries but offsets has {len(offsets)}; "
            "they must describe the same tokens"
        )
    starts, ends = offsets[:, 0], offsets[:, 1]
    special = ends <= starts
    if word_ids is None:
        same_word = starts[1:] == ends[:-1]
    else:
        words = np.fromiter(word_ids, dtype=object, count=len(word_ids))
        special |= _is_none(words)
        same_word = words[1:] == words[:-1]
    # Token i continues token i-1's word; a special token ends any word.
    same_word &= ~special[1:] & ~special[:-1]
    heads = ~special
    if not label_all_subtokens:
        heads[1:] &= ~same_word
    tokens = np.flatnonzero(heads)
    # A word runs from its first token's start to the furthest end of its tokens; each
    # special token is a word of its own.
    first = np.ones(len(starts), dtype=bool)
    first[1:] = ~same_word
    word_heads = np.flatnonzero(first)
    unit_word = (np.cumsum(first) - 1)[tokens]
    word_starts = starts[word_heads][unit_word]
    word_ends = np.maximum.reduceat(np.where(special, 0, ends), word_heads)[unit_word]
    if not label_all_subtokens:
        return _Units(tokens, word_starts, word_ends, word_starts, word_ends)
    if word_ids is None:  # words guessed from touching offsets would swallow punctuation
        return _Units(tokens, starts[tokens], ends[tokens], starts[tokens], ends[tokens])
    # Every sub-token is tagged, so a tag sequence can change inside a word ("Bengal" |
    # "##uru"); the word's edges let decoding give back whole words ("Bengaluru").
    return _Units(tokens, starts[tokens], ends[tokens], word_starts, word_ends)


def _sorted_spans(
    spans: Sequence[SpanLike], scheme: LabelScheme | Sequence[str] | None
) -> list[SpanLike]:
    known: set[str] | None = None
    if isinstance(scheme, LabelScheme):
        known = set(scheme.entity_types)
    elif scheme is not None:
        known = set(scheme)
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    for span in ordered:
        if span.end <= span.start or span.start < 0:
            raise ValueError(
                f"span ({span.start}, {span.end}, {span.label!r}) is empty or negative"
            )
        if known is not None and span.label not in known:
            raise ValueError(
                f"span ({span.start}, {span.end}, {span.label!r}) has a label outside the "
                f"scheme's entity types ({', '.join(sorted(known))})"
            )
    for first, second in pairwise(ordered):
        if second.start < first.end:
            raise LabelAlignmentError(
                f"spans ({first.start}, {first.end}, {first.label!r}) and ({second.start}, "
                f"{second.end}, {second.label!r}) overlap; BIO tags cannot represent that"
            )
    return ordered


def encode_spans(
    spans: Sequence[SpanLike],
    offsets: Sequence[Sequence[int]],
    scheme: LabelScheme | Sequence[str] | None = None,
    *,
    label_all_subtokens: bool,
    word_ids: Sequence[int | None] | None = None,
) -> list[str | None]:
    """One BIO tag per token for the gold ``spans``; ``None`` where the loss should ignore.

    A token (or word) is inside a span when their character ranges overlap. ``scheme``,
    when given, rejects spans whose label the model has no tags for.

    ``offsets`` may describe one window of a longer document: a span that began before the
    window's first token continues there with ``I-``, exactly as in the whole-document
    encoding, so windows and whole documents agree on every token they share. (The price:
    a span whose start lies in whitespace before the very first token is tagged ``I-``;
    trim spans on import.)

    Raises ``LabelAlignmentError`` for overlapping spans, or two spans in one token/word.
    """
    checked = _offset_pairs(offsets)
    ordered = _sorted_spans(spans, scheme)
    units = _units(checked, word_ids, label_all_subtokens)
    tags: list[str | None] = [None] * len(checked)
    if not units.tokens.size:
        return tags
    first_char = int(units.starts.min())
    starts = [s.start for s in ordered]
    ends = [s.end for s in ordered]
    opened: set[int] = set()
    kind = "token" if label_all_subtokens else "word"
    for token, unit_start, unit_end in zip(
        units.tokens.tolist(), units.starts.tolist(), units.ends.tolist(), strict=True
    ):
        lo = bisect_right(ends, unit_start)  # first span ending after the unit starts
        hi = bisect_left(starts, unit_end)  # spans from here on start after the unit ends
        if hi - lo > 1:
            a, b = ordered[lo], ordered[lo + 1]
            raise LabelAlignmentError(
                f"spans ({a.start}, {a.end}, {a.label!r}) and ({b.start}, {b.end}, {b.label!r}) "
                f"both fall in the {kind} at characters {unit_start}-{unit_end} (token "
                f"{token}); one tag cannot hold two entities"
            )
        if hi - lo < 1:
            tags[token] = OUTSIDE
            continue
        span = ordered[lo]
        continues = lo in opened or span.start < first_char
        tags[token] = f"{'I' if continues else 'B'}-{span.label}"
        opened.add(lo)
    return tags


def tagged_tokens(
    offsets: Sequence[Sequence[int]],
    *,
    label_all_subtokens: bool,
    word_ids: Sequence[int | None] | None = None,
) -> list[bool]:
    """Which tokens carry a tag: the ones ``encode_spans`` tags and ``decode_tags`` reads.

    Constrained decoding runs over exactly these, so a sub-token the model was never
    trained on cannot break an entity.
    """
    units = TokenUnits(offsets, label_all_subtokens=label_all_subtokens, word_ids=word_ids)
    return units.tagged.tolist()


def misaligned_spans(
    spans: Sequence[SpanLike],
    offsets: Sequence[Sequence[int]],
    *,
    label_all_subtokens: bool,
    word_ids: Sequence[int | None] | None = None,
) -> list[SpanLike]:
    """Spans whose edges fall inside a token (or word), so decoding cannot give them back.

    Data validation reports these: the model will learn, and predict, the widened span.
    """
    units = _units(_offset_pairs(offsets), word_ids, label_all_subtokens)
    starts = set(units.starts.tolist())
    ends = set(units.ends.tolist())
    return [s for s in spans if s.start not in starts or s.end not in ends]


def _check_confidences(confidences: Sequence[float], n_tokens: int) -> list[float]:
    if len(confidences) != n_tokens:
        raise ValueError(
            f"confidences has {len(confidences)} entries but there are {n_tokens} tags"
        )
    checked = list(map(float, confidences))
    values = np.array(checked, dtype=np.float64)
    bad = np.flatnonzero(~((values >= 0.0) & (values <= 1.0)))  # also catches NaN
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"confidences[{i}] = {checked[i]!r} is not a probability in [0, 1]")
    return checked


def _check_decode_inputs(
    tags: Sequence[str | None],
    offsets: npt.NDArray[np.int64],
    text: str,
    confidences: Sequence[float] | None,
) -> list[float] | None:
    """``decode_tags``'s argument checks, in its order; the checked confidences."""
    if len(tags) != len(offsets):
        raise ValueError(f"tags has {len(tags)} entries but offsets has {len(offsets)}")
    probs = None if confidences is None else _check_confidences(confidences, len(tags))
    past = np.flatnonzero(offsets[:, 1] > len(text))
    if past.size:
        i = int(past[0])
        offset = (int(offsets[i, 0]), int(offsets[i, 1]))
        raise ValueError(
            f"offsets[{i}] {offset} reaches past the end of the text (length {len(text)})"
        )
    return probs


def _decode(
    units: _Units,
    tags: Sequence[str | None],
    probs: list[float] | None,
    text: str,
    doc_offset: int,
) -> list[Entity]:
    """Entities from checked inputs; see ``decode_tags`` for the rules.

    Only units tagged ``B-``/``I-`` are visited one by one. Between two of them, what the
    token-by-token reading would do reduces to one fact, whether an ``O`` came between
    (it closes the open entity); ``None`` tags and untagged tokens change nothing. A
    running count of ``O`` units answers that without visiting them.
    """
    unit_tags = np.fromiter(tags, dtype=object, count=len(tags))[units.tokens]
    outside = unit_tags == OUTSIDE
    marked = np.flatnonzero(~outside & ~_is_none(unit_tags))
    outside_seen = np.cumsum(outside)[marked]
    entities: list[Entity] = []
    current: tuple[str, int, int, list[float]] | None = None  # type, start, end, confidences

    def close() -> None:
        if current is None:
            return
        label, start, end, scores = current
        if entities:  # a word split between two entities stays with the first
            start = max(start, entities[-1].end - doc_offset)
        piece = text[start:end]
        stripped = piece.lstrip()
        start += len(piece) - len(stripped)
        end = start + len(stripped.rstrip())
        if end <= start:
            return
        confidence = min(1.0, math.fsum(scores) / len(scores)) if scores else 1.0
        entities.append(
            Entity(
                text=text[start:end],
                label=label,
                start=start + doc_offset,
                end=end + doc_offset,
                confidence=confidence,
            )
        )

    closed_at = 0  # O units seen up to the previous B-/I- unit
    for tag, token, start, end, seen in zip(
        unit_tags[marked].tolist(),
        units.tokens[marked].tolist(),
        units.word_starts[marked].tolist(),
        units.word_ends[marked].tolist(),
        outside_seen.tolist(),
        strict=True,
    ):
        prefix, entity_type = split_tag(tag)
        assert entity_type is not None  # only "O" has no type, and O units are not marked
        score = [] if probs is None else [probs[token]]
        if (
            current is not None
            and seen == closed_at
            and prefix == "I"
            and current[0] == entity_type
        ):
            current[3].extend(score)
            current = (entity_type, current[1], end, current[3])
        else:
            close()
            current = (entity_type, start, end, score)
        closed_at = seen
    close()
    return entities


class TokenUnits:
    """One document's tokens, checked and grouped into tagged units once.

    ``tagged_tokens`` and ``decode_tags`` each check the offsets and group the tokens
    again; serving needs both for every document, so it builds this once per document
    and asks it for both. The answers are those of the two functions, errors included.
    """

    __slots__ = ("_offsets", "_units", "tagged")

    def __init__(
        self,
        offsets: Sequence[Sequence[int]],
        *,
        label_all_subtokens: bool,
        word_ids: Sequence[int | None] | None = None,
    ) -> None:
        self._offsets = _offset_pairs(offsets)
        self._units = _units(self._offsets, word_ids, label_all_subtokens)
        tagged = np.zeros(len(self._offsets), dtype=bool)
        tagged[self._units.tokens] = True
        tagged.flags.writeable = False
        self.tagged: npt.NDArray[np.bool_] = tagged
        """Which tokens carry a tag: ``tagged_tokens``' answer, as a read-only array."""

    def decode(
        self,
        tags: Sequence[str | None],
        text: str,
        *,
        confidences: Sequence[float] | None = None,
        doc_offset: int = 0,
    ) -> list[Entity]:
        """``decode_tags`` over these tokens."""
        probs = _check_decode_inputs(tags, self._offsets, text, confidences)
        return _decode(self._units, tags, probs, text, doc_offset)


def decode_tags(
    tags: Sequence[str | None],
    offsets: Sequence[Sequence[int]],
    text: str,
    *,
    confidences: Sequence[float] | None = None,
    word_ids: Sequence[int | None] | None = None,
    label_all_subtokens: bool = True,
    doc_offset: int = 0,
) -> list[Entity]:
    """Entities from per-token tags, with character offsets into ``text``.

    ``label_all_subtokens`` must match how the model was trained: with ``False`` only the
    first token of each word is read (the others were never trained) and an entity runs to
    the end of its last word.

    Invalid sequences are decoded leniently, like seqeval's default mode and conlleval:
    ``I-X`` after ``O``, after another type or at the start opens a new ``X`` entity
    instead of being dropped, so a model that misses one ``B-`` still yields the entity.
    ``None`` tags and special tokens are skipped without ending an entity.

    An entity spans ``[first token start, last token end)`` trimmed of surrounding
    whitespace; with ``label_all_subtokens`` and ``word_ids`` it spans whole words, because
    tags may change inside a word and a user wants "Bengaluru", not "Bengal" (a word split
    between two entities stays with the first). Its confidence is the mean of
    ``confidences`` (probability of each chosen tag) over its tagged tokens, 1.0 when none
    are given. ``doc_offset`` is added to the returned offsets when ``text`` is a piece of a
    larger document.
    """
    checked = _offset_pairs(offsets)
    probs = _check_decode_inputs(tags, checked, text, confidences)
    units = _units(checked, word_ids, label_all_subtokens)
    return _decode(units, tags, probs, text, doc_offset)
