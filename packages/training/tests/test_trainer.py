"""train_model for real with the tiny backbone: it learns, saves a deployable model, reports."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from nerp_infra.config import ModelConfig, TrainConfig
from nerp_infra.documents import Document
from nerp_infra.labels import LabelScheme
from nerp_infra.model_files import read_inference_settings
from nerp_training.data import SYNTH_LABELS
from nerp_training.trainer import (
    TrainingError,
    TrainingResult,
    resolve_precision,
    train_model,
)
from nerp_training.trainer.train import training_arguments

LABELS = list(SYNTH_LABELS)


@dataclass
class Trained:
    result: TrainingResult
    eval_docs: list[Document]
    reported: list[tuple[int, dict[str, float]]] = field(default_factory=list)


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
    resumes: list[Document],
    tiny_model_config: ModelConfig,
    quick_train_config: TrainConfig,
) -> Trained:
    """One real run (80 training resumes, 3 epochs) shared by the tests of this module."""
    reported: list[tuple[int, dict[str, float]]] = []
    eval_docs = resumes[80:]
    result = train_model(
        train_docs=resumes[:80],
        eval_docs=eval_docs,
        entity_types=LABELS,
        model_config=tiny_model_config,
        train_config=quick_train_config,
        output_dir=tmp_path_factory.mktemp("trained"),
        on_evaluate=lambda epoch, metrics: reported.append((epoch, dict(metrics))),
        progress=False,
    )
    return Trained(result, eval_docs, reported)


def test_training_lowers_the_loss_and_learns_entities(trained: Trained) -> None:
    history = trained.result.history
    assert [record["epoch"] for record in history] == [1.0, 2.0, 3.0]
    losses = [record["loss"] for record in history]
    assert losses[-1] < 0.7 * losses[0]
    assert history[-1]["eval_loss"] < history[0]["eval_loss"]
    # chance level for exact entity matches is ~0; the tiny model gets far above it
    assert trained.result.metrics["f1_micro"] > 0.3
    assert trained.result.metrics["f1_macro"] > 0.1
    assert trained.result.global_step > 0


def test_metrics_are_the_kept_epochs_whole_document_scores(trained: Trained) -> None:
    result = trained.result
    best = max(result.history, key=lambda record: record["f1_macro"])
    assert result.best_epoch == int(best["epoch"])
    for name in ("f1_macro", "f1_micro", "precision_micro", "recall_macro"):
        assert result.metrics[name] == best[name]
    assert {"f1_SKILL", "precision_NAME", "support_EMAIL"} <= result.metrics.keys()
    # every gold entity of the evaluation documents is counted once, not once per window
    assert sum(v for k, v in result.metrics.items() if k.startswith("support_")) == sum(
        len(doc.spans) for doc in trained.eval_docs
    )


def test_on_evaluate_gets_each_epochs_entity_metrics(trained: Trained) -> None:
    assert [epoch for epoch, _ in trained.reported] == [1, 2, 3]
    for epoch, metrics in trained.reported:
        record = trained.result.history[epoch - 1]
        assert metrics["f1_macro"] == record["f1_macro"]
        assert "loss" not in metrics
        assert "runtime" not in metrics


def test_saved_model_is_a_deployable_checkpoint(
    trained: Trained, tiny_model_config: ModelConfig, quick_train_config: TrainConfig
) -> None:
    model_dir = trained.result.model_dir
    assert model_dir is not None
    for name in ("config.json", "model.safetensors", "tokenizer.json", "label_map.json"):
        assert (model_dir / name).is_file(), name
    assert not (model_dir.parent / "trainer").exists(), "trainer checkpoints are removed"
    settings = read_inference_settings(model_dir)
    scheme = LabelScheme(LABELS)
    assert settings.labels == scheme.labels
    assert (settings.max_length, settings.stride) == (96, 16)
    assert settings.label_all_subtokens is False
    config = json.loads((model_dir / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(len(scheme.labels))] == list(scheme.labels)
    assert config["hidden_dropout_prob"] == quick_train_config.dropout
    assert config["attention_probs_dropout_prob"] == quick_train_config.dropout
    assert LabelScheme.from_dict(json.loads((model_dir / "label_map.json").read_text())).labels
    # the serving side reads the tokenizer with the tokenizers library alone
    assert Tokenizer.from_file(str(model_dir / "tokenizer.json")).get_vocab_size() > 100
    assert trained.result.checkpoint_step is not None
    assert trained.result.checkpoint_step <= trained.result.global_step


def _quick(**changes: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "epochs": 2,
        "batch_size": 8,
        "learning_rate": 3e-3,
        "early_stopping_patience": None,
        "seed": 11,
    }
    return TrainConfig.model_validate({**base, **changes})


def _weights(model_dir: Path | None) -> Mapping[str, torch.Tensor]:
    assert model_dir is not None
    return load_file(str(model_dir / "model.safetensors"))


def test_same_seed_gives_the_same_model(
    tmp_path: Path, resumes: list[Document], tiny_model_config: ModelConfig
) -> None:
    """Seeded: weights, dropout, data order; with accumulation and length grouping on."""
    config = _quick(gradient_accumulation_steps=2, group_by_length=True, batch_size=4)
    runs = [
        train_model(
            train_docs=resumes[:10],
            eval_docs=None,
            entity_types=LABELS,
            model_config=tiny_model_config,
            train_config=config,
            output_dir=tmp_path / name,
            progress=False,
        )
        for name in ("a", "b")
    ]
    assert runs[0].history == runs[1].history
    first, second = (_weights(run.model_dir) for run in runs)
    assert all(torch.equal(first[k], second[k]) for k in first)
    # without evaluation there is nothing to pick a best epoch by: the last model is kept
    assert runs[0].metrics == {}
    assert runs[0].best_epoch is None
    assert runs[0].checkpoint_step == runs[0].global_step
    batches = -(-runs[0].train_windows // 4)
    assert runs[0].global_step == 2 * -(-batches // 2)  # 2 epochs of accumulated batches


def test_an_exception_from_on_evaluate_stops_training(
    tmp_path: Path, resumes: list[Document], tiny_model_config: ModelConfig
) -> None:
    """How HPO prunes: optuna.TrialPruned raised in the callback leaves train_model."""

    class Pruned(Exception):
        pass

    seen: list[int] = []

    def prune(epoch: int, metrics: Mapping[str, float]) -> None:
        seen.append(epoch)
        raise Pruned(f"pruned at epoch {epoch} with f1_macro {metrics['f1_macro']}")

    with pytest.raises(Pruned, match="pruned at epoch 1"):
        train_model(
            train_docs=resumes[:16],
            eval_docs=resumes[16:20],
            entity_types=LABELS,
            model_config=tiny_model_config,
            train_config=_quick(epochs=3),
            output_dir=tmp_path,
            on_evaluate=prune,
            save_model=False,
            progress=True,  # the progress display closes when training is cut short
        )
    assert seen == [1]
    assert list(tmp_path.iterdir()) == [], "save_model=False writes nothing"


def test_early_stopping_ends_a_run_that_stops_improving(
    tmp_path: Path, resumes: list[Document], tiny_model_config: ModelConfig
) -> None:
    result = train_model(
        train_docs=resumes[:16],
        eval_docs=resumes[16:20],
        entity_types=LABELS,
        model_config=tiny_model_config,
        train_config=_quick(epochs=6, learning_rate=1e-9, early_stopping_patience=1),
        output_dir=tmp_path,
        save_model=False,
        progress=False,
    )
    assert [record["epoch"] for record in result.history] == [1.0, 2.0]
    assert result.best_epoch == 1


def test_continuing_from_a_saved_model(
    tmp_path: Path, trained: Trained, resumes: list[Document], tiny_model_config: ModelConfig
) -> None:
    result = train_model(
        train_docs=resumes[:20],
        eval_docs=trained.eval_docs,
        entity_types=LABELS,
        model_config=tiny_model_config,
        train_config=_quick(epochs=1, learning_rate=1e-4, dropout=0.2),
        output_dir=tmp_path,
        init_from=trained.result.model_dir,
        progress=False,
    )
    # starts where the trained model is, far better than a fresh model's first epoch
    assert result.history[0]["eval_loss"] < trained.result.history[0]["eval_loss"]
    assert result.model_dir is not None
    config = json.loads((result.model_dir / "config.json").read_text())
    assert config["hidden_dropout_prob"] == 0.2
    with pytest.raises(TrainingError, match="labels .* differ"):
        train_model(
            train_docs=resumes[:8],
            eval_docs=None,
            entity_types=["NAME", "SKILL"],
            model_config=tiny_model_config,
            train_config=_quick(epochs=1),
            output_dir=tmp_path / "other",
            init_from=trained.result.model_dir,
            progress=False,
        )


def test_every_train_setting_reaches_the_trainer(tmp_path: Path) -> None:
    config = TrainConfig(
        epochs=7,
        batch_size=5,
        learning_rate=2e-4,
        weight_decay=0.03,
        warmup_ratio=0.2,
        gradient_accumulation_steps=3,
        max_grad_norm=0.5,
        dropout=0.25,  # applied to the model, see test_saved_model_is_a_deployable_checkpoint
        early_stopping_patience=4,
        metric_for_best="recall_micro",
        precision="fp32",
        seed=123,
        group_by_length=True,
    )
    args = training_arguments(
        config, tmp_path, precision="fp32", evaluate=True, save_checkpoints=True
    )
    assert args.num_train_epochs == 7
    assert args.per_device_train_batch_size == 5
    assert args.learning_rate == 2e-4
    assert args.weight_decay == 0.03
    assert args.get_warmup_steps(100) == 20
    assert args.lr_scheduler_type == "linear"
    assert args.optim.value == "adamw_torch_fused"  # on CPU too: one kernel per step
    assert args.gradient_accumulation_steps == 3
    assert args.max_grad_norm == 0.5
    assert args.seed == args.data_seed == 123
    reordered = training_arguments(
        config.model_copy(update={"data_seed": 7}),
        tmp_path,
        precision="fp32",
        evaluate=True,
        save_checkpoints=True,
    )
    assert (reordered.seed, reordered.data_seed) == (123, 7)  # same weights, another order
    assert args.train_sampling_strategy == "group_by_length"
    assert args.metric_for_best_model == "eval_recall_micro"
    assert args.greater_is_better is True
    assert args.load_best_model_at_end is True
    assert args.save_total_limit == 1
    assert not args.bf16 and not args.fp16
    assert args.disable_tqdm is True
    assert str(args.eval_strategy) in ("epoch", "IntervalStrategy.EPOCH")


def test_each_epoch_prints_its_loss_and_validation_f1(
    tmp_path: Path,
    resumes: list[Document],
    tiny_model_config: ModelConfig,
    quick_train_config: TrainConfig,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = train_model(
        train_docs=resumes[:24],
        eval_docs=resumes[24:32],
        entity_types=LABELS,
        model_config=tiny_model_config,
        train_config=quick_train_config.model_copy(update={"epochs": 2}),
        output_dir=tmp_path,
        save_model=False,
        progress=True,
    )
    captured = capsys.readouterr()
    assert "{'" not in captured.out + captured.err, "no raw Trainer log dicts"
    assert "it/s" not in captured.err, "no tqdm bar"
    lines = [line for line in captured.err.splitlines() if "val F1" in line]
    assert len(lines) == 2
    for epoch, line in enumerate(lines, start=1):
        assert f"epoch {epoch}/2" in line
        record = result.history[epoch - 1]
        assert f"micro {record['f1_micro']:.3f} macro {record['f1_macro']:.3f}" in line
        assert f"loss {record['loss']:.4f}" in line
        assert "ETA" in line


def test_precision_follows_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"  # native bf16 units: 1.6x faster
    assert resolve_precision("fp32", "cuda") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(TrainingError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", "cpu")


def test_bad_input_is_refused_with_a_reason(
    tmp_path: Path, resumes: list[Document], tiny_model_config: ModelConfig
) -> None:
    with pytest.raises(TrainingError, match="train_docs is empty"):
        train_model(
            train_docs=[],
            eval_docs=None,
            entity_types=LABELS,
            model_config=tiny_model_config,
            train_config=_quick(),
            output_dir=tmp_path,
        )
    blank = [Document(id="blank", text="   ")]
    with pytest.raises(TrainingError, match="hold no tokens"):
        train_model(
            train_docs=blank,
            eval_docs=None,
            entity_types=LABELS,
            model_config=tiny_model_config,
            train_config=_quick(),
            output_dir=tmp_path,
            tokenizer_texts=[resumes[0].text],
        )
