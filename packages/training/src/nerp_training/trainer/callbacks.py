"""Trainer callbacks nerp adds: one console line per epoch, and each epoch's evaluation
handed to HPO (which may prune).

An exception raised by ``on_evaluate`` (``optuna.TrialPruned``) is deliberately not
caught: it leaves ``Trainer.train`` and ``train_model`` as is, which is how Optuna's
pruning is meant to unwind a trial.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
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
    """The training progress display: a bar over the steps (epoch, loss, validation F1,
    time left) and one line per epoch: training loss, validation entity F1 (micro, macro)
    and the ETA.

    Whole-document F1 is what decides the kept epoch and what serving will score, so it is
    what a person watching a run needs; the Trainer's own log dicts and tqdm bars are not
    shown. The bar is transient and drawn only on a terminal; the epoch lines always print.
    Call :meth:`close` when training stops early (a pruned trial), so the bar goes away.
    """

    def __init__(self, evaluator: DocumentEvaluator | None, console: Console | None = None) -> None:
        self.evaluator = evaluator
        self.console = console or Console(stderr=True, highlight=False)
        self._started = 0.0
        self._first_epoch = 0
        self._loss: float | None = None
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._started = time.monotonic()
        self._first_epoch = round(state.epoch or 0)  # a resumed run starts later
        if not state.is_world_process_zero:
            return
        self.close()
        self._progress = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps{task.fields[figures]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._task = self._progress.add_task(
            self._epoch_label(args, self._first_epoch + 1),
            total=state.max_steps,
            completed=state.global_step,
            figures="",
        )
        self._progress.start()

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._progress is not None and self._task is not None:
            epoch = min(math.floor(state.epoch or 0) + 1, round(args.num_train_epochs))
            self._progress.update(
                self._task,
                completed=state.global_step,
                description=self._epoch_label(args, epoch),
            )

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.close()

    def close(self) -> None:
        """Take the progress bar off the console (the epoch lines stay)."""
        if self._progress is not None:
            self._progress.stop()
        self._progress = None
        self._task = None

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

    @staticmethod
    def _epoch_label(args: TrainingArguments, epoch: int) -> str:
        return f"epoch {epoch}/{round(args.num_train_epochs)}"

    def _print(self, args: TrainingArguments, state: TrainerState, figures: str) -> None:
        if not state.is_world_process_zero:
            return
        epoch = round(state.epoch or 0)
        total = round(args.num_train_epochs)
        done = max(1, epoch - self._first_epoch)
        elapsed = time.monotonic() - self._started
        eta = elapsed / done * max(0, total - epoch)
        loss = "" if self._loss is None else f"  loss {self._loss:.4f}"
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, figures=f"{loss}{figures}")
        self.console.print(
            f"  epoch {epoch}/{total}{loss}{figures}  ({elapsed:.0f} s, ETA {eta:.0f} s)"
        )
