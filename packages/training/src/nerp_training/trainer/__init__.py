"""Training: ``train_model`` (one run on ``transformers.Trainer``) and PyTorch inference.

HPO calls :func:`train_model` per fold and for the refit; the final-training workflow
calls it once (or once per rank under torchrun); nerp-eval scores and predicts with
:func:`evaluate_model` and :func:`predict_documents`.
"""

from nerp_training.trainer.callbacks import EvaluationReporter, OnEvaluate
from nerp_training.trainer.checkpoint import (
    TRAINER_DIR,
    LoadedModel,
    last_checkpoint,
    load_model_dir,
    resolve_model_dir,
)
from nerp_training.trainer.device import Precision, TrainingError, device_type, resolve_precision
from nerp_training.trainer.predict import evaluate_model, predict_documents
from nerp_training.trainer.train import TrainingResult, train_model

__all__ = [
    "TRAINER_DIR",
    "EvaluationReporter",
    "LoadedModel",
    "OnEvaluate",
    "Precision",
    "TrainingError",
    "TrainingResult",
    "device_type",
    "evaluate_model",
    "last_checkpoint",
    "load_model_dir",
    "predict_documents",
    "resolve_model_dir",
    "resolve_precision",
    "train_model",
]
