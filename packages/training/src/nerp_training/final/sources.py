"""Where the final model's settings come from: ``scratch``, ``best_selected``, ``final_training``.

``best_selected`` reads the ``selection`` artifact it is given (the pipeline passes the one
its ``select`` stage produced), else the newest complete one (written by ``nerp select``
in nerp-eval). The fields read from its manifest are::

    extra["champion"] = {
        "backbone": str,                 # model.backbone of the champion
        "params": {TrainConfig fields},  # its hyper-parameters (any subset; the rest
                                         # come from the experiment's train section)
        "trial_id": str | None,          # MLflow run id of the HPO trial, for lineage
        "study_artifact_id": str | None, # the study artifact, added to the lineage
    }

``final_training`` continues from the newest complete model artifact of the
final-training stage: its weights and tokenizer, its window settings (the ``model``
section it recorded), and the experiment's train settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nerp_infra.artifacts import ArtifactIndex, IndexedArtifact, ManifestError, kinds
from nerp_infra.artifacts.payloads import SelectionPayload
from nerp_infra.config import ExperimentConfig, ModelConfig, TrainConfig
from nerp_infra.deprecation import deprecated_names
from nerp_infra.model_files import CHECKPOINT_DIR

__all__ = [
    "SOURCES",
    "Champion",
    "FinalTrainingError",
    "TrainingPlan",
    "plan_training",
    "read_champion",
]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "FINAL_STAGE": "nerp_infra.artifacts.kinds:FINAL_TRAINING_STAGE",
        "MODEL_KIND": "nerp_infra.artifacts.kinds:MODEL_KIND",
        "SELECTION_KIND": "nerp_infra.artifacts.kinds:SELECTION_KIND",
    },
)

SOURCES = ("scratch", "best_selected", "final_training")


class FinalTrainingError(RuntimeError):
    """The final training cannot start: a missing input artifact or an unusable one."""


@dataclass(frozen=True)
class Champion:
    """The selected backbone and hyper-parameters, and where they came from."""

    selection_id: str
    backbone: str
    params: Mapping[str, Any]
    trial_id: str | None
    study_artifact_id: str | None


@dataclass(frozen=True)
class TrainingPlan:
    """What to train: settings, an optional model to start from, and the input artifacts."""

    source: str
    model: ModelConfig
    train: TrainConfig
    init_from: Path | None = None
    lineage: tuple[str, ...] = ()
    champion: Champion | None = None
    parent_model_id: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def read_champion(index: ArtifactIndex, selection_id: str | None = None) -> Champion:
    """The champion of selection artifact ``selection_id`` (default: the newest complete
    one), validated as the selection payload."""
    found: IndexedArtifact | None
    if selection_id is not None:
        found = index.get(selection_id)
        if found.manifest.kind != kinds.SELECTION_KIND:
            raise FinalTrainingError(
                f"artifact {selection_id} is a {found.manifest.kind}, not a selection"
            )
    else:
        found = index.latest(kinds.SELECTION_KIND, status="complete")
    if found is None:
        raise FinalTrainingError(
            f"final_training.source is 'best_selected' but {index.root} holds no complete "
            "selection artifact; run `nerp select` (after `nerp hpo`) first, or set "
            "final_training.source to 'scratch'"
        )
    try:
        champion = SelectionPayload.of(found.manifest, found.path).champion
    except ManifestError as exc:
        raise FinalTrainingError(f"selection artifact {found.id}: {exc}") from None
    return Champion(
        selection_id=found.id,
        backbone=champion.backbone,
        params=dict(champion.params),
        trial_id=champion.trial_id,
        study_artifact_id=champion.study_artifact_id,
    )


def _champion_train(config: ExperimentConfig, champion: Champion) -> TrainConfig:
    try:
        return TrainConfig.model_validate({**config.train.model_dump(), **champion.params})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise FinalTrainingError(
            f"selection artifact {champion.selection_id}: extra.champion.params are not valid "
            f"train settings: {problems}"
        ) from None


def _previous_model(
    config: ExperimentConfig, index: ArtifactIndex, model_id: str | None
) -> TrainingPlan:
    found: IndexedArtifact | None
    if model_id is not None:
        found = index.get(model_id)
        if found.manifest.kind != kinds.MODEL_KIND:
            raise FinalTrainingError(f"artifact {model_id} is a {found.manifest.kind}, not a model")
    else:
        found = index.latest(kinds.MODEL_KIND, stage=kinds.FINAL_TRAINING_STAGE, status="complete")
    if found is None:
        raise FinalTrainingError(
            f"final_training.source is 'final_training' but {index.root} holds no complete "
            "final-training model to continue from; train one with source 'scratch' or "
            "'best_selected' first"
        )
    recorded = found.manifest.config.get("model")
    try:
        model = ModelConfig.model_validate(recorded) if recorded else config.model
    except ValidationError as exc:
        raise FinalTrainingError(
            f"model artifact {found.id} ({found.path}/nerp.json): field config.model is not a "
            f"valid model section: {exc}"
        ) from None
    checkpoint = found.path / CHECKPOINT_DIR
    if not (checkpoint / "config.json").is_file():
        raise FinalTrainingError(
            f"model artifact {found.id}: {checkpoint} holds no checkpoint to continue from"
        )
    return TrainingPlan(
        source="final_training",
        model=model,
        train=config.final_training.train_config(config.train),
        init_from=checkpoint,
        lineage=(found.id,),
        parent_model_id=found.id,
    )


def plan_training(
    config: ExperimentConfig,
    source: str,
    index: ArtifactIndex,
    *,
    selection_id: str | None = None,
    previous_model_id: str | None = None,
) -> TrainingPlan:
    """Resolve ``source`` into settings; ``final_training.overrides`` apply on top of all.

    ``selection_id`` names the selection ``best_selected`` reads and ``previous_model_id``
    the model ``final_training`` continues (the pipeline passes the experiment's; default:
    the newest)."""
    overrides = config.final_training
    if source == "scratch":
        return TrainingPlan(
            source=source, model=config.model, train=overrides.train_config(config.train)
        )
    if source == "best_selected":
        champion = read_champion(index, selection_id)
        lineage = [champion.selection_id]
        if champion.study_artifact_id:
            lineage.append(champion.study_artifact_id)
        try:
            model = ModelConfig.model_validate(
                {**config.model.model_dump(), "backbone": champion.backbone}
            )
        except ValidationError as exc:
            raise FinalTrainingError(
                f"selection artifact {champion.selection_id}: extra.champion.backbone "
                f"{champion.backbone!r} is not a valid backbone: {exc}"
            ) from None
        return TrainingPlan(
            source=source,
            model=model,
            train=overrides.train_config(_champion_train(config, champion)),
            lineage=tuple(lineage),
            champion=champion,
        )
    if source == "final_training":
        return _previous_model(config, index, previous_model_id)
    raise FinalTrainingError(f"final_training.source {source!r} is not one of {', '.join(SOURCES)}")
