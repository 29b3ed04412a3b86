"""Training: ``train_model`` (one run on ``transformers.Trainer``).

HPO calls :func:`train_model` per fold and for the refit; the final-training workflow
calls it once (or once per rank under torchrun). A saved model is read back for
inference by nerp-deploy's predictor (``nerp_deploy.convert.torch_predictor`` in
PyTorch, the ONNX engine once converted), which nerp-eval scores with.

Names that need transformers (and, through the metrics, seqeval and scikit-learn) are
imported on first use, so a process that only launches torchrun or resolves the
precision does not pay seconds of imports for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from nerp_training.trainer.device import Precision, TrainingError, device_type, resolve_precision

if TYPE_CHECKING:
    from nerp_training.trainer.callbacks import EvaluationReporter, OnEvaluate
    from nerp_training.trainer.checkpoint import (
        TRAINER_DIR,
        LoadedModel,
        last_checkpoint,
        load_model_dir,
        resolve_model_dir,
    )
    from nerp_training.trainer.train import TrainingResult, train_model

_LAZY: dict[str, str] = {
    "EvaluationReporter": "callbacks",
    "OnEvaluate": "callbacks",
    "TRAINER_DIR": "checkpoint",
    "LoadedModel": "checkpoint",
    "last_checkpoint": "checkpoint",
    "load_model_dir": "checkpoint",
    "resolve_model_dir": "checkpoint",
    "TrainingResult": "train",
    "train_model": "train",
}

__all__ = [
    "TRAINER_DIR",
    "EvaluationReporter",
    "LoadedModel",
    "OnEvaluate",
    "Precision",
    "TrainingError",
    "TrainingResult",
    "device_type",
    "last_checkpoint",
    "load_model_dir",
    "resolve_model_dir",
    "resolve_precision",
    "train_model",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"nerp_training.trainer.{module}"), name)
