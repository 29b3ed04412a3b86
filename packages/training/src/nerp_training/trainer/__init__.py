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

from typing import TYPE_CHECKING

from nerp_infra.deprecation import lazy_names
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
    "EvaluationReporter": "nerp_training.trainer.callbacks",
    "OnEvaluate": "nerp_training.trainer.callbacks",
    "TRAINER_DIR": "nerp_training.trainer.checkpoint",
    "LoadedModel": "nerp_training.trainer.checkpoint",
    "last_checkpoint": "nerp_training.trainer.checkpoint",
    "load_model_dir": "nerp_training.trainer.checkpoint",
    "resolve_model_dir": "nerp_training.trainer.checkpoint",
    "TrainingResult": "nerp_training.trainer.train",
    "train_model": "nerp_training.trainer.train",
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


__getattr__ = lazy_names(__name__, _LAZY)
