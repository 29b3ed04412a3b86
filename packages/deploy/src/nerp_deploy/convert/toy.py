"""A small, quickly trained token-classification checkpoint in the model-artifact layout.

Tests, the slim nox session and the benchmarks need a real checkpoint to convert without
downloading weights or importing nerp-training. The model learns the synthetic data's
rule for a few dozen steps, which makes its predictions decisive: the int8 parity gate
then measures quantisation error, not the argmax noise of near-zero random logits.

Its tokenizer is the ``tiny`` backbone's (:mod:`nerp_infra.wordpiece`, shared with
nerp-training); the BERT it sizes and the few dozen optimiser steps are its own, since
nerp-deploy must not import nerp-training's backbones or trainer.

Run as a module to write one: ``python -m nerp_deploy.convert.toy OUT_DIR``.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    BertConfig,
    BertForTokenClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from nerp_deploy.convert.synthetic import ENTITY_TYPES, synthetic_documents
from nerp_infra.artifacts.kinds import MODEL_KIND
from nerp_infra.artifacts.manifest import Manifest, new_artifact_id, write_manifest
from nerp_infra.labels import (
    IGNORE_INDEX,
    LabelScheme,
    encode_spans,
    plan_windows,
    special_template,
)
from nerp_infra.model_files import CHECKPOINT_DIR, InferenceSettings, write_inference_settings
from nerp_infra.wordpiece import TOKEN_ROLES, tiny_wordpiece

__all__ = ["build_toy_checkpoint"]

_TOY_STAGE = "toy_training"
"""Artifact stage of a toy checkpoint (a test fixture, not a pipeline stage)."""


def _training_rows(
    tokenizer: Tokenizer,
    scheme: LabelScheme,
    *,
    n_documents: int,
    seed: int,
    max_length: int,
    stride: int,
    label_all_subtokens: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows of synthetic documents as padded ids, mask and label ids (like training)."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    prefix, suffix = special_template(tokenizer)
    max_tokens = max_length - len(prefix) - len(suffix)
    docs = synthetic_documents(n_documents, seed=seed, max_sections=12)
    rows: list[tuple[list[int], list[int]]] = []
    for doc in docs:
        enc = tokenizer.encode(doc.text, add_special_tokens=False)
        for start, end in plan_windows(len(enc.ids), max_tokens, stride):
            tags = encode_spans(
                doc.spans,
                enc.offsets[start:end],
                scheme,
                label_all_subtokens=label_all_subtokens,
                word_ids=enc.word_ids[start:end],
            )
            ids = [*prefix, *enc.ids[start:end], *suffix]
            labels = [
                *[IGNORE_INDEX] * len(prefix),
                *scheme.tags_to_ids(tags),
                *[IGNORE_INDEX] * len(suffix),
            ]
            rows.append((ids, labels))
    width = max(len(ids) for ids, _ in rows)
    input_ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    label_ids = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
    for i, (ids, labels) in enumerate(rows):
        input_ids[i, : len(ids)] = ids
        mask[i, : len(ids)] = 1
        label_ids[i, : len(labels)] = labels
    return input_ids, mask, label_ids


def _train(
    model: PreTrainedModel,
    optimiser: torch.optim.Optimizer,
    input_ids: np.ndarray,
    mask: np.ndarray,
    labels: np.ndarray,
    steps: int,
    batch_size: int,
    generator: np.random.Generator,
) -> float:
    loss_value = float("nan")
    for _ in range(steps):
        rows = generator.choice(len(input_ids), size=min(batch_size, len(input_ids)), replace=False)
        width = int(mask[rows].sum(axis=1).max())
        output = model(
            input_ids=torch.from_numpy(input_ids[rows, :width]),
            attention_mask=torch.from_numpy(mask[rows, :width]),
            labels=torch.from_numpy(labels[rows, :width]),
        )
        optimiser.zero_grad()
        output.loss.backward()
        optimiser.step()
        loss_value = float(output.loss.detach())
    return loss_value


def build_toy_checkpoint(
    out_dir: str | Path,
    *,
    hidden_size: int = 48,
    num_layers: int = 2,
    max_length: int = 64,
    stride: int = 16,
    steps: int = 80,
    batch_size: int = 16,
    learning_rate: float | None = None,
    n_documents: int = 160,
    label_all_subtokens: bool = False,
    seed: int = 0,
    base_model: str | Path | None = None,
) -> Path:
    """Train a small NER model on synthetic resumes and write a model artifact to ``out_dir``.

    ``base_model`` (a local Hugging Face checkpoint, e.g. the packaged MiniLM) replaces
    the random tiny BERT and its WordPiece tokenizer trained on synthetic resumes
    (:func:`nerp_infra.wordpiece.tiny_wordpiece`, the tiny backbone's, so the same seed
    gives the same tokenizer and model in every process). Returns ``out_dir``,
    which holds ``nerp.json`` (kind ``model``) and ``model/`` with ``inference.json``.
    """
    out = Path(out_dir)
    model_dir = out / CHECKPOINT_DIR
    model_dir.mkdir(parents=True, exist_ok=True)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    scheme = LabelScheme(ENTITY_TYPES)
    id2label = dict(enumerate(scheme.labels))
    label2id = scheme.label2id
    model: PreTrainedModel
    fast: PreTrainedTokenizerBase
    if base_model is None:
        texts = [d.text for d in synthetic_documents(400, seed=seed + 7)]
        tokenizer = tiny_wordpiece(texts, vocab_size=400)
        fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, **TOKEN_ROLES)
        config = BertConfig(
            vocab_size=tokenizer.get_vocab_size(),
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=2,
            intermediate_size=hidden_size * 2,
            max_position_embeddings=max(max_length, 64),
            id2label=id2label,
            label2id=label2id,
        )
        model = BertForTokenClassification(config)
        backbone = "tiny-bert"
        lr = learning_rate or 5e-3
    else:
        base = Path(base_model)
        tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
        fast = AutoTokenizer.from_pretrained(base)
        model = AutoModelForTokenClassification.from_pretrained(
            base, num_labels=len(scheme), id2label=id2label, label2id=label2id
        )
        backbone = base.name
        lr = learning_rate or 1e-4
    input_ids, mask, labels = _training_rows(
        tokenizer,
        scheme,
        n_documents=n_documents,
        seed=seed,
        max_length=max_length,
        stride=stride,
        label_all_subtokens=label_all_subtokens,
    )
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    generator = np.random.default_rng(seed)
    model.train()
    threads = torch.get_num_threads()
    if base_model is None:
        # Tiny matrices: thread start-up costs more than the maths, and on a shared CPU
        # several threads per process make each step tens of times slower.
        torch.set_num_threads(1)
    try:
        loss_value = _train(model, optimiser, input_ids, mask, labels, steps, batch_size, generator)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(model_dir)
    fast.model_max_length = max_length  # what Hugging Face pipelines window by
    fast.save_pretrained(model_dir)
    settings = InferenceSettings(
        labels=scheme.labels,
        max_length=max_length,
        stride=stride,
        label_all_subtokens=label_all_subtokens,
        backbone=backbone,
    )
    write_inference_settings(model_dir, settings)
    manifest = Manifest(
        kind=MODEL_KIND,
        id=new_artifact_id(MODEL_KIND),
        stage=_TOY_STAGE,
        backbone=backbone,
        key=f"toy-seed{seed}",
        variant=1,
        config={"steps": steps, "hidden_size": hidden_size, "num_layers": num_layers},
        metrics={"final_loss": loss_value},
        status="complete",
    )
    write_manifest(out, manifest)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-model", type=Path, default=None)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--label-all-subtokens", action="store_true")
    args = parser.parse_args(argv)
    out = build_toy_checkpoint(
        args.out_dir,
        steps=args.steps,
        seed=args.seed,
        base_model=args.base_model,
        max_length=args.max_length,
        stride=args.stride,
        label_all_subtokens=args.label_all_subtokens,
    )
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
