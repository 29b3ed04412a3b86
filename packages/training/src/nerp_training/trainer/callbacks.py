"""Trainer callbacks nerp adds: reporting each epoch's evaluation to HPO (which may prune).

An exception raised by ``on_evaluate`` (``optuna.TrialPruned``) is deliberately not
caught: it leaves ``Trainer.train`` and ``train_model`` as is, which is how Optuna's
pruning is meant to unwind a trial.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from nerp_training.trainer.evaluation import DocumentEvaluator

__all__ = ["EvaluationReporter", "OnEvaluate"]

OnEvaluate = Callable[[int, Mapping[str, float]], None]
"""``(epoch, flat whole-document metrics)``, called after each epoch's evaluation."""


class EvaluationReporter(TrainerCallback):
    """Hands each evaluation's entity metrics (not the Trainer's timings) to ``on_evaluate``."""

    def __init__(self, evaluator: DocumentEvaluator, on_evaluate: OnEvaluate) -> None:
        self.evaluator = evaluator
        self.report = on_evaluate

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        epoch = round(state.epoch or 0)
        self.report(epoch, dict(self.evaluator.last))
