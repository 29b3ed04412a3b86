"""Refit: train the best trial's configuration once more, on all of the CV documents.

The trials' models were each trained on part of the data; the study's deliverable is one
model trained on everything CV saw (train + validation), with the best settings. It is
trained without evaluation documents (there is nothing held out left to score on; the CV
mean is the estimate), so early stopping is off and the last epoch is kept. Its
``model/`` directory is a regular nerp model directory (HF checkpoint, tokenizer.json,
inference.json) that nerp-eval can benchmark and nerp-deploy can convert.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerp_hpo.errors import HpoError
from nerp_hpo.objective import FoldTrainer
from nerp_hpo.space import trial_model_config, trial_train_config
from nerp_infra.config import ModelConfig, TrainConfig
from nerp_infra.documents import Document
from nerp_infra.files import atomic_write
from nerp_infra.fingerprints import exec_fp
from nerp_infra.model_files import CHECKPOINT_DIR, INFERENCE_FILE, TOKENIZER_FILE
from nerp_training.final.refit_reuse import REFIT_RECORD, refit_spec_fp

__all__ = ["REFIT_DIR", "REFIT_RECORD", "RefitResult", "refit_done", "run_refit"]

REFIT_DIR = "refit"
"""Folder of the refit inside the study artifact; the checkpoint is ``refit/model``."""


@dataclass(frozen=True)
class RefitResult:
    """The refit's checkpoint and what it was trained from."""

    trial_number: int
    model_dir: Path
    spec_fp: str
    exec_fp: str
    params: dict[str, Any]
    train_seconds: float
    global_step: int


def refit_done(study_dir: Path) -> dict[str, Any] | None:
    """The record of a finished refit in this study artifact, or None."""
    record = study_dir / REFIT_DIR / REFIT_RECORD
    if not record.is_file():
        return None
    data = json.loads(record.read_text(encoding="utf-8"))
    model_dir = study_dir / str(data.get("model_dir", ""))
    if not (model_dir / INFERENCE_FILE).is_file():
        return None
    return dict(data)


def refit_fingerprints(
    *, data_fp: str, model: ModelConfig, train: TrainConfig, device: str
) -> tuple[str, str]:
    """spec_fp and exec_fp of the refit model; final training compares them with its own
    (:mod:`nerp_training.final.refit_reuse`) to take the refit instead of training again."""
    from nerp_training.trainer import resolve_precision

    spec = refit_spec_fp(data_fp=data_fp, model=model, train=train)
    execution = exec_fp(precision=resolve_precision(train.precision), device_type=device)
    return spec, execution


def run_refit(
    *,
    study_dir: Path,
    trial_number: int,
    params: Mapping[str, Any],
    base_model: ModelConfig,
    base_train: TrainConfig,
    backbone: str,
    documents: Sequence[Document],
    entity_types: Sequence[str],
    data_fp: str,
    trainer: FoldTrainer | None = None,
    progress: bool = False,
) -> RefitResult:
    """Train the best configuration on ``documents`` into ``study_dir/refit/model``.

    Trains in a scratch folder next to the target and moves it into place when done, so
    a crash never leaves a half-written checkpoint that looks finished.
    """
    import time

    from nerp_training.trainer import device_type

    train_config = trial_train_config(base_train, params)
    model_config = trial_model_config(base_model, params, backbone)
    spec, execution = refit_fingerprints(
        data_fp=data_fp, model=model_config, train=train_config, device=device_type()
    )
    if trainer is None:
        from nerp_training.trainer import train_model

        trainer = train_model
    target = study_dir / REFIT_DIR
    scratch = Path(tempfile.mkdtemp(prefix=".refit-", dir=study_dir))
    started = time.monotonic()
    try:
        result = trainer(
            train_docs=list(documents),
            eval_docs=None,
            entity_types=list(entity_types),
            model_config=model_config,
            train_config=train_config,
            output_dir=scratch,
            on_evaluate=None,
            save_model=True,
            progress=progress,
        )
        model_dir = getattr(result, "model_dir", None)
        if model_dir is None or not (Path(model_dir) / TOKENIZER_FILE).is_file():
            raise HpoError(f"refit of trial {trial_number} wrote no model directory")
        seconds = time.monotonic() - started
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        os.replace(Path(model_dir), target / CHECKPOINT_DIR)
        record = {
            "trial_number": trial_number,
            "model_dir": f"{REFIT_DIR}/{CHECKPOINT_DIR}",
            "params": dict(params),
            "backbone": model_config.backbone,
            "spec_fp": spec,
            "exec_fp": execution,
            "train": train_config.model_dump(mode="json"),
            "documents": len(documents),
            "train_seconds": seconds,
            "global_step": int(getattr(result, "global_step", 0)),
        }
        atomic_write(target / REFIT_RECORD, json.dumps(record, indent=2, default=str) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RefitResult(
        trial_number=trial_number,
        model_dir=target / CHECKPOINT_DIR,
        spec_fp=spec,
        exec_fp=execution,
        params=dict(params),
        train_seconds=seconds,
        global_step=int(getattr(result, "global_step", 0)),
    )
