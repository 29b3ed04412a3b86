"""Tokenise documents, align their gold spans to BIO tags and cut them into model windows.

Training, evaluation and PyTorch inference all start here, and the cuts are the ones
serving makes: each document is tokenised once *without* special tokens (the fast
tokenizer's Rust backend, exactly as nerp-deploy's engine does), its content tokens are
cut with ``nerp_infra.labels.plan_windows`` into windows of ``max_length`` minus the
special tokens, and the tokenizer's own special tokens (read off a probe encoding, so
``[CLS] … [SEP]`` and ``<s> … </s>`` both work) are put around each window.

Gold tags come from ``nerp_infra.labels.encode_spans`` over the *whole* document and are
then sliced per window, so every entity is kept, an entity crossing a window seam is
tagged ``B-`` once and continues with ``I-`` in the next window, and evaluation (which
scores whole documents) sees exactly the tags the loss was trained on.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from tokenizers import Tokenizer

from nerp_infra.documents import Document, Entity
from nerp_infra.labels import (
    IGNORE_INDEX,
    LabelScheme,
    encode_spans,
    plan_windows,
    propagate_repeats,
    special_template,
)
from nerp_training.data.records import DataError

__all__ = [
    "EncodedDocument",
    "SpecialTokens",
    "WindowFeatures",
    "backend_tokenizer",
    "document_windows",
    "encode_documents",
    "special_tokens",
    "tokenize_documents",
    "unmarked_mentions",
]


def backend_tokenizer(tokenizer: Any) -> Tokenizer:
    """The ``tokenizers.Tokenizer`` behind a transformers fast tokenizer, never truncating.

    A truncating or padding backend would silently cut long resumes before windowing, so
    such a backend is copied with truncation and padding switched off.
    """
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if not isinstance(backend, Tokenizer):
        raise TypeError(
            f"expected a fast tokenizer (transformers fast tokenizer or tokenizers.Tokenizer), "
            f"got {type(tokenizer).__name__}; labels are aligned through character offsets, "
            "which only fast tokenizers report"
        )
    if backend.truncation is not None or backend.padding is not None:
        backend = Tokenizer.from_str(backend.to_str())
        backend.no_truncation()
        backend.no_padding()
    return backend


@dataclass(frozen=True)
class SpecialTokens:
    """Token ids the model expects before and after a window's content tokens."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.suffix)


def special_tokens(tokenizer: Any) -> SpecialTokens:
    """The special tokens the tokenizer's post-processor adds around one sequence.

    Read off a probe encoding (the way nerp-deploy reads them from ``tokenizer.json``),
    so training windows and serving windows are built identically.
    """
    prefix, suffix = special_template(backend_tokenizer(tokenizer))
    return SpecialTokens(tuple(prefix), tuple(suffix))


@dataclass(frozen=True)
class EncodedDocument:
    """A whole document's content tokens (no special tokens) and their gold tags.

    ``tags`` holds one BIO tag per token, ``None`` where the loss ignores the token
    (non-first sub-tokens unless every sub-token is labelled); it is ``None`` altogether
    when the document was encoded for prediction only.
    """

    doc_id: str
    doc_index: int
    text: str
    input_ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    word_ids: tuple[int | None, ...]
    tags: tuple[str | None, ...] | None

    @property
    def n_tokens(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class WindowFeatures:
    """One model row: a window of a document with special tokens and label ids.

    ``token_start``/``token_end`` are the window's content tokens in the document's token
    sequence (what ``merge_window_predictions`` needs); the content sits at positions
    ``content_start`` to ``content_start + token_end - token_start`` of ``input_ids``.
    ``offsets`` are the content tokens' character ranges in the document text.
    """

    input_ids: list[int]
    attention_mask: list[int]
    labels: list[int]
    doc_id: str
    doc_index: int
    token_start: int
    token_end: int
    offsets: list[tuple[int, int]]
    content_start: int

    @property
    def n_content(self) -> int:
        return self.token_end - self.token_start

    def model_inputs(self) -> dict[str, list[int]]:
        """What the model and the padding collator take (no bookkeeping fields)."""
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "labels": self.labels,
        }


def unmarked_mentions(doc: Document, types: Collection[str]) -> list[tuple[int, int]]:
    """Character ranges holding the exact text of a gold entity of ``types`` that no gold
    span covers.

    Resume annotators mark some mentions of an employer or a city and leave others out;
    these ranges are the ones they left out (word edges, at least
    ``nerp_infra.labels.MIN_REPEAT_CHARS`` characters, overlapping no gold span).
    """
    gold = [
        Entity(text=doc.span_text(s), label=s.label, start=s.start, end=s.end, confidence=1.0)
        for s in doc.spans
    ]
    marked = {(e.start, e.end) for e in gold}
    everywhere = propagate_repeats(doc.text, gold, types)
    return [(e.start, e.end) for e in everywhere if (e.start, e.end) not in marked]


def _without_loss(
    tags: list[str | None], offsets: Sequence[tuple[int, int]], ranges: Sequence[tuple[int, int]]
) -> list[str | None]:
    """``tags`` with the tokens overlapping ``ranges`` untagged (offsets are in text order)."""
    starts = [a for a, _ in offsets]
    ends = [b for _, b in offsets]
    for start, end in ranges:
        for i in range(bisect_right(ends, start), bisect_left(starts, end)):
            tags[i] = None
    return tags


def encode_documents(
    docs: Sequence[Document],
    tokenizer: Any,
    scheme: LabelScheme | None = None,
    *,
    label_all_subtokens: bool,
    ignore_unmarked: Collection[str] = (),
) -> list[EncodedDocument]:
    """Tokenise whole documents; with ``scheme``, align their spans to gold BIO tags.

    The tokens of ``unmarked_mentions`` of the types in ``ignore_unmarked`` get no tag
    (no loss) instead of ``O`` (``train.ignore_unmarked``).

    Raises DataError naming the document when its spans cannot be expressed in BIO tags
    (overlapping spans, two entities inside one token or word) or use a label the scheme
    does not have.
    """
    backend = backend_tokenizer(tokenizer)
    encodings = backend.encode_batch([doc.text for doc in docs], add_special_tokens=False)
    encoded: list[EncodedDocument] = []
    for index, (doc, enc) in enumerate(zip(docs, encodings, strict=True)):
        offsets = tuple((int(a), int(b)) for a, b in enc.offsets)
        word_ids = tuple(enc.word_ids)
        tags: tuple[str | None, ...] | None = None
        if scheme is not None:
            try:
                gold_tags = encode_spans(
                    doc.spans,
                    offsets,
                    scheme,
                    label_all_subtokens=label_all_subtokens,
                    word_ids=word_ids,
                )
            except ValueError as exc:  # LabelAlignmentError is a ValueError
                raise DataError(
                    f"document {doc.id!r} (index {index}): {exc}; run `nerp data validate` "
                    "to find and fix such spans",
                    field="spans",
                ) from exc
            if ignore_unmarked:
                ranges = unmarked_mentions(doc, ignore_unmarked)
                gold_tags = _without_loss(gold_tags, offsets, ranges)
            tags = tuple(gold_tags)
        encoded.append(
            EncodedDocument(
                doc_id=doc.id,
                doc_index=index,
                text=doc.text,
                input_ids=tuple(enc.ids),
                offsets=offsets,
                word_ids=word_ids,
                tags=tags,
            )
        )
    return encoded


def _check_window(max_length: int, stride: int, special: SpecialTokens) -> int:
    max_tokens = max_length - special.count
    if max_tokens < 1 or stride >= max_tokens:
        raise ValueError(
            f"model.max_length {max_length} leaves {max_tokens} content tokens after "
            f"{special.count} special tokens, which must be more than model.stride {stride}; "
            "raise max_length or lower stride"
        )
    return max_tokens


def document_windows(
    encoded: Sequence[EncodedDocument],
    *,
    max_length: int,
    stride: int,
    special: SpecialTokens,
    scheme: LabelScheme | None = None,
) -> list[WindowFeatures]:
    """Cut encoded documents into overlapping windows (documents in order, windows in order).

    A document without tokens has no window. Labels are ``-100`` for special tokens and
    for tokens whose gold tag is ``None``; without ``scheme`` (prediction) all are -100.
    """
    max_tokens = _check_window(max_length, stride, special)
    label2id = scheme.label2id if scheme is not None else {}
    prefix, suffix = list(special.prefix), list(special.suffix)
    ignore_prefix, ignore_suffix = [IGNORE_INDEX] * len(prefix), [IGNORE_INDEX] * len(suffix)
    windows: list[WindowFeatures] = []
    for doc in encoded:
        if scheme is not None and doc.tags is None:
            raise ValueError(f"document {doc.doc_id!r} was encoded without gold tags")
        for start, end in plan_windows(doc.n_tokens, max_tokens, stride):
            ids = [*prefix, *doc.input_ids[start:end], *suffix]
            if scheme is not None and doc.tags is not None:
                content = [
                    IGNORE_INDEX if tag is None else label2id[tag] for tag in doc.tags[start:end]
                ]
            else:
                content = [IGNORE_INDEX] * (end - start)
            windows.append(
                WindowFeatures(
                    input_ids=ids,
                    attention_mask=[1] * len(ids),
                    labels=[*ignore_prefix, *content, *ignore_suffix],
                    doc_id=doc.doc_id,
                    doc_index=doc.doc_index,
                    token_start=start,
                    token_end=end,
                    offsets=list(doc.offsets[start:end]),
                    content_start=len(prefix),
                )
            )
    return windows


def tokenize_documents(
    docs: Sequence[Document],
    tokenizer: Any,
    scheme: LabelScheme,
    *,
    max_length: int,
    stride: int,
    label_all_subtokens: bool,
) -> list[WindowFeatures]:
    """Training features: every document's windows with label ids (``-100`` = ignored).

    ``max_length`` counts the special tokens, as ``model.max_length`` does; consecutive
    windows share ``stride`` content tokens.
    """
    encoded = encode_documents(docs, tokenizer, scheme, label_all_subtokens=label_all_subtokens)
    return document_windows(
        encoded,
        max_length=max_length,
        stride=stride,
        special=special_tokens(tokenizer),
        scheme=scheme,
    )
