"""PyTorch inference on a saved model directory, with serving's windows and decoding.

The same steps as nerp-deploy's engine (content tokens, ``plan_windows``, the
tokenizer's special tokens around each window, softmax, BIO-constrained Viterbi,
max-context merging, ``decode_tags``), only with the PyTorch model instead of ONNX, so
nerp-eval can score a checkpoint and compare it with its ONNX conversion on equal terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from nerp_infra.documents import Document, Entity
from nerp_infra.labels import TokenPredictions, decode_tags, tagged_tokens, viterbi_tags
from nerp_training.data.alignment import (
    EncodedDocument,
    WindowFeatures,
    document_windows,
    encode_documents,
    special_tokens,
)
from nerp_training.metrics import EntityMetrics
from nerp_training.trainer.checkpoint import LoadedModel, load_model_dir
from nerp_training.trainer.evaluation import merge_document_predictions, score_documents

__all__ = ["evaluate_model", "predict_documents", "predict_tokens"]


def _as_documents(docs: Sequence[Document | str]) -> list[Document]:
    return [
        doc if isinstance(doc, Document) else Document(id=f"text-{i}", text=doc)
        for i, doc in enumerate(docs)
    ]


def _pad_id(loaded: LoadedModel) -> int:
    pad = loaded.tokenizer.pad_token_id
    return int(pad) if pad is not None else 0  # padded positions are masked out anyway


@torch.inference_mode()
def _window_predictions(
    loaded: LoadedModel,
    windows: Sequence[WindowFeatures],
    batch_size: int,
    tagged: dict[int, list[bool]],
) -> list[tuple[list[str | None], list[float]]]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model = loaded.model
    model.eval()
    device = next(model.parameters()).device
    pad_id = _pad_id(loaded)
    results: list[tuple[list[str | None], list[float]] | None] = [None] * len(windows)
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i].input_ids))
    for first in range(0, len(order), batch_size):
        chunk = order[first : first + batch_size]
        width = len(windows[chunk[0]].input_ids)
        input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, index in enumerate(chunk):
            ids = windows[index].input_ids
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention[row, : len(ids)] = 1
        logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits
        probs = torch.softmax(logits.float(), dim=-1)
        for row, index in enumerate(chunk):
            window = windows[index]
            lo, hi = window.content_start, window.content_start + window.n_content
            tags, scores = viterbi_tags(
                probs[row, lo:hi].tolist(),
                loaded.scheme,
                tagged=tagged[window.doc_index][window.token_start : window.token_end],
                continues=window.token_start > 0,
            )
            results[index] = (tags, scores)
    return [r for r in results if r is not None]


def predict_tokens(
    loaded: LoadedModel,
    docs: Sequence[Document | str],
    *,
    batch_size: int = 16,
    with_gold: bool = False,
) -> list[tuple[EncodedDocument, TokenPredictions]]:
    """Each document's encoding and merged per-token predictions (gold tags if asked)."""
    documents = _as_documents(docs)
    settings = loaded.settings
    encoded = encode_documents(
        documents,
        loaded.tokenizer,
        loaded.scheme if with_gold else None,
        label_all_subtokens=settings.label_all_subtokens,
    )
    windows = document_windows(
        encoded,
        max_length=settings.max_length,
        stride=settings.stride,
        special=special_tokens(loaded.tokenizer),
    )
    tagged = {
        enc.doc_index: tagged_tokens(
            enc.offsets, word_ids=enc.word_ids, label_all_subtokens=settings.label_all_subtokens
        )
        for enc in encoded
    }
    merged = merge_document_predictions(
        encoded, windows, _window_predictions(loaded, windows, batch_size, tagged)
    )
    return list(zip(encoded, merged, strict=True))


def predict_documents(
    model_dir: str | Path, docs: Sequence[Document | str], *, batch_size: int = 16
) -> list[list[Entity]]:
    """Entities per document (character offsets into its text, with confidences).

    ``model_dir`` is a model artifact or its ``model/`` folder; ``batch_size`` counts
    windows, so memory stays bounded however long the documents are.
    """
    loaded = load_model_dir(model_dir)
    return [
        decode_tags(
            tokens.tags,
            enc.offsets,
            enc.text,
            confidences=tokens.confidences,
            word_ids=enc.word_ids,
            label_all_subtokens=loaded.settings.label_all_subtokens,
        )
        for enc, tokens in predict_tokens(loaded, docs, batch_size=batch_size)
    ]


def evaluate_model(
    model_dir: str | Path, docs: Sequence[Document], *, batch_size: int = 16
) -> EntityMetrics:
    """Whole-document entity metrics (seqeval strict) of a saved model on gold documents."""
    loaded = load_model_dir(model_dir)
    pairs = predict_tokens(loaded, docs, batch_size=batch_size, with_gold=True)
    return score_documents([enc for enc, _ in pairs], [tokens for _, tokens in pairs])
