"""The final-training workflow: artifact, run modes, sources, lineage, MLflow, CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from mlflow.tracking import MlflowClient
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from typer.testing import CliRunner

from nerp_infra.artifacts import ArtifactIndex, begin_artifact, read_manifest
from nerp_infra.config import ExperimentConfig
from nerp_infra.documents import Document
from nerp_infra.fingerprints import short
from nerp_infra.labels import LabelScheme
from nerp_infra.model_files import read_inference_settings
from nerp_infra.paths import ANY_BACKBONE, OutputLayout
from nerp_training.commands.train_cmd import train as train_command
from nerp_training.data import load_dataset
from nerp_training.data.alignment import tokenize_documents
from nerp_training.final import (
    HISTORY_FILE,
    FinalTrainingError,
    FinalTrainingOutcome,
    run_final_training,
)
from nerp_training.trainer import TRAINER_DIR, load_model_dir

Load = Callable[..., ExperimentConfig]
Scratch = tuple[Path, ExperimentConfig, FinalTrainingOutcome]


class StopAt(TrainerCallback):
    """Raise ``error`` at the first step after ``epoch`` whole epochs (0: the first step)."""

    def __init__(self, epoch: int, error: BaseException) -> None:
        self.epoch = epoch
        self.error = error

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if (state.epoch or 0) > self.epoch:
            raise self.error


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory, final_experiment: Load) -> Scratch:
    """One complete scratch training, shared by the tests that build on it."""
    config = final_experiment()
    root = tmp_path_factory.mktemp("final-root")
    return root, config, run_final_training(config, output_root=root, progress=False)


def _windows(model_dir: Path, docs: list[Document]) -> int:
    loaded = load_model_dir(model_dir)
    settings = loaded.settings
    return len(
        tokenize_documents(
            docs,
            loaded.tokenizer,
            LabelScheme.from_labels(settings.labels),
            max_length=settings.max_length,
            stride=settings.stride,
            label_all_subtokens=settings.label_all_subtokens,
        )
    )


def test_scratch_training_writes_a_complete_model_artifact(scratch: Scratch) -> None:
    root, _, outcome = scratch
    assert outcome.action == "new"
    manifest = read_manifest(outcome.artifact_dir)
    assert (manifest.kind, manifest.stage, manifest.backbone) == ("model", "final_training", "tiny")
    assert manifest.status == "complete"
    fps = manifest.fingerprints
    assert set(fps) == {"data_fp", "spec_fp", "exec_fp"}
    assert manifest.key == f"spec-{short(fps['spec_fp'])}_exec-{short(fps['exec_fp'])}"
    assert outcome.artifact_dir == root / "final_training" / "tiny" / manifest.key / "v1"
    index = ArtifactIndex(root)
    dataset = index.get(manifest.lineage[0])
    assert manifest.lineage == [dataset.id] == [outcome.dataset_id]
    assert dataset.manifest.kind == "dataset"
    assert dataset.manifest.fingerprints["data_fp"] == fps["data_fp"]
    assert {"f1_macro", "f1_micro", "precision_SKILL", "train_samples_per_second"} <= set(
        manifest.metrics
    )
    assert manifest.extra["mlflow_run_id"] == outcome.mlflow_run_id
    assert manifest.extra["checkpoint_step"] > 0
    assert manifest.config["train"]["epochs"] == 2
    assert manifest.config["final_training"]["source"] == "scratch"
    settings = read_inference_settings(outcome.model_dir)
    assert settings.labels == LabelScheme(dataset.manifest.config["data"]["labels"]).labels
    assert (outcome.model_dir / "tokenizer.json").is_file()
    history = json.loads((outcome.artifact_dir / HISTORY_FILE).read_text())
    assert [record["epoch"] for record in history] == [1.0, 2.0]
    assert not (outcome.artifact_dir / TRAINER_DIR).exists()


def test_the_test_split_is_never_trained_on(scratch: Scratch) -> None:
    root, _, outcome = scratch
    dataset = load_dataset(ArtifactIndex(root).get(outcome.dataset_id).path)
    assert dataset.test, "the dataset must have a test split for this test to mean anything"
    assert outcome.result is not None
    assert outcome.result.train_windows == _windows(outcome.model_dir, dataset.train)
    support = sum(v for k, v in outcome.metrics.items() if k.startswith("support_"))
    assert support == sum(len(doc.spans) for doc in dataset.validation)


def test_the_mlflow_run_records_tags_params_and_metrics(scratch: Scratch, mlflow_uri: str) -> None:
    _, _, outcome = scratch
    assert outcome.mlflow_run_id is not None
    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.get_run(outcome.mlflow_run_id)
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    fps = outcome.manifest.fingerprints
    assert tags["nerp.stage"] == "final_training"
    assert tags["nerp.artifact_id"] == outcome.artifact_id
    assert tags["nerp.spec_fp"] == fps["spec_fp"]
    assert tags["nerp.lineage"] == outcome.dataset_id
    assert run.info.run_name == f"train-tiny-{short(fps['spec_fp'])}-{short(fps['exec_fp'])}-v1"
    assert run.data.params["train.learning_rate"] == "0.003"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [1, 2]
    assert run.data.metrics["final_f1_macro"] == outcome.metrics["f1_macro"]


def test_reuse_if_exists_skips_training(scratch: Scratch) -> None:
    root, config, outcome = scratch
    again = run_final_training(config, output_root=root, progress=False)
    assert again.action == "reuse"
    assert again.artifact_id == outcome.artifact_id
    assert again.result is None
    assert again.metrics == outcome.metrics


def test_a_pinned_variant_is_reused_or_refused(scratch: Scratch, final_experiment: Load) -> None:
    root, _, outcome = scratch
    pinned = final_experiment("final_training.variant=1")
    assert run_final_training(pinned, output_root=root).artifact_id == outcome.artifact_id
    with pytest.raises(FinalTrainingError, match="variant 9: no model artifact"):
        run_final_training(final_experiment("final_training.variant=9"), output_root=root)


def test_force_new_allocates_the_next_variant(scratch: Scratch) -> None:
    root, config, outcome = scratch
    fresh = run_final_training(config, output_root=root, run_mode="force_new", progress=False)
    assert fresh.action == "new"
    assert fresh.manifest.variant == 2
    assert fresh.manifest.key == outcome.manifest.key
    assert fresh.artifact_id != outcome.artifact_id
    assert fresh.artifact_dir.name == "v2"
    assert read_manifest(fresh.artifact_dir).status == "complete"


def test_an_interrupted_run_resumes_from_its_checkpoint(
    tmp_path: Path, final_experiment: Load, mlflow_uri: str
) -> None:
    config = final_experiment()
    with pytest.raises(KeyboardInterrupt):
        run_final_training(
            config,
            output_root=tmp_path,
            progress=False,
            callbacks=[StopAt(1, KeyboardInterrupt())],
        )
    (interrupted,) = ArtifactIndex(tmp_path).find(kind="model")
    assert interrupted.status == "incomplete"
    checkpoints = list((interrupted.path / TRAINER_DIR).glob("checkpoint-*"))
    assert len(checkpoints) == 1
    saved_step = int(checkpoints[0].name.split("-")[1])
    run_id = read_manifest(interrupted.path).extra["mlflow_run_id"]
    assert MlflowClient(tracking_uri=mlflow_uri).get_run(run_id).info.status == "KILLED"

    # reuse_if_exists would not touch it: only complete artifacts are reused
    resumed = run_final_training(
        config, output_root=tmp_path, run_mode="resume_if_incomplete", progress=False
    )
    assert resumed.action == "resume"
    assert resumed.artifact_id == interrupted.id
    assert resumed.result is not None
    assert resumed.result.resumed_from_step == saved_step
    assert resumed.result.global_step == 2 * saved_step
    manifest = read_manifest(resumed.artifact_dir)
    assert manifest.status == "complete"
    assert manifest.extra["resume_count"] == 1
    assert manifest.extra["mlflow_run_id"] == run_id
    assert MlflowClient(tracking_uri=mlflow_uri).get_run(run_id).info.status == "FINISHED"


def test_a_crash_marks_the_artifact_failed(tmp_path: Path, final_experiment: Load) -> None:
    with pytest.raises(RuntimeError, match="disk full"):
        run_final_training(
            final_experiment("tracking.enabled=false"),
            output_root=tmp_path,
            progress=False,
            callbacks=[StopAt(0, RuntimeError("disk full"))],
        )
    (failed,) = ArtifactIndex(tmp_path).find(kind="model")
    manifest = read_manifest(failed.path)
    assert manifest.status == "failed"
    assert "disk full" in manifest.extra["failure_reason"]


def test_best_selected_needs_a_selection(tmp_path: Path, final_experiment: Load) -> None:
    config = final_experiment("final_training.source=best_selected")
    with pytest.raises(FinalTrainingError, match=r"no complete selection artifact.*nerp select"):
        run_final_training(config, output_root=tmp_path)


def _selection(root: Path, champion: dict[str, Any]) -> str:
    index = ArtifactIndex(root)
    decision = begin_artifact(
        index,
        OutputLayout(root),
        kind="selection",
        stage="select",
        backbone=ANY_BACKBONE,
        fingerprints={"select_fp": "ab" * 32},
        run_mode="force_new",
    )
    decision.handle.complete(extra={"champion": champion})
    return decision.handle.id


def test_best_selected_trains_the_champion_on_train_and_validation(
    tmp_path: Path, final_experiment: Load
) -> None:
    selection = _selection(
        tmp_path,
        {
            "backbone": "tiny",
            "params": {"learning_rate": 0.004, "batch_size": 4},
            "trial_id": "mlflow-run-of-trial-3",
            "study_artifact_id": "study-0123456789abcdef",
        },
    )
    config = final_experiment(
        "final_training.source=best_selected",
        "final_training.train_on_validation=true",
        "final_training.overrides={epochs: 1}",
        "tracking.enabled=false",
    )
    outcome = run_final_training(config, output_root=tmp_path, progress=False)
    manifest = outcome.manifest
    assert manifest.lineage == [outcome.dataset_id, selection, "study-0123456789abcdef"]
    assert manifest.config["train"]["learning_rate"] == 0.004
    assert manifest.config["train"]["batch_size"] == 4
    assert manifest.config["train"]["epochs"] == 1  # final_training.overrides win
    assert manifest.config["champion"]["trial_id"] == "mlflow-run-of-trial-3"
    assert manifest.extra["trial_id"] == "mlflow-run-of-trial-3"
    assert "f1_macro" not in manifest.metrics  # nothing held out when training on validation
    dataset = load_dataset(ArtifactIndex(tmp_path).get(outcome.dataset_id).path)
    assert outcome.result is not None
    assert outcome.result.train_windows == _windows(
        outcome.model_dir, dataset.train + dataset.validation
    )

    _selection(tmp_path, {"backbone": "tiny", "params": {"batch_size": 0}})
    with pytest.raises(FinalTrainingError, match=r"extra.champion.params .*batch_size"):
        run_final_training(config, output_root=tmp_path)

    _selection(tmp_path, {"params": {"learning_rate": 0.004}})  # no backbone
    with pytest.raises(FinalTrainingError, match=r"nerp.json: field extra.champion.backbone"):
        run_final_training(config, output_root=tmp_path)


def test_final_training_source_continues_the_previous_model(
    scratch: Scratch, final_experiment: Load
) -> None:
    root, _, _ = scratch
    previous = ArtifactIndex(root).latest("model", stage="final_training")
    assert previous is not None
    config = final_experiment(
        "final_training.source=final_training", "final_training.overrides={epochs: 1}"
    )
    outcome = run_final_training(config, output_root=root, progress=False)
    assert outcome.action == "new"
    assert outcome.manifest.lineage == [outcome.dataset_id, previous.id]
    assert outcome.manifest.config["init_from"] == previous.id
    assert outcome.manifest.fingerprints["spec_fp"] != previous.manifest.fingerprints["spec_fp"]
    assert outcome.result is not None
    # it starts from the trained weights: its first epoch beats the scratch run's first
    scratch_history = json.loads((previous.path / HISTORY_FILE).read_text())
    assert outcome.result.history[0]["eval_loss"] < scratch_history[0]["eval_loss"]


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(train_command)
    return app


def test_cli_reports_reuse_and_bad_options(
    scratch: Scratch, final_overrides: tuple[str, ...], mlflow_uri: str
) -> None:
    root, _, outcome = scratch
    items = (*final_overrides, f"tracking.uri={mlflow_uri}")
    sets = [arg for item in items for arg in ("--set", item)]
    runner = CliRunner()
    ok = runner.invoke(_cli(), [*sets, "--output-root", str(root), "--no-progress"])
    assert ok.exit_code == 0, ok.output
    assert "reused model-" in ok.output  # the newest complete variant of this key
    assert f"final_training/tiny/{outcome.manifest.key}/v" in ok.output
    assert "validation f1_macro" in ok.output
    bad = runner.invoke(_cli(), [*sets, "--source", "nope", "--output-root", str(root)])
    assert bad.exit_code == 1
    assert "final_training.source" in bad.output
    missing = runner.invoke(
        _cli(), [*sets, "--source", "best_selected", "--output-root", str(root)]
    )
    assert missing.exit_code == 1
    assert "no complete selection artifact" in missing.output
