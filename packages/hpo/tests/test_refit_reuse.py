"""Train the champion once: the pipeline's ``train`` stage takes the HPO refit's weights
when the refit trained exactly the final model, and trains (saying why) when not.

A real study (1 trial, 2 folds, 1 epoch, tiny BERT) with refit runs through the pipeline
runner; a stand-in ``select`` stage writes the selection artifact the way nerp-eval does
(the champion's full train settings and its study), since nerp-eval is not a dependency
of nerp-hpo.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from nerp_hpo.space import trial_train_config
from nerp_hpo.stage import hpo_stage
from nerp_infra.artifacts import ArtifactIndex, begin_artifact, read_manifest
from nerp_infra.config import ExperimentConfig
from nerp_infra.fingerprints import file_sha256
from nerp_infra.model_files import CHECKPOINT_DIR
from nerp_infra.paths import ANY_BACKBONE
from nerp_infra.pipeline import StageContext, StageResult
from nerp_infra.pipeline.runner import PipelineReport, open_context, run_pipeline
from nerp_training.final import run_final_training
from nerp_training.final.stage import train_stage
from nerp_training.trainer import TRAINER_DIR

WEIGHTS = "model.safetensors"


def _select_stage(ctx: StageContext) -> StageResult:
    """What ``nerp select`` records for a single study: its best trial as the champion."""
    study = ctx.index.latest("study", status="complete")
    assert study is not None
    best = study.manifest.extra["best_trial"]
    params = trial_train_config(ctx.config.train, best["params"]).model_dump(mode="json")
    decision = begin_artifact(
        ctx.index,
        ctx.layout,
        kind="selection",
        stage="select",
        backbone=ANY_BACKBONE,
        fingerprints={"select_fp": study.manifest.fingerprints["space_fp"]},
        lineage=[study.id],
        run_mode="force_new",
    )
    champion = {
        "backbone": study.manifest.extra["best_backbone"],
        "params": params,
        "trial_id": study.manifest.extra.get("best_trial_run_id"),
        "study_artifact_id": study.id,
    }
    decision.handle.complete(extra={"champion": champion})
    return StageResult(status="done", artifact_ids=(decision.handle.id,), summary="selected")


@dataclass
class Run:
    root: Path
    config: ExperimentConfig
    report: PipelineReport
    console: str


def _train_without_trainer(ctx: StageContext) -> StageResult:
    """The real ``train`` stage, with the trainer made to fail if anything calls it."""

    def no_training(**_: Any) -> Any:
        raise AssertionError("final training trained although the HPO refit was reusable")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("nerp_training.trainer.train.train_model", no_training)
        return train_stage(ctx)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, tiny_experiment: Callable[..., Any]) -> Run:
    """hpo (1 trial, refit) → select → train, as ``nerp pipeline`` runs them."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # see conftest._no_inherited_tracking_uri
    root = tmp_path_factory.mktemp("reuse-root")
    config = tiny_experiment({"hpo": {"n_trials": 1}, "stages": ["hpo", "select", "train"]})
    out = io.StringIO()
    ctx = open_context(
        config, output_root=root, console=Console(file=out, width=400), progress=False
    )
    stages = {"hpo": hpo_stage, "select": _select_stage, "train": _train_without_trainer}
    report = run_pipeline(ctx, stages=stages)
    return Run(root, config, report, out.getvalue())


def _study_refit(root: Path) -> Path:
    study = ArtifactIndex(root).latest("study", status="complete")
    assert study is not None
    return study.path / study.manifest.extra["refit_checkpoint"]


def test_the_train_stage_takes_the_refit_weights_without_training(pipeline: Run) -> None:
    (model_id,) = pipeline.report.results["train"].artifact_ids
    index = ArtifactIndex(pipeline.root)
    model = index.get(model_id)
    manifest = read_manifest(model.path)
    study = index.latest("study", status="complete")
    assert study is not None
    assert manifest.status == "complete"
    reused = manifest.extra["reused_refit"]
    assert reused["study_artifact_id"] == study.id
    assert reused["checkpoint"] == "refit/model"
    assert reused["trial_number"] == study.manifest.extra["refit_trial_number"]
    assert reused["spec_fp"] == study.manifest.extra["refit_spec_fp"]
    assert (
        reused["exec_fp"]
        == study.manifest.extra["refit_exec_fp"]
        == (manifest.fingerprints["exec_fp"])
    )
    assert study.id in manifest.lineage  # the model walks back to the study and dataset
    assert manifest.lineage[0] == study.manifest.lineage[0]
    # the same weights, byte for byte, and no trainer ran here (it would have raised)
    refit = _study_refit(pipeline.root)
    ours = model.path / CHECKPOINT_DIR
    assert file_sha256(ours / WEIGHTS) == file_sha256(refit / WEIGHTS)
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in refit.iterdir())
    assert not (model.path / TRAINER_DIR).exists()
    assert "global_step" not in manifest.extra
    lines = [line for line in pipeline.console.splitlines() if line.startswith("train ")]
    assert len(lines) == 1 and "reusing the HPO refit of trial 0" in lines[0], lines
    assert "not trained again" in pipeline.report.results["train"].summary
    # run again: the model artifact is reused as any complete artifact is
    again = run_final_training(pipeline.config, output_root=pipeline.root, progress=False)
    assert (again.action, again.artifact_id) == ("reuse", model_id)


def test_a_changed_train_setting_trains_and_says_why(pipeline: Run) -> None:
    out = io.StringIO()
    config = ExperimentConfig.model_validate(
        {
            **pipeline.config.model_dump(),
            "final_training": {"overrides": {"epochs": 2}},
            "tracking": {"enabled": False},
        }
    )
    outcome = run_final_training(
        config, output_root=pipeline.root, progress=False, console=Console(file=out, width=400)
    )
    assert outcome.action == "new" and not outcome.reused_refit
    assert outcome.result is not None and outcome.result.global_step > 0
    assert "reused_refit" not in outcome.manifest.extra
    assert outcome.refit_note is not None
    assert "not reused: train settings differ from the refit's: epochs 1 -> 2" in (
        outcome.refit_note
    )
    assert out.getvalue().count("HPO refit") == 1
    weights = outcome.model_dir / WEIGHTS
    assert file_sha256(weights) != file_sha256(_study_refit(pipeline.root) / WEIGHTS)


def test_reuse_refit_false_trains_the_same_model_again(pipeline: Run) -> None:
    """With reuse off, final training trains the refit's recipe itself: same weights."""
    config = ExperimentConfig.model_validate(
        {
            **pipeline.config.model_dump(),
            "final_training": {"reuse_refit": False, "run_mode": "force_new"},
            "tracking": {"enabled": False},
        }
    )
    outcome = run_final_training(config, output_root=pipeline.root, progress=False)
    assert outcome.action == "new" and outcome.result is not None
    assert outcome.refit_note is not None and "reuse_refit is false" in outcome.refit_note
    assert file_sha256(outcome.model_dir / WEIGHTS) == file_sha256(
        _study_refit(pipeline.root) / WEIGHTS
    )
