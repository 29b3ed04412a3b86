"""Acquiring a champion's checkpoint: local index first, then MLflow, with a full error."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from nerp_eval.acquire import acquire_checkpoint, checkpoint_problems
from nerp_eval.errors import AcquisitionError
from nerp_eval.targets import resolve_target
from nerp_infra.artifacts import ArtifactIndex


def test_local_refit_checkpoint_is_found_and_validated(
    index: ArtifactIndex, make_study: Any, models: dict[str, Path]
) -> None:
    study = make_study(models["bert-small"], [0.5, 0.6])
    found = acquire_checkpoint(study.artifact_id, index=index)
    assert found.model_dir == study.artifact_dir / "refit" / "model"
    assert found.source.startswith("local: refit_checkpoint of study")
    assert checkpoint_problems(found.model_dir) == []


def test_missing_folder_falls_back_to_the_mlflow_refit_run(
    root: Path, index: ArtifactIndex, make_study: Any, models: dict[str, Path]
) -> None:
    study = make_study(models["bert-small"], [0.5, 0.6], log_refit_artifacts=True)
    shutil.rmtree(study.artifact_dir / "refit")
    found = acquire_checkpoint(study.artifact_id, index=index)
    assert found.source == f"mlflow run {study.refit_run_id}"
    assert found.model_dir.is_relative_to(root / ".acquired" / study.refit_run_id)
    assert found.attempts[0][1].endswith("does not exist")
    # the downloaded checkpoint is a working model
    target = resolve_target(found.model_dir)
    assert target.backend == "torch"
    again = acquire_checkpoint(study.artifact_id, index=index)
    assert again.model_dir == found.model_dir  # cached, not downloaded twice


def test_nothing_usable_lists_every_place_tried(
    index: ArtifactIndex, make_study: Any, models: dict[str, Path]
) -> None:
    study = make_study(models["bert-small"], [0.5, 0.6])  # the refit run has no artifacts
    (study.artifact_dir / "refit" / "model" / "model.safetensors").unlink()
    with pytest.raises(AcquisitionError) as caught:
        acquire_checkpoint(study.artifact_id, index=index)
    message = str(caught.value)
    assert f"cannot acquire the checkpoint of study {study.artifact_id}; tried:" in message
    assert "no weights (model.safetensors or pytorch_model.bin)" in message
    assert f"mlflow run {study.refit_run_id}: the run's artifacts hold no checkpoint" in message
    assert len(caught.value.attempts) == 2


def test_unknown_reference_says_where_it_looked(index: ArtifactIndex) -> None:
    with pytest.raises(AcquisitionError, match="no artifact study-nope in .*nerp-index.sqlite"):
        acquire_checkpoint("study-nope", index=index)
