"""``train_model``: one fine-tuning run on ``transformers.Trainer``, configured from nerp's config.

nerp writes no training loop of its own. Every ``train`` setting maps onto the Trainer
(AdamW with linear warm-up and decay, gradient accumulation, clipping, seeds, length
grouping, bf16/fp16) or onto the model (dropout, applied by the backbone builder), and
what the Trainer does not know, nerp adds as a plug-in: whole-document metrics through
``compute_metrics``, HPO reporting and pruning through a callback.

Layout of ``output_dir``::

    trainer/checkpoint-<step>/   Trainer checkpoints (weights, optimizer, scheduler, RNG);
                                 kept while training so an interrupted run can resume,
                                 deleted once model/ is written
    model/                       the best (or last, without evaluation) model: HF
                                 checkpoint + tokenizer.json + inference.json + label_map.json
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import (
    AutoConfig,
    AutoModelForTokenClassification,
    AutoTokenizer,
    EarlyStoppingCallback,
    PreTrainedModel,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from nerp_infra.config import ModelConfig, TrainConfig
from nerp_infra.documents import Document
from nerp_infra.labels import LabelScheme
from nerp_infra.model_files import CHECKPOINT_DIR
from nerp_training.backbones import (
    apply_dropout,
    build_model,
    build_tokenizer,
    resolve_backbone,
)
from nerp_training.data.alignment import (
    EncodedDocument,
    WindowFeatures,
    document_windows,
    encode_documents,
    special_tokens,
)
from nerp_training.metrics import OBJECTIVE_METRICS
from nerp_training.trainer.callbacks import EpochPrinter, EvaluationReporter
from nerp_training.trainer.checkpoint import (
    TRAINER_DIR,
    checkpoint_step,
    last_checkpoint,
    remove_trainer_checkpoints,
    resolve_model_dir,
    write_model_metadata,
)
from nerp_training.trainer.dataset import WindowDataset, make_collator
from nerp_training.trainer.device import Precision, TrainingError, device_type, resolve_precision
from nerp_training.trainer.evaluation import DocumentEvaluator, softmax_logits

__all__ = ["TrainingResult", "epoch_history", "train_model", "training_arguments"]

logger = logging.getLogger("nerp_training.trainer")

_TRAINER_EVAL_KEYS = frozenset({"loss", "runtime", "samples_per_second", "steps_per_second"})
_TRAIN_KEYS = frozenset({"epoch", "loss", "learning_rate", "grad_norm"})


@dataclass
class TrainingResult:
    """What one training run produced.

    ``metrics`` are the whole-document validation metrics of the model that was kept
    (the best epoch by ``train.metric_for_best``), empty without evaluation documents.
    ``history`` has one entry per epoch: ``epoch``, ``loss`` (mean training loss of the
    epoch), ``learning_rate`` and, with evaluation, ``eval_loss`` and the entity metrics.
    """

    metrics: dict[str, float]
    history: list[dict[str, float]]
    model_dir: Path | None
    global_step: int
    train_samples_per_second: float
    best_epoch: int | None = None
    checkpoint_step: int | None = None
    resumed_from_step: int | None = None
    precision: Precision = "fp32"
    world_size: int = 1
    train_windows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def training_arguments(
    train: TrainConfig,
    output_dir: Path,
    *,
    precision: Precision,
    evaluate: bool,
    save_checkpoints: bool,
) -> TrainingArguments:
    """TrainingArguments holding every ``train`` setting (dropout goes to the model).

    Checkpoints are written each epoch (when ``save_checkpoints``) and only the best and
    the latest are kept while training (``save_total_limit=1`` keeps the best plus the
    newest for resuming, and only the best at the end).
    """
    device = device_type()
    distributed = _distributed()
    save = "epoch" if save_checkpoints else "no"
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=train.epochs,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.batch_size * 2,
        learning_rate=train.learning_rate,
        weight_decay=train.weight_decay,
        warmup_steps=train.warmup_ratio,  # a value below 1 is a fraction of all steps
        lr_scheduler_type="linear",
        # one fused kernel per step, not ~10 ops per parameter tensor (the HF default too)
        optim="adamw_torch_fused",
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        max_grad_norm=train.max_grad_norm,
        seed=train.seed,
        data_seed=train.seed if train.data_seed is None else train.data_seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=device == "cpu",
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        eval_strategy="epoch" if evaluate else "no",
        save_strategy=save,
        save_total_limit=1 if save_checkpoints else None,
        load_best_model_at_end=evaluate and save_checkpoints,
        metric_for_best_model=f"eval_{train.metric_for_best}" if evaluate else None,
        greater_is_better=True if evaluate else None,
        restore_callback_states_from_checkpoint=True,
        logging_strategy="epoch",
        disable_tqdm=True,  # EpochPrinter is the progress display, not tqdm and raw log dicts
        report_to="none",
        remove_unused_columns=False,
        dataloader_pin_memory=device == "cuda",
        ddp_backend=("nccl" if device == "cuda" else "gloo") if distributed else None,
        ddp_find_unused_parameters=False if distributed else None,
    )


def epoch_history(log_history: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
    """Per-epoch records from the Trainer's log (which a resumed run restores whole)."""
    epochs: dict[int, dict[str, float]] = {}
    for entry in log_history:
        if "epoch" not in entry or "train_runtime" in entry:
            continue
        epoch = round(float(entry["epoch"]))
        record = epochs.setdefault(epoch, {"epoch": float(epoch)})
        for key, value in entry.items():
            if key == "epoch" or not isinstance(value, int | float):
                continue
            if key.startswith("eval_"):
                name = key.removeprefix("eval_")
                record[key if name in _TRAINER_EVAL_KEYS else name] = float(value)
            elif key in ("loss", "learning_rate", "grad_norm"):
                record[key] = float(value)
    return [epochs[e] for e in sorted(epochs)]


def _best_epoch(history: Sequence[Mapping[str, float]], metric: str) -> Mapping[str, float] | None:
    best: Mapping[str, float] | None = None
    for record in history:
        if metric in record and (best is None or record[metric] > best[metric]):
            best = record  # strictly greater: ties keep the earlier epoch, as the Trainer does
    return best


def _kept_step(trainer: Trainer, args: TrainingArguments) -> int:
    """Global step of the model that was kept: the best checkpoint's, or the last step."""
    best = trainer.state.best_global_step
    if args.load_best_model_at_end and best:
        return int(best)
    return int(trainer.state.global_step)


def _load_for_continuation(
    init_from: Path, scheme: LabelScheme, dropout: float, attention_dropout: float | None
) -> tuple[Any, PreTrainedModel]:
    model_dir = resolve_model_dir(init_from)
    try:
        config = AutoConfig.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"init_from {model_dir}: cannot load the checkpoint: {exc}") from exc
    labels = tuple(str(config.id2label[i]) for i in range(len(config.id2label)))
    if labels != scheme.labels:
        raise TrainingError(
            f"init_from {model_dir}: the model's labels {list(labels)} differ from the "
            f"dataset's {list(scheme.labels)}; continue training only on the same labels"
        )
    apply_dropout(config, dropout, attention_dropout)  # this run's, not the saved model's
    model: PreTrainedModel = AutoModelForTokenClassification.from_pretrained(
        model_dir, config=config
    )
    return tokenizer, model


def _tokenizer_and_model(
    *,
    scheme: LabelScheme,
    model_config: ModelConfig,
    train_config: TrainConfig,
    texts: Sequence[str],
    init_from: Path | None,
    checkpoint: Path | None,
) -> tuple[Any, PreTrainedModel]:
    if init_from is not None:
        tokenizer, model = _load_for_continuation(
            init_from, scheme, train_config.dropout, train_config.attention_dropout
        )
        if checkpoint is not None:
            tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        return tokenizer, model
    spec = resolve_backbone(model_config.backbone)
    if checkpoint is not None and (checkpoint / "tokenizer.json").is_file():
        # resuming: the tokenizer the interrupted run trained with, not a rebuilt one
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        tokenizer.model_max_length = model_config.max_length
    else:
        tokenizer = build_tokenizer(
            spec,
            texts=list(texts),
            vocab_size=model_config.tiny.vocab_size,
            max_length=model_config.max_length,
            line_breaks=model_config.line_breaks,
        )
    model = build_model(
        spec,
        labels=scheme.labels,
        tokenizer=tokenizer,
        dropout=train_config.dropout,
        attention_dropout=train_config.attention_dropout,
        tiny=model_config.tiny,
        max_length=model_config.max_length,
        seed=train_config.seed,
        reinit_layers=train_config.reinit_layers,
    )
    return tokenizer, model


def train_model(
    *,
    train_docs: Sequence[Document],
    eval_docs: Sequence[Document] | None,
    entity_types: Sequence[str],
    model_config: ModelConfig,
    train_config: TrainConfig,
    output_dir: Path,
    on_evaluate: Callable[[int, Mapping[str, float]], None] | None = None,
    init_from: Path | None = None,
    resume: bool = False,
    save_model: bool = True,
    tokenizer_texts: Sequence[str] | None = None,
    progress: bool = True,
    callbacks: Sequence[TrainerCallback] = (),
) -> TrainingResult:
    """Fine-tune a token classifier on ``train_docs``; evaluate on ``eval_docs`` each epoch.

    ``eval_docs=None`` trains without evaluation (refit, or final training on train +
    validation): no early stopping, and the last epoch's model is kept. ``on_evaluate``
    gets ``(epoch, metrics)`` after each evaluation; an exception it raises (e.g.
    ``optuna.TrialPruned``) propagates out of this function. ``init_from`` continues
    from a saved model directory (same labels). ``resume`` continues from the newest
    complete checkpoint in ``output_dir/trainer`` (weights, optimizer, scheduler, RNG and
    early-stopping state), or starts afresh when there is none. ``save_model=False``
    writes no checkpoints at all (HPO folds). The ``tiny`` backbone's tokenizer is
    trained on ``tokenizer_texts`` (default: the training texts). ``callbacks`` are extra
    Trainer callbacks.

    Under ``torchrun`` (DDP) every rank calls this with the same arguments; the Trainer
    shards batches, evaluation gathers all ranks' predictions, rank 0 writes files.
    """
    if not train_docs:
        raise TrainingError("no training documents: train_docs is empty")
    if train_config.metric_for_best not in OBJECTIVE_METRICS:
        raise TrainingError(
            f"train.metric_for_best {train_config.metric_for_best!r} is not one of "
            f"{', '.join(OBJECTIVE_METRICS)}"
        )
    evaluate = bool(eval_docs)
    output_dir = Path(output_dir)
    trainer_dir = output_dir / TRAINER_DIR
    scheme = LabelScheme(list(entity_types))
    precision = resolve_precision(train_config.precision)
    checkpoint = last_checkpoint(trainer_dir) if resume and save_model else None
    if resume and checkpoint is None:
        logger.info("no complete checkpoint under %s: training from the start", trainer_dir)

    texts = tokenizer_texts if tokenizer_texts is not None else [d.text for d in train_docs]
    tokenizer, model = _tokenizer_and_model(
        scheme=scheme,
        model_config=model_config,
        train_config=train_config,
        texts=texts,
        init_from=init_from,
        checkpoint=checkpoint,
    )
    special = special_tokens(tokenizer)

    def encode(
        docs: Sequence[Document], *, training: bool
    ) -> tuple[list[EncodedDocument], list[WindowFeatures]]:
        """Training and validation documents are encoded and windowed the same way; only
        the loss, never validation scoring, skips unmarked mentions."""
        encoded = encode_documents(
            docs,
            tokenizer,
            scheme,
            label_all_subtokens=model_config.label_all_subtokens,
            ignore_unmarked=train_config.ignore_unmarked if training else (),
        )
        return encoded, document_windows(
            encoded,
            max_length=model_config.max_length,
            stride=model_config.stride,
            special=special,
            scheme=scheme,
        )

    _, train_windows = encode(train_docs, training=True)
    if not train_windows:
        raise TrainingError("the training documents hold no tokens: nothing to train on")

    trainer_callbacks: list[TrainerCallback] = []
    evaluator: DocumentEvaluator | None = None
    eval_dataset: WindowDataset | None = None
    if evaluate:
        assert eval_docs is not None
        eval_encoded, eval_windows = encode(eval_docs, training=False)
        evaluator = DocumentEvaluator(eval_encoded, eval_windows, scheme)
        eval_dataset = WindowDataset(eval_windows)
        if train_config.early_stopping_patience is not None:
            trainer_callbacks.append(EarlyStoppingCallback(train_config.early_stopping_patience))
        if on_evaluate is not None:
            trainer_callbacks.append(EvaluationReporter(evaluator, on_evaluate))
    printer = EpochPrinter(evaluator) if progress else None
    if printer is not None:
        trainer_callbacks.append(printer)
    trainer_callbacks.extend(callbacks)

    args = training_arguments(
        train_config,
        trainer_dir,
        precision=precision,
        evaluate=evaluate,
        save_checkpoints=save_model,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=WindowDataset(train_windows),
        eval_dataset=eval_dataset,
        data_collator=make_collator(tokenizer, precision=precision),
        processing_class=tokenizer,
        compute_metrics=evaluator,
        preprocess_logits_for_metrics=softmax_logits if evaluate else None,
        callbacks=trainer_callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # log dicts; EpochPrinter shows progress
    try:
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        if printer is not None:
            printer.close()  # a pruned trial leaves train() before on_train_end
        if not save_model:
            with contextlib.suppress(OSError):  # the Trainer makes its folder even unused
                trainer_dir.rmdir()

    history = epoch_history(trainer.state.log_history)
    best = _best_epoch(history, train_config.metric_for_best) if evaluate else None
    metrics: dict[str, float] = {}
    if best is not None:
        metrics = {
            k: v for k, v in best.items() if k not in _TRAIN_KEYS and not k.startswith("eval_")
        }
    model_dir: Path | None = None
    if save_model:
        model_dir = output_dir / CHECKPOINT_DIR
        trainer.save_model(str(model_dir))  # rank 0 only; weights, config and tokenizer
        if trainer.is_world_process_zero():
            write_model_metadata(
                model_dir, scheme=scheme, model_config=model_config, backbone=model_config.backbone
            )
        trainer.accelerator.wait_for_everyone()
        if trainer.is_world_process_zero():
            remove_trainer_checkpoints(trainer_dir)
    return TrainingResult(
        metrics=metrics,
        history=history,
        model_dir=model_dir,
        global_step=trainer.state.global_step,
        train_samples_per_second=float(output.metrics.get("train_samples_per_second", 0.0)),
        best_epoch=None if best is None else int(best["epoch"]),
        checkpoint_step=_kept_step(trainer, args) if save_model else None,
        resumed_from_step=None if checkpoint is None else checkpoint_step(checkpoint),
        precision=precision,
        world_size=args.world_size,
        train_windows=len(train_windows),
    )
