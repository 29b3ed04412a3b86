"""From texts to entities for any backend that maps token ids to logits.

The ONNX engine and the PyTorch reference used by the parity check and the benchmarks
run through this same code (tokenisation, windows, merging, BIO decoding), so when they
disagree the difference is the model backend and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nerp_deploy.windowing import EncodedText, WindowBatch, WindowTokenizer
from nerp_infra.documents import Entity
from nerp_infra.labels import (
    LabelScheme,
    TokenPredictions,
    TokenUnits,
    WindowPrediction,
    confident,
    join_fragments,
    merge_lists,
    merge_window_predictions,
    propagate_repeats,
    section_entities,
    viterbi_batch,
)
from nerp_infra.model_files import InferenceSettings

__all__ = ["BATCH_TOKENS", "DocumentPrediction", "LogitsFn", "Predictor", "softmax"]

BATCH_TOKENS = 4096
"""Tokens per model call when no ``batch_size`` is given: rows = ``BATCH_TOKENS // max_length``.

A fixed row count would make a model of 64-token windows pay the per-call cost (the
session run, one Viterbi step per token position) four times as often as one of 256 for
the same text. At 256 tokens it is the 16 rows that were the default before."""

LogitsFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(input_ids [B, T], attention_mask [B, T]) -> logits [B, T, n_labels]``."""


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, in float32."""
    shifted = logits.astype(np.float32, copy=False) - logits.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


@dataclass(frozen=True)
class DocumentPrediction:
    """One text's merged token predictions and decoded entities."""

    encoded: EncodedText
    tokens: TokenPredictions
    entities: list[Entity]


class Predictor:
    """Windows, batches, merges and decodes; the backend only supplies logits."""

    def __init__(
        self, tokenizer: WindowTokenizer, settings: InferenceSettings, logits_fn: LogitsFn
    ) -> None:
        self.tokenizer = tokenizer
        self.settings = settings
        self.scheme = LabelScheme.from_labels(settings.labels)
        self._logits_fn = logits_fn

    @property
    def default_batch_size(self) -> int:
        """Rows per model call when none is asked for: ``BATCH_TOKENS`` worth of windows."""
        return max(1, BATCH_TOKENS // self.settings.max_length)

    def run_batch(self, batch: WindowBatch) -> np.ndarray:
        """Logits of one padded batch, checked against the label count."""
        logits = np.asarray(self._logits_fn(batch.input_ids, batch.attention_mask))
        expected = (*batch.input_ids.shape, len(self.settings.labels))
        if logits.shape != expected:
            raise ValueError(
                f"the model returned logits of shape {logits.shape}, expected {expected} "
                f"(batch, sequence, {len(self.settings.labels)} labels from inference.json)"
            )
        return logits

    def predict_documents(
        self, texts: Sequence[str], batch_size: int | None = None
    ) -> list[DocumentPrediction]:
        """Full predictions (tokens and entities) for many texts, batched across texts.

        ``batch_size`` counts model rows (windows); default ``default_batch_size``.
        """
        encoded = self.tokenizer.encode(texts)
        windows = self.tokenizer.windows(encoded)
        per_doc: list[list[WindowPrediction]] = [[] for _ in encoded]
        # Each document's offsets are checked and grouped once, for the tagged-token mask
        # of constrained decoding and for reading entities back out of the tags.
        units = [
            TokenUnits(
                enc.offsets,
                word_ids=enc.word_ids,
                label_all_subtokens=self.settings.label_all_subtokens,
            )
            for enc in encoded
        ]
        labels = np.array(self.scheme.labels, dtype=object)  # ids to tags in one indexing
        rows = self.default_batch_size if batch_size is None else batch_size
        for batch in self.tokenizer.batches(encoded, windows, rows):
            probs = softmax(self.run_batch(batch))
            start = batch.content_start
            width = max(window.size for window in batch.windows)
            mask = np.zeros((len(batch.windows), width), dtype=bool)
            for row, window in enumerate(batch.windows):
                mask[row, : window.size] = units[window.doc].tagged[window.start : window.end]
            ids, confidences = viterbi_batch(
                probs[:, start : start + width],
                self.scheme,
                tagged=mask,
                continues=[window.start > 0 for window in batch.windows],
            )
            for row, window in enumerate(batch.windows):
                per_doc[window.doc].append(
                    WindowPrediction(
                        window.start,
                        window.end,
                        labels[ids[row, : window.size]].tolist(),
                        confidences[row, : window.size].tolist(),
                    )
                )
        results = []
        for enc, doc_units, doc_windows in zip(encoded, units, per_doc, strict=True):
            if enc.n_tokens == 0:
                results.append(DocumentPrediction(enc, TokenPredictions([], []), []))
                continue
            tokens = merge_window_predictions(doc_windows, enc.n_tokens)
            entities = doc_units.decode(tokens.tags, enc.text, confidences=tokens.confidences)
            if self.settings.join_types:
                entities = join_fragments(enc.text, entities, self.settings.join_types)
            if self.settings.min_confidence:
                entities = confident(entities, self.settings.min_confidence)
            if self.settings.entity_filter is not None:
                entities = self.settings.entity_filter.apply(enc.text, entities)
            if self.settings.section_types:
                entities = section_entities(enc.text, entities, self.settings.section_types)
            if self.settings.repeat_types:
                entities = propagate_repeats(enc.text, entities, self.settings.repeat_types)
            if self.settings.merge_types:
                entities = merge_lists(enc.text, entities, self.settings.merge_types)
            results.append(DocumentPrediction(enc, tokens, entities))
        return results

    def predict_batch(
        self, texts: Sequence[str], batch_size: int | None = None
    ) -> list[list[Entity]]:
        return [doc.entities for doc in self.predict_documents(texts, batch_size)]

    def predict(self, text: str) -> list[Entity]:
        return self.predict_batch([text])[0]
