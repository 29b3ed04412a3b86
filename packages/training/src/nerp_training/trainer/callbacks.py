"""Trainer callbacks nerp adds: one console line per epoch, and each epoch's evaluation
handed to HPO (which may prune).

An exception raised by ``on_evaluate`` (``optuna.TrialPruned``) is deliberately not
caught: it leaves ``Trainer.train`` and ``train_model`` as is, which is how Optuna's
pruning is meant to unwind a trial.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from nerp_training.trainer.evaluation import DocumentEvaluator

__all__ = ["EpochPrinter", "EvaluationReporter", "OnEvaluate"]

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


class EpochPrinter(TrainerCallback):
    """One line per epoch: training loss, validation entity F1 (micro, macro) and the ETA.

    Whole-document F1 is what decides the kept epoch and what serving will score, so it is
    what a person watching a run needs; the Trainer's own log dicts are not printed.
    """

    def __init__(self, evaluator: DocumentEvaluator | None, console: Console | None = None) -> None:
        self.evaluator = evaluator
        self.console = console or Console(stderr=True, highlight=False)
        self._started = 0.0
        self._first_epoch = 0
        self._loss: float | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._started = time.monotonic()
        self._first_epoch = round(state.epoch or 0)  # a resumed run starts later

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if logs and "loss" in logs:
            self._loss = float(logs["loss"])
            if self.evaluator is None:
                self._print(args, state, "")

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.evaluator is None:
            return
        last = self.evaluator.last
        self._print(
            args,
            state,
            f"  val F1 micro {last.get('f1_micro', 0.0):.3f} macro {last.get('f1_macro', 0.0):.3f}",
        )

    def _print(self, args: TrainingArguments, state: TrainerState, figures: str) -> None:
        if not state.is_world_process_zero:
            return
        epoch = round(state.epoch or 0)
        total = round(args.num_train_epochs)
        done = max(1, epoch - self._first_epoch)
        elapsed = time.monotonic() - self._started
        eta = elapsed / done * max(0, total - epoch)
        loss = "" if self._loss is None else f"  loss {self._loss:.4f}"
        self.console.print(
            f"  epoch {epoch}/{total}{loss}{figures}  ({elapsed:.0f} s, ETA {eta:.0f} s)"
        )
