"""The model directory nerp-deploy converts, and the Trainer checkpoints a resume needs.

A model directory is a Hugging Face checkpoint (``config.json`` with ``id2label``,
weights, the fast tokenizer's ``tokenizer.json``) plus ``inference.json`` (labels,
window size, stride, sub-token policy; see ``nerp_infra.model_files``) and
``label_map.json``, so nerp-deploy and nerp-eval can use it without importing
nerp-training and decode exactly as training encoded. Trainer checkpoints
(``checkpoint-<step>`` with optimizer, scheduler and RNG state) live in a separate
folder and are deleted once the model directory is written.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoModelForTokenClassification, AutoTokenizer, PreTrainedModel
from transformers.trainer import OPTIMIZER_NAME, TRAINER_STATE_NAME

from nerp_infra.config import ModelConfig
from nerp_infra.labels import LabelScheme
from nerp_infra.model_files import (
    CHECKPOINT_DIR,
    TOKENIZER_FILE,
    InferenceSettings,
    read_inference_settings,
    write_inference_settings,
)
from nerp_training.trainer.device import TrainingError

__all__ = [
    "LABEL_MAP_FILE",
    "TRAINER_DIR",
    "LoadedModel",
    "checkpoint_step",
    "last_checkpoint",
    "load_model_dir",
    "model_labels",
    "remove_trainer_checkpoints",
    "resolve_model_dir",
    "write_model_metadata",
]

TRAINER_DIR = "trainer"
"""Sub-directory of a training output holding the Trainer's resumable checkpoints."""
LABEL_MAP_FILE = "label_map.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def write_model_metadata(
    model_dir: Path, *, scheme: LabelScheme, model_config: ModelConfig, backbone: str
) -> InferenceSettings:
    """Write ``inference.json`` and ``label_map.json`` next to a saved HF checkpoint."""
    if not (model_dir / TOKENIZER_FILE).is_file():
        raise TrainingError(
            f"{model_dir / TOKENIZER_FILE}: the saved tokenizer has no tokenizer.json; "
            "nerp needs a fast tokenizer so serving can tokenise without transformers"
        )
    settings = InferenceSettings(
        labels=scheme.labels,
        max_length=model_config.max_length,
        stride=model_config.stride,
        label_all_subtokens=model_config.label_all_subtokens,
        backbone=backbone,
        repeat_types=tuple(model_config.repeat_types),
        merge_types=tuple(model_config.merge_types),
        join_types=tuple(model_config.join_types),
        min_confidence=dict(model_config.min_confidence),
        section_types={t: tuple(h) for t, h in model_config.section_types.items()},
        entity_filter=model_config.entity_filter,
    )
    write_inference_settings(model_dir, settings)
    (model_dir / LABEL_MAP_FILE).write_text(
        json.dumps(scheme.to_dict(), indent=1) + "\n", encoding="utf-8"
    )
    return settings


def resolve_model_dir(path: str | Path) -> Path:
    """The HF checkpoint folder of a model artifact directory, or ``path`` itself."""
    path = Path(path)
    nested = path / CHECKPOINT_DIR
    return nested if (nested / "config.json").is_file() else path


def model_labels(model: PreTrainedModel) -> tuple[str, ...]:
    """The head's labels in id order."""
    id2label: dict[Any, str] = dict(model.config.id2label or {})
    return tuple(str(id2label.get(i, id2label.get(str(i)))) for i in range(len(id2label)))


@dataclass(frozen=True)
class LoadedModel:
    """A model directory loaded for inference or further training."""

    model_dir: Path
    model: PreTrainedModel
    tokenizer: Any
    settings: InferenceSettings
    scheme: LabelScheme


def load_model_dir(path: str | Path) -> LoadedModel:
    """Load a model directory (or artifact) written by nerp, checking its files agree."""
    model_dir = resolve_model_dir(path)
    try:
        settings = read_inference_settings(model_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise TrainingError(f"{model_dir}: not a nerp model directory: {exc}") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForTokenClassification.from_pretrained(model_dir)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{model_dir}: cannot load the checkpoint: {exc}") from exc
    labels = model_labels(model)
    if labels != settings.labels:
        raise TrainingError(
            f"{model_dir / 'config.json'}: id2label {list(labels)} does not match the labels "
            f"in inference.json {list(settings.labels)}"
        )
    return LoadedModel(model_dir, model, tokenizer, settings, LabelScheme.from_labels(labels))


def checkpoint_step(path: Path) -> int:
    """The global step of a ``checkpoint-<step>`` folder."""
    match = _CHECKPOINT.match(path.name)
    if match is None:
        raise ValueError(f"{path} is not a Trainer checkpoint folder (checkpoint-<step>)")
    return int(match.group(1))


def last_checkpoint(trainer_dir: Path) -> Path | None:
    """The newest *complete* Trainer checkpoint in ``trainer_dir``.

    The Trainer writes ``trainer_state.json`` after the weights, optimizer and scheduler,
    so a folder without it is what a kill in the middle of saving leaves behind, and is
    skipped (``transformers.trainer_utils.get_last_checkpoint`` would pick it).
    """
    if not trainer_dir.is_dir():
        return None
    complete = [
        path
        for path in trainer_dir.iterdir()
        if path.is_dir()
        and _CHECKPOINT.match(path.name)
        and (path / TRAINER_STATE_NAME).is_file()
        and (path / OPTIMIZER_NAME).is_file()
    ]
    return max(complete, key=checkpoint_step, default=None)


def remove_trainer_checkpoints(trainer_dir: Path) -> None:
    """Delete the Trainer's checkpoints once the model directory holds the result."""
    if trainer_dir.is_dir():
        shutil.rmtree(trainer_dir)
