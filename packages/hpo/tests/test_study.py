"""A whole study with the real CV objective and the tiny backbone: folds, trials, refit,
the study artifact, MLflow runs, reports, backups and run modes."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nerp_hpo import StudyOutcome, open_study, plan_study, run_study
from nerp_hpo.errors import HpoError
from nerp_infra.artifacts import ArtifactIndex, read_manifest
from nerp_infra.model_files import INFERENCE_FILE, TOKENIZER_FILE
from nerp_training.data import load_dataset, load_folds


@dataclass
class Finished:
    outcome: StudyOutcome
    root: Path
    backup: Path
    config: Any


@pytest.fixture(scope="module")
def finished(
    tmp_path_factory: pytest.TempPathFactory, tiny_experiment: Callable[..., Any]
) -> Finished:
    """One real study (2 trials, 2 folds, 1 epoch, 60 resumes) with refit, run once."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # see conftest._no_inherited_tracking_uri
    root = tmp_path_factory.mktemp("hpo-root")
    backup = tmp_path_factory.mktemp("drive")
    config = tiny_experiment()
    outcome = run_study(config, output_root=root, backup_root=backup, progress=False)
    return Finished(outcome, root, backup, config)


def _mlflow_runs(root: Path) -> list[Any]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{(root / 'mlflow.db').as_posix()}")
    return list(mlflow.search_runs(search_all_experiments=True, output_format="list"))


def test_the_study_artifact_holds_what_nerp_eval_reads(finished: Finished) -> None:
    outcome = finished.outcome
    manifest = read_manifest(outcome.artifact_dir)
    assert (manifest.kind, manifest.stage, manifest.backbone) == ("study", "hpo", "tiny")
    assert manifest.status == "complete"
    assert manifest.key == "t-tiny" and manifest.variant == 1
    assert outcome.study_name == manifest.extra["study_name"] == "t-tiny-v1"
    assert set(manifest.fingerprints) == {"data_fp", "space_fp"}
    dataset_id = manifest.lineage[0]
    index = ArtifactIndex(finished.root)
    assert index.get(dataset_id).manifest.kind == "dataset"
    assert manifest.metrics["n_complete"] == 2 and manifest.metrics["n_pruned"] == 0
    best = manifest.extra["best_trial"]
    assert manifest.metrics["best_value"] == best["value"] == outcome.best_value
    assert set(best) >= {"number", "params", "value", "fold_scores"}
    assert manifest.extra["refit_checkpoint"] == "refit/model"
    assert manifest.extra["mlflow_parent_run_id"] == outcome.mlflow_parent_run_id
    assert manifest.extra["storage_url"].startswith("sqlite:///")
    assert index.children(dataset_id)[-1].id == outcome.artifact_id


def test_trials_are_scored_by_cross_validation(finished: Finished) -> None:
    study = open_study(finished.outcome.study_name, finished.outcome.storage_url)
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for trial in trials:
        scores = trial.user_attrs["fold_scores"]
        assert len(scores) == 2
        assert trial.value == pytest.approx(statistics.fmean(scores))
        assert trial.user_attrs["cv_mean"] == pytest.approx(trial.value)
        assert trial.user_attrs["cv_std"] == pytest.approx(statistics.pstdev(scores))
        assert trial.user_attrs["epochs_trained"] == 2  # 2 folds x 1 epoch
        assert sorted(trial.intermediate_values) == [0, 1]  # step = fold * epochs + epoch
    assert any(max(t.user_attrs["fold_scores"]) > 0 for t in trials)  # it learned something


def test_folds_are_distinct_cover_train_and_validation_and_never_test(finished: Finished) -> None:
    folds = load_folds(finished.outcome.artifact_dir / "folds.json")
    manifest = read_manifest(finished.outcome.artifact_dir)
    dataset = load_dataset(ArtifactIndex(finished.root).get(manifest.lineage[0]).path)
    cv_ids = {d.id for d in [*dataset.train, *dataset.validation]}
    held_out = [set(f.validation_ids) for f in folds]
    assert len(folds) == 2
    assert held_out[0].isdisjoint(held_out[1])
    assert held_out[0] | held_out[1] == cv_ids
    for fold in folds:
        assert set(fold.train_ids) == cv_ids - set(fold.validation_ids)
    assert cv_ids.isdisjoint(d.id for d in dataset.test)


def test_the_refit_is_a_model_directory_of_the_best_trial(finished: Finished) -> None:
    from nerp_training.trainer import load_model_dir

    outcome = finished.outcome
    assert outcome.refit_checkpoint == outcome.artifact_dir / "refit" / "model"
    for name in (INFERENCE_FILE, TOKENIZER_FILE, "config.json"):
        assert (outcome.refit_checkpoint / name).is_file()
    loaded = load_model_dir(outcome.refit_checkpoint)
    assert loaded.settings.max_length == 64
    record = json.loads((outcome.artifact_dir / "refit" / "refit.json").read_text())
    assert record["trial_number"] == outcome.best_trial["number"]  # type: ignore[index]
    assert record["params"] == outcome.best_trial["params"]  # type: ignore[index]
    assert record["documents"] == 51  # train + validation of 60 resumes (test kept out)
    assert not (outcome.artifact_dir / "trials").exists()  # trial checkpoints not kept


def test_mlflow_has_a_parent_run_nested_trials_folds_and_a_linked_refit(finished: Finished) -> None:
    runs = _mlflow_runs(finished.root)
    by_role: dict[str, list[Any]] = {}
    for run in runs:
        by_role.setdefault(run.data.tags.get("nerp.role", "?"), []).append(run)
    (parent,) = by_role["parent"]
    assert parent.info.run_id == finished.outcome.mlflow_parent_run_id
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["optuna.study.best_value"] == str(finished.outcome.best_value)
    trials = by_role["trial"]
    assert len(trials) == 2
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {parent.info.run_id}
    assert all("optuna.trial.cv_mean" in t.data.tags for t in trials)
    assert all("cv_mean" in t.data.metrics for t in trials)
    folds = by_role["fold"]
    assert len(folds) == 4
    assert {f.data.tags["mlflow.parentRunId"] for f in folds} == {t.info.run_id for t in trials}
    (refit,) = by_role["refit"]
    best = str(finished.outcome.best_trial["number"])  # type: ignore[index]
    best_run = next(t for t in trials if t.data.tags["nerp.trial_number"] == best)
    assert refit.data.tags["nerp.hpo_trial_run_id"] == best_run.info.run_id
    assert refit.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert refit.data.tags["mlflow.runName"].endswith(f"t{best}-refit")


def test_reports_and_backup_are_written(finished: Finished) -> None:
    report = finished.outcome.artifact_dir / "report"
    lines = (report / "trials.csv").read_text().splitlines()
    assert lines[0].startswith("number,state,value") and len(lines) == 3
    assert "param.learning_rate" in lines[0]
    best = json.loads((report / "best_trial.json").read_text())
    assert best["number"] == finished.outcome.best_trial["number"]  # type: ignore[index]
    for plot in ("optimization_history", "param_importances", "parallel_coordinate"):
        html = (report / f"{plot}.html").read_text()
        assert "plotly.min.js" in html and "Plotly.newPlot" in html
    relative = finished.outcome.artifact_dir.relative_to(finished.root)
    mirrored = finished.backup / relative
    for name in ("optuna.db", "folds.json", "refit/model/model.safetensors", "report/trials.csv"):
        assert (mirrored / name).is_file(), name


def test_reuse_returns_the_finished_study_and_force_new_makes_the_next_version(
    finished: Finished,
) -> None:
    again = run_study(finished.config, output_root=finished.root, progress=False)
    assert again.action == "reuse"
    assert again.artifact_id == finished.outcome.artifact_id
    assert len(open_study(again.study_name, again.storage_url).trials) == 2

    keeping = finished.config.model_copy(
        update={"hpo": finished.config.hpo.model_copy(update={"keep_trial_checkpoints": True})}
    )
    fresh = run_study(
        keeping,
        output_root=finished.root,
        run_mode="force_new",
        n_trials=1,
        progress=False,
    )
    assert (fresh.action, fresh.version, fresh.study_name) == ("new", 2, "t-tiny-v2")
    assert fresh.n_complete == 1
    for fold in (0, 1):  # kept as configured: a valid model directory per fold
        kept = fresh.artifact_dir / "trials" / "trial-0000" / f"fold-{fold}" / "model"
        assert (kept / INFERENCE_FILE).is_file()
    assert fresh.artifact_dir.parent == finished.outcome.artifact_dir.parent
    assert fresh.artifact_id != finished.outcome.artifact_id


def test_plan_errors_name_the_backbone_problem(tiny_experiment: Callable[..., Any]) -> None:
    two = tiny_experiment({"hpo": {"backbones": ["tiny", "minilm"]}})
    with pytest.raises(HpoError, match="name one with --backbone"):
        plan_study(two)
    with pytest.raises(HpoError, match="'distilbert' is not in hpo.backbones"):
        plan_study(two, "distilbert")
    shared = plan_study(
        tiny_experiment({"hpo": {"backbones": ["tiny", "minilm"], "study_per_backbone": False}})
    )
    assert (shared.key, shared.backbone) == ("t", "all")


def test_an_unknown_study_lists_what_the_storage_holds(finished: Finished) -> None:
    with pytest.raises(HpoError, match="no study 'nope'.*it holds t-tiny-v"):
        open_study("nope", finished.outcome.storage_url)


def test_optuna_sees_intermediate_values_of_every_fold(finished: Finished) -> None:
    study = optuna.load_study(
        study_name=finished.outcome.study_name, storage=finished.outcome.storage_url
    )
    for trial in study.trials:
        folds = trial.user_attrs["fold_scores"]
        # with one epoch per fold, the value at step k is fold k's (best-epoch) score
        assert [trial.intermediate_values[k] for k in (0, 1)] == pytest.approx(folds)


def test_cli_status_and_report_read_the_study(finished: Finished, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nerp_hpo.cli import app

    outcome = finished.outcome
    runner = CliRunner()
    result = runner.invoke(
        app, ["status", "--study", outcome.study_name, "--storage", outcome.storage_url, "--json"]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert (row["complete"], row["budget"], row["best_trial"]) == (
        2,
        2,
        outcome.best_trial["number"],  # type: ignore[index]
    )
    args = ["report", "--study", outcome.study_name, "--storage", outcome.storage_url]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "trials.json").is_file()
    assert (tmp_path / "parallel_coordinate.html").is_file()
    result = runner.invoke(app, ["status", "--study", "missing", "--storage", outcome.storage_url])
    assert result.exit_code == 1
    assert "no study 'missing'" in result.output


def test_status_of_an_experiment_lists_every_version(
    finished: Finished, write_experiment: Callable[..., Path]
) -> None:
    from nerp_hpo.status import studies_status

    rows = studies_status(finished.config, output_root=finished.root)
    assert [r.study_name for r in rows][:1] == ["t-tiny-v1"]
    assert rows[0].artifact_status == "complete" and rows[0].done
    assert rows[0].best_value == finished.outcome.best_value


def test_the_hpo_stage_and_command_are_registered_and_the_stage_reuses(finished: Finished) -> None:
    from importlib.metadata import entry_points

    from rich.console import Console

    from nerp_hpo.cli import app
    from nerp_hpo.stage import hpo_stage
    from nerp_infra.paths import OutputLayout
    from nerp_infra.pipeline import StageContext

    commands = {ep.name: ep for ep in entry_points(group="nerp.commands")}
    stages = {ep.name: ep for ep in entry_points(group="nerp.stages")}
    assert commands["hpo"].load() is app
    assert stages["hpo"].load() is hpo_stage
    context = StageContext(
        config=finished.config,
        output_root=finished.root,
        index=ArtifactIndex(finished.root),
        layout=OutputLayout(finished.root),
        console=Console(quiet=True),
        progress=False,
    )
    result = hpo_stage(context)
    assert result.status == "reused"
    newest = ArtifactIndex(finished.root).latest("study", stage="hpo", backbone="tiny")
    assert newest is not None  # the newest complete version with these fingerprints
    assert result.artifact_ids == (newest.id,)
    assert "f1_micro" in result.summary
