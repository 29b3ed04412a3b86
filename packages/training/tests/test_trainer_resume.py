"""An interrupted run resumes from its last checkpoint: step, optimizer, scheduler and RNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from nerp_infra.config import ModelConfig, TrainConfig
from nerp_infra.documents import Document
from nerp_training.data import SYNTH_LABELS
from nerp_training.trainer import TRAINER_DIR, last_checkpoint, train_model


class Interrupted(Exception):
    """Stands for the crash: nothing after it runs in the interrupted process."""


class InterruptAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if state.global_step == self.step:
            raise Interrupted(f"killed at step {state.global_step}")


class ProbeResume(TrainerCallback):
    """Records the optimizer and scheduler as the resumed run starts, before any step."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        optimizer = kw["optimizer"]
        self.state = {
            "global_step": state.global_step,
            "optimizer": {
                k: {n: t.clone() if torch.is_tensor(t) else t for n, t in v.items()}
                for k, v in optimizer.state_dict()["state"].items()
            },
            "scheduler_step": kw["lr_scheduler"].last_epoch,
        }


def _run(
    out: Path,
    docs: list[Document],
    model: ModelConfig,
    train: TrainConfig,
    **kwargs: Any,
) -> Any:
    return train_model(
        train_docs=docs,
        eval_docs=None,
        entity_types=list(SYNTH_LABELS),
        model_config=model,
        train_config=train,
        output_dir=out,
        progress=False,
        **kwargs,
    )


def test_resume_continues_from_the_saved_step_with_optimizer_state(
    tmp_path: Path, resumes: list[Document], tiny_model_config: ModelConfig
) -> None:
    docs = resumes[:12]
    train = TrainConfig(
        epochs=3, batch_size=8, learning_rate=3e-3, early_stopping_patience=None, seed=5
    )
    reference = _run(tmp_path / "reference", docs, tiny_model_config, train)
    steps_per_epoch = reference.global_step // 3
    assert steps_per_epoch >= 2

    out = tmp_path / "interrupted"
    with pytest.raises(Interrupted):
        _run(out, docs, tiny_model_config, train, callbacks=[InterruptAt(steps_per_epoch + 1)])
    checkpoint = last_checkpoint(out / TRAINER_DIR)
    assert checkpoint is not None and checkpoint.name == f"checkpoint-{steps_per_epoch}"
    saved = torch.load(checkpoint / "optimizer.pt", weights_only=False)["state"]
    assert not (out / "model").exists()

    probe = ProbeResume()
    resumed = _run(out, docs, tiny_model_config, train, resume=True, callbacks=[probe])
    assert resumed.resumed_from_step == steps_per_epoch
    assert probe.state["global_step"] == steps_per_epoch
    assert probe.state["scheduler_step"] == steps_per_epoch
    assert probe.state["optimizer"].keys() == saved.keys()
    for key, moments in saved.items():
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(probe.state["optimizer"][key][name], moments[name])
    assert resumed.global_step == reference.global_step
    # the resumed run continues exactly where the uninterrupted one went (RNG restored)
    assert len(resumed.history) == 3
    for got, want in zip(resumed.history, reference.history, strict=True):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-5)
    assert resumed.model_dir is not None and (resumed.model_dir / "tokenizer.json").is_file()
    assert not (out / TRAINER_DIR).exists()


def test_resume_without_a_checkpoint_starts_afresh(
    tmp_path: Path, resumes: list[Document], tiny_model_config: ModelConfig
) -> None:
    train = TrainConfig(epochs=1, batch_size=8, early_stopping_patience=None)
    (tmp_path / TRAINER_DIR / "checkpoint-3").mkdir(parents=True)  # a save cut short by a kill
    result = _run(tmp_path, resumes[:4], tiny_model_config, train, resume=True)
    assert result.resumed_from_step is None
    assert result.global_step > 0
