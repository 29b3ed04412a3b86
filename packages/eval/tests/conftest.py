"""Shared fixtures: a real dataset, two really trained tiny models of different sizes, an
ONNX package, one MLflow store, and study artifacts recorded the way nerp-hpo records them.

The two models are the two "backbones" of the selection tests: local folders named
``bert-small`` (1 layer, hidden 32) and ``bert-large`` (4 layers, hidden 192), so their
measured latencies differ by far more than timing noise on a shared CI machine.
"""

from __future__ import annotations

import functools
import json
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nerp_infra.artifacts import ArtifactIndex, begin_artifact
from nerp_infra.config import (
    BenchmarkConfig,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    TrackingConfig,
    TrainConfig,
)
from nerp_infra.fingerprints import fingerprint
from nerp_infra.paths import OutputLayout, slug
from nerp_infra.tags import build_tags
from nerp_infra.tracking import log_metrics, log_params, setup_mlflow, start_run

DATA = {"synthetic": {"n_documents": 40, "seed": 3}}
"""The data section every test root uses (so the data stage reuses the session dataset)."""
MODEL_WINDOW = {"max_length": 64, "stride": 16}
QUICK_TRAIN = {
    "epochs": 1,
    "batch_size": 8,
    "learning_rate": 3e-3,
    "early_stopping_patience": None,
    "precision": "fp32",
    "seed": 7,
}
SIZES = {
    "bert-small": {
        "hidden_size": 32,
        "num_layers": 1,
        "num_heads": 2,
        "intermediate_size": 64,
        "vocab_size": 800,
    },
    "bert-large": {
        "hidden_size": 192,
        "num_layers": 4,
        "num_heads": 4,
        "intermediate_size": 768,
        "vocab_size": 800,
    },
}


@pytest.fixture(scope="session")
def experiment_sections() -> dict[str, Any]:
    """The data, model and train sections the test roots and studies were made with."""
    return {
        "data": DATA,
        "model": {"backbone": "tiny", **MODEL_WINDOW},
        "train": QUICK_TRAIN,
    }


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite tracking store for the session (creating one costs seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="session")
def tracking(mlflow_uri: str) -> TrackingConfig:
    return TrackingConfig(uri=mlflow_uri, experiment_prefix="nerp-test")


@pytest.fixture(scope="session")
def base_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output root holding only the dataset artifact (copied by :func:`root`)."""
    from nerp_training.data import prepare_dataset

    root = tmp_path_factory.mktemp("base") / "outputs"
    index = ArtifactIndex(root)
    prepare_dataset(DataConfig.model_validate(DATA), index=index, layout=OutputLayout(root))
    index.close()
    return root


@pytest.fixture
def root(base_root: Path, tmp_path: Path) -> Path:
    """A fresh output root of this test, with the session's dataset already in it."""
    target = tmp_path / "outputs"
    shutil.copytree(base_root, target)
    return target


@pytest.fixture
def index(root: Path) -> ArtifactIndex:
    return ArtifactIndex(root)


@pytest.fixture
def layout(root: Path) -> OutputLayout:
    return OutputLayout(root)


@pytest.fixture(scope="session")
def dataset(base_root: Path) -> Any:
    from nerp_training.data import load_dataset

    found = ArtifactIndex(base_root).latest("dataset")
    assert found is not None
    return load_dataset(found.path)


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory, dataset: Any) -> dict[str, Path]:
    """Two really trained tiny models (HF checkpoints with tokenizer and inference.json).

    The small one trains 3 epochs on the train split so its predictions are a mix of
    right and wrong (every error class shows up); the large one trains one epoch on a few
    documents: it only has to be real and slow.
    """
    from nerp_training.trainer import train_model

    base = tmp_path_factory.mktemp("backbones")
    out: dict[str, Path] = {}
    for name, size in SIZES.items():
        small = name == "bert-small"
        result = train_model(
            train_docs=dataset.train if small else dataset.train[:8],
            eval_docs=None,
            entity_types=dataset.labels,
            model_config=ModelConfig.model_validate(
                {"backbone": "tiny", **MODEL_WINDOW, "tiny": size}
            ),
            train_config=TrainConfig.model_validate({**QUICK_TRAIN, "epochs": 3 if small else 1}),
            output_dir=base / f"{name}-run",
            progress=False,
        )
        assert result.model_dir is not None
        target = base / name
        shutil.move(str(result.model_dir), target)
        out[name] = target
    return out


@pytest.fixture(scope="session")
def package(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small model converted to a parity-checked ONNX package (fp32 + int8)."""
    from nerp_deploy.convert import convert_checkpoint

    out = tmp_path_factory.mktemp("package") / "bert-small-onnx"
    convert_checkpoint(
        models["bert-small"],
        out,
        parity={"int8_min_tag_agreement": 0.5, "int8_max_f1_drop": 1.0, "n_samples": 2},
    )
    return out


@pytest.fixture
def quick_bench() -> BenchmarkConfig:
    """Few iterations, one thread (timings of a 2-core CI box stay stable), few texts."""
    return BenchmarkConfig(
        backends=["torch", "onnx_fp32", "onnx_int8"],
        batch_sizes=[1, 4],
        warmup=1,
        iterations=5,
        threads=1,
        n_texts=4,
    )


@dataclass(frozen=True)
class StudyInfo:
    artifact_id: str
    artifact_dir: Path
    study_name: str
    backbone: str
    trial_run_ids: dict[int, str]
    refit_run_id: str | None


def _trial_params(number: int) -> dict[str, Any]:
    return {"learning_rate": 1e-3 * (1 + number), "batch_size": 8 if number % 2 else 16}


@pytest.fixture(scope="session")
def study_recorder(dataset: Any, tracking: TrackingConfig) -> Callable[..., StudyInfo]:
    """Record a finished study exactly as nerp-hpo does: a ``study`` artifact (refit
    checkpoint inside, best trial and run ids in ``extra``, trials in report/trials.json)
    and MLflow runs (parent, one nested run per trial with ``cv_mean``, pruned trials
    tagged, and the refit run).

    Call as ``record(root, index, backbone_path, values)``: ``values`` are the trials'
    objective values in trial order, ``None`` makes a pruned trial; the backbone is a
    local folder (the model trained for it), as a user would set ``model.backbone``.
    """

    def make(
        root: Path,
        index: ArtifactIndex,
        backbone_path: Path,
        values: Sequence[float | None],
        *,
        log_refit_artifacts: bool = False,
        with_mlflow: bool = True,
    ) -> StudyInfo:
        layout = OutputLayout(root)
        backbone = str(backbone_path)
        component = slug(backbone_path.name)
        base_name = f"study{uuid.uuid4().hex[:6]}"
        config = ExperimentConfig.model_validate(
            {
                "data": DATA,
                "model": {"backbone": backbone, **MODEL_WINDOW},
                "train": QUICK_TRAIN,
                "hpo": {"study_name": base_name, "backbones": [backbone], "n_trials": len(values)},
            }
        )
        decision = begin_artifact(
            index,
            layout,
            kind="study",
            stage="hpo",
            backbone=component,
            key=f"{base_name}-{component}",
            fingerprints={
                "data_fp": dataset.data_fp,
                "space_fp": fingerprint({"space": base_name}),
            },
            lineage=[dataset.artifact_id],
            config=config.model_dump(mode="json"),
            run_mode="force_new",
        )
        handle = decision.handle
        study_name = f"{base_name}-{component}-v{handle.manifest.variant}"
        complete = [(n, v) for n, v in enumerate(values) if v is not None]
        best_number, best_value = max(complete, key=lambda nv: nv[1])
        trial_runs: dict[int, str] = {}
        refit_run: str | None = None
        parent: str | None = None
        refit_dir = handle.dir / "refit" / "model"
        shutil.copytree(backbone_path, refit_dir)
        if with_mlflow:
            setup_mlflow(config_uri=tracking.uri, output_root=root)
            common = {"backbone": component, "study_name": study_name, "data_fp": dataset.data_fp}
            with start_run(
                "hpo",
                f"hpo-{base_name}-{component}-v1",
                tags=build_tags(role="parent", artifact_id=handle.id, **common),
                prefix=tracking.experiment_prefix,
            ) as parent:
                for number, value in enumerate(values):
                    with start_run(
                        "hpo",
                        f"hpo-{base_name}-{component}-t{number}",
                        tags=build_tags(role="trial", trial_number=number, **common),
                        prefix=tracking.experiment_prefix,
                        nested=True,
                        parent_run_id=parent,
                    ) as run_id:
                        log_params(_trial_params(number))
                        if value is None:
                            import mlflow

                            mlflow.set_tags(build_tags(status_reason="pruned"))
                        else:
                            log_metrics({"cv_mean": value, "cv_std": 0.01, "trial_seconds": 1.0})
                        trial_runs[number] = run_id
                with start_run(
                    "hpo",
                    f"hpo-{base_name}-{component}-t{best_number}-refit",
                    tags=build_tags(role="refit", trial_number=best_number, **common),
                    prefix=tracking.experiment_prefix,
                    nested=True,
                    parent_run_id=parent,
                ) as refit_run:
                    if log_refit_artifacts:
                        import mlflow

                        mlflow.log_artifacts(str(refit_dir), "model")
        report_dir = handle.dir / "report"
        report_dir.mkdir()
        rows = [
            {
                "number": n,
                "state": "COMPLETE" if v is not None else "PRUNED",
                "value": v,
                **{f"param.{k}": p for k, p in _trial_params(n).items()},
            }
            for n, v in enumerate(values)
        ]
        (report_dir / "trials.json").write_text(
            json.dumps({"study_name": study_name, "direction": "maximize", "trials": rows})
        )
        best = {
            "number": best_number,
            "value": best_value,
            "params": _trial_params(best_number),
            "fold_scores": [best_value],
            "cv_mean": best_value,
            "cv_std": 0.01,
        }
        handle.complete(
            metrics={
                "best_value": best_value,
                "n_complete": len(complete),
                "n_pruned": len(values) - len(complete),
                "n_failed": 0,
            },
            extra={
                "study_name": study_name,
                "storage_url": f"sqlite:///{handle.dir / 'study.db'}",
                "direction": "maximize",
                "objective_metric": "f1_macro",
                "best_trial": best,
                "best_backbone": backbone,
                "best_trial_run_id": trial_runs.get(best_number),
                "refit_checkpoint": "refit/model",
                "refit_trial_number": best_number,
                "refit_mlflow_run_id": refit_run,
                "mlflow_parent_run_id": parent,
                "report": {"trials_json": "report/trials.json", "plots": {}},
            },
        )
        return StudyInfo(handle.id, handle.dir, study_name, backbone, trial_runs, refit_run)

    return make


@pytest.fixture
def make_study(
    root: Path, index: ArtifactIndex, study_recorder: Callable[..., StudyInfo]
) -> Callable[..., StudyInfo]:
    """``study_recorder`` bound to this test's output root."""
    return functools.partial(study_recorder, root, index)
