"""Train the champion once: the HPO refit becomes the final model when it is that model.

With ``hpo.refit: true`` the study trains its best trial's settings on train + validation
(``<study>/refit/model``); final training from ``best_selected`` would train the same
settings on the same documents again. Before training, :func:`check_refit` compares what
final training is about to train with what the refit trained:

- the refit's ``spec_fp`` (data_fp, backbone, model and train settings, seed: see
  :func:`refit_spec_fp`, which the refit itself uses) against the same recipe computed
  from the final-training plan;
- the refit's ``exec_fp`` (versions, precision, device type) against final training's;
- the documents: the refit trains on train + validation in one process from the
  backbone's initial weights, so ``final_training.train_on_validation`` must be true,
  ``nproc`` 1, and the source ``best_selected``.

When all match, the refit's ``model/`` is linked (hard links, copies across file systems)
into the new model artifact, which records ``extra.reused_refit`` and keeps the study in
its lineage; nothing is trained. Otherwise final training trains as before and says why it
did not reuse. ``final_training.reuse_refit: false`` always trains.

The study artifact's manifest fields read here (written by nerp-hpo)::

    extra.refit_checkpoint     "refit/model" (relative to the study folder)
    extra.refit_spec_fp        spec_fp of the refit (refit_spec_fp)
    extra.refit_exec_fp        exec_fp of the refit
    extra.refit_trial_number   the trial it refitted
    extra.refit_mlflow_run_id  its MLflow run, when tracked
    fingerprints.data_fp       the dataset the study ran on

and ``refit/refit.json`` next to the checkpoint (``train``: the refit's train settings,
``backbone``, ``train_seconds``), read only to explain a mismatch.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerp_infra.artifacts import ArtifactIndex, ArtifactNotFoundError, ManifestError
from nerp_infra.artifacts.payloads import StudyPayload
from nerp_infra.config import ModelConfig, TrainConfig
from nerp_infra.fingerprints import short, spec_fp
from nerp_infra.model_files import INFERENCE_FILE
from nerp_training.final.sources import TrainingPlan

__all__ = [
    "REFIT_RECORD",
    "REUSED_REFIT_FIELD",
    "RefitCheck",
    "ReusableRefit",
    "check_refit",
    "link_checkpoint",
    "refit_spec_fp",
]

REFIT_RECORD = "refit.json"
"""The refit's record, next to its checkpoint folder (``<study>/refit/refit.json``)."""
REUSED_REFIT_FIELD = "reused_refit"
"""Manifest ``extra`` field of a model artifact that took the refit's weights."""


def refit_spec_fp(*, data_fp: str, model: ModelConfig, train: TrainConfig) -> str:
    """spec_fp of a model trained on all of a dataset's train + validation documents in
    one process from the backbone's initial weights: the refit's recipe, and the one final
    training compares with before reusing a refit."""
    return spec_fp(
        data_fp=data_fp,
        backbone=model.backbone,
        model=model.model_dump(mode="json"),
        train=train.model_dump(mode="json"),
        seed=train.seed,
    )


@dataclass(frozen=True)
class ReusableRefit:
    """A study's refit checkpoint that is exactly the model final training would train."""

    study_artifact_id: str
    trial_number: int | None
    checkpoint: Path
    spec_fp: str
    exec_fp: str
    mlflow_run_id: str | None
    train_seconds: float | None

    def record(self, study_dir: Path) -> dict[str, Any]:
        """What the model artifact's ``extra.reused_refit`` holds."""
        return {
            "study_artifact_id": self.study_artifact_id,
            "trial_number": self.trial_number,
            "checkpoint": self.checkpoint.relative_to(study_dir).as_posix(),
            "spec_fp": self.spec_fp,
            "exec_fp": self.exec_fp,
            "mlflow_run_id": self.mlflow_run_id,
            "train_seconds": self.train_seconds,
        }


@dataclass(frozen=True)
class RefitCheck:
    """The outcome of :func:`check_refit`: the refit to reuse, or why not (``reason``)."""

    refit: ReusableRefit | None
    reason: str
    study_dir: Path | None = None


def _read_record(checkpoint: Path) -> dict[str, Any]:
    try:
        data = json.loads((checkpoint.parent / REFIT_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return dict(data) if isinstance(data, Mapping) else {}


def _spec_difference(
    plan: TrainingPlan, data_fp: str, study_data_fp: object, record: Mapping[str, Any]
) -> str:
    """Which part of the spec differs, as far as the study's files tell."""
    if study_data_fp != data_fp:
        return "the study ran on another dataset (data_fp differs)"
    if record.get("backbone") not in (None, plan.model.backbone):
        return (
            f"the refit's backbone is {record['backbone']}, final training's {plan.model.backbone}"
        )
    refit_train = record.get("train")
    if isinstance(refit_train, Mapping):
        mine = plan.train.model_dump(mode="json")
        changed = sorted(k for k in {*mine, *refit_train} if mine.get(k) != refit_train.get(k))
        if changed:
            shown = ", ".join(f"{k} {refit_train.get(k)!r} -> {mine.get(k)!r}" for k in changed[:4])
            more = f" (+{len(changed) - 4} more)" if len(changed) > 4 else ""
            return f"train settings differ from the refit's: {shown}{more}"
    return "model settings differ from the refit's (spec_fp differs)"


def check_refit(
    plan: TrainingPlan,
    *,
    data_fp: str,
    exec_fp: str,
    index: ArtifactIndex,
    train_on_validation: bool,
    nproc: int,
    enabled: bool,
) -> RefitCheck | None:
    """Whether final training can take the champion's HPO refit instead of training.

    None when no refit is in question (the source is not ``best_selected``, the
    selection names no study, or the study made no refit: ``hpo.refit`` off); else a
    :class:`RefitCheck` with the refit to reuse, or ``refit=None`` and the reason it
    cannot be reused.
    """
    champion = plan.champion
    if champion is None or not champion.study_artifact_id:
        return None
    study_id = champion.study_artifact_id
    if not enabled:
        return RefitCheck(None, "final_training.reuse_refit is false")
    try:
        study = index.get(study_id)
    except ArtifactNotFoundError:
        return RefitCheck(None, f"study {study_id} is not in this output root")
    try:
        extra = StudyPayload.of(study.manifest, study.path)
    except ManifestError as exc:
        return RefitCheck(None, str(exc))
    relative = extra.refit_checkpoint
    if not relative:
        return None  # hpo.refit is off: nothing to reuse, nothing to say
    checkpoint = study.path / relative
    if study.status != "complete" or not (checkpoint / INFERENCE_FILE).is_file():
        return RefitCheck(None, f"study {study_id}'s refit checkpoint {checkpoint} is missing")
    if not train_on_validation:
        return RefitCheck(
            None,
            "final_training.train_on_validation is false (the refit trained on train + validation)",
        )
    if nproc != 1:
        return RefitCheck(None, f"final_training.nproc is {nproc} (the refit ran in one process)")
    expected = refit_spec_fp(data_fp=data_fp, model=plan.model, train=plan.train)
    if extra.refit_spec_fp != expected:
        record = _read_record(checkpoint)
        reason = _spec_difference(plan, data_fp, study.manifest.fingerprints.get("data_fp"), record)
        return RefitCheck(None, reason)
    if extra.refit_exec_fp != exec_fp:
        return RefitCheck(
            None,
            "the refit ran with other library versions, precision or device (exec_fp "
            f"{short(extra.refit_exec_fp or '0')} vs {short(exec_fp)})",
        )
    record = _read_record(checkpoint)
    seconds = record.get("train_seconds")
    refit = ReusableRefit(
        study_artifact_id=study_id,
        trial_number=extra.refit_trial_number,
        checkpoint=checkpoint,
        spec_fp=expected,
        exec_fp=exec_fp,
        mlflow_run_id=extra.refit_mlflow_run_id,
        train_seconds=float(seconds) if isinstance(seconds, int | float) else None,
    )
    return RefitCheck(refit, f"spec_fp {short(expected)} and exec_fp match", study.path)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


def link_checkpoint(source: Path, target: Path) -> None:
    """Put ``source``'s files at ``target`` (a folder that must not exist yet): hard links
    where the file system allows, so the weights take no second copy on disk."""
    shutil.copytree(source, target, copy_function=_link_or_copy)
