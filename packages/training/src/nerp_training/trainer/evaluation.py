"""Whole-document entity metrics from window predictions.

The Trainer predicts windows; scoring windows would count an entity cut by a window
edge twice, or as two halves, and make the score depend on the window size. So the
predicted tags of a document's windows are merged first (``nerp_infra``'s max-context
rule, the one serving uses) and the document is scored as a whole, at the tokens that
carry gold tags (first sub-tokens, unless every sub-token is labelled).

Under DDP the Trainer gathers every rank's predictions (in dataset order, duplicates
from uneven sharding dropped) before calling :class:`DocumentEvaluator`, so each rank
scores all documents and the metrics are over all ranks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import EvalPrediction

from nerp_infra.labels import LabelScheme, TokenPredictions, WindowPrediction, viterbi_batch
from nerp_infra.labels import merge_window_predictions as _merge
from nerp_training.data.alignment import EncodedDocument, WindowFeatures
from nerp_training.metrics import EntityMetrics, entity_metrics

__all__ = [
    "DocumentEvaluator",
    "merge_document_predictions",
    "score_documents",
    "softmax_logits",
]


def softmax_logits(logits: Any, labels: Any) -> torch.Tensor:
    """Per-token label probabilities in float32 (bf16 logits included): the evaluator
    decodes them with the BIO-constrained Viterbi that serving uses, which needs every
    label's probability, not only the best id."""
    if isinstance(logits, tuple | list):
        logits = logits[0]
    return torch.softmax(logits.float(), dim=-1)


def merge_document_predictions(
    encoded: Sequence[EncodedDocument],
    windows: Sequence[WindowFeatures],
    window_predictions: Sequence[tuple[Sequence[str | None], Sequence[float]]],
) -> list[TokenPredictions]:
    """One tag (and confidence) per content token of each document, windows merged."""
    if len(windows) != len(window_predictions):
        raise ValueError(
            f"got predictions for {len(window_predictions)} windows but there are "
            f"{len(windows)}; predictions must follow the windows' order"
        )
    per_doc: list[list[WindowPrediction]] = [[] for _ in encoded]
    position = {doc.doc_index: i for i, doc in enumerate(encoded)}
    for window, (tags, confidences) in zip(windows, window_predictions, strict=True):
        per_doc[position[window.doc_index]].append(
            WindowPrediction(window.token_start, window.token_end, tags, confidences)
        )
    merged = []
    for doc, doc_windows in zip(encoded, per_doc, strict=True):
        if doc.n_tokens == 0:
            merged.append(TokenPredictions([], []))
        else:
            merged.append(_merge(doc_windows, doc.n_tokens))
    return merged


def score_documents(
    encoded: Sequence[EncodedDocument], predicted: Sequence[TokenPredictions]
) -> EntityMetrics:
    """seqeval strict scores of whole documents, at the tokens that carry gold tags."""
    y_true: list[list[str]] = []
    y_pred: list[list[str]] = []
    for doc, prediction in zip(encoded, predicted, strict=True):
        if doc.tags is None:
            raise ValueError(f"document {doc.doc_id!r} has no gold tags to score against")
        gold: list[str] = []
        guess: list[str] = []
        for position, tag in enumerate(doc.tags):
            if tag is None:
                continue
            gold.append(tag)
            guess.append(prediction.tags[position] or "O")
        y_true.append(gold)
        y_pred.append(guess)
    return entity_metrics(y_true, y_pred)


class DocumentEvaluator:
    """``compute_metrics`` for the Trainer: window probabilities in, document metrics out.

    Each window is decoded like serving decodes it (Viterbi over the tagged tokens, an
    ``I-`` allowed first only where the window starts inside the document), so the
    validation F1 that picks the best epoch is the F1 the served model has.

    ``last`` keeps the latest flat metrics so callbacks can report them without picking
    them out of the Trainer's prefixed log.
    """

    def __init__(
        self,
        encoded: Sequence[EncodedDocument],
        windows: Sequence[WindowFeatures],
        scheme: LabelScheme,
    ) -> None:
        self.encoded = list(encoded)
        self.windows = list(windows)
        self.scheme = scheme
        self.tagged = {
            doc.doc_index: [tag is not None for tag in doc.tags or ()] for doc in self.encoded
        }
        self.last: dict[str, float] = {}

    def __call__(self, prediction: EvalPrediction) -> dict[str, float]:
        probs = prediction.predictions
        if isinstance(probs, tuple | list):
            probs = probs[0]
        probs = np.asarray(probs)
        if probs.shape[0] != len(self.windows):
            raise RuntimeError(
                f"the Trainer returned predictions for {probs.shape[0]} windows, expected "
                f"{len(self.windows)}; whole-document metrics need every window once"
            )
        width = max((w.n_content for w in self.windows), default=0)
        content = np.zeros((len(self.windows), width, len(self.scheme.labels)))
        tagged = np.zeros((len(self.windows), width), dtype=bool)
        for index, (row, window) in enumerate(zip(probs, self.windows, strict=True)):
            rows = row[window.content_start : window.content_start + window.n_content]
            if rows.shape[0] != window.n_content or (rows < 0).any():
                raise RuntimeError(
                    f"predictions for a window of document {window.doc_id!r} are shorter than "
                    "the window; the evaluation order does not match the windows"
                )
            content[index, : window.n_content] = rows
            marks = self.tagged[window.doc_index][window.token_start : window.token_end]
            tagged[index, : window.n_content] = marks
        ids, confidences = viterbi_batch(
            content,
            self.scheme,
            tagged=tagged,
            continues=[window.token_start > 0 for window in self.windows],
        )
        labels = self.scheme.labels
        per_window: list[tuple[list[str | None], list[float]]] = [
            (
                [labels[i] for i in ids[index, : window.n_content].tolist()],
                confidences[index, : window.n_content].tolist(),
            )
            for index, window in enumerate(self.windows)
        ]
        merged = merge_document_predictions(self.encoded, self.windows, per_window)
        self.last = score_documents(self.encoded, merged).as_flat_dict()
        return dict(self.last)
