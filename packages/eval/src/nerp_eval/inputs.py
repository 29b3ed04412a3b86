"""A stage's inputs: the final model, its ONNX package and the dataset, from this run
(``StageContext``; run alone: the experiment's own, else the newest, said on the console),
and the documents or models a command names on its command line.
"""

from __future__ import annotations

from pathlib import Path

from nerp_eval.acquire import acquire_checkpoint
from nerp_eval.errors import EvalError
from nerp_eval.evaluation.run import EvaluationData
from nerp_infra.artifacts import MANIFEST_NAME, ArtifactIndex, IndexedArtifact, kinds
from nerp_infra.config import TrackingConfig
from nerp_infra.deprecation import deprecated_names
from nerp_infra.documents import DocumentError, read_documents
from nerp_infra.pipeline import StageContext

__all__ = [
    "dataset_for",
    "dataset_input",
    "evaluation_data",
    "final_model_input",
    "model_or_package_path",
    "package_for",
    "package_input",
    "served_input",
]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "DATASET_KIND": "nerp_infra.artifacts.kinds:DATASET_KIND",
        "FINAL_STAGE": "nerp_infra.artifacts.kinds:FINAL_TRAINING_STAGE",
        "MODEL_KIND": "nerp_infra.artifacts.kinds:MODEL_KIND",
        "PACKAGE_KIND": "nerp_infra.artifacts.kinds:ONNX_PACKAGE_KIND",
    },
)

SPLITS = ("train", "validation", "test")


def final_model_input(ctx: StageContext) -> IndexedArtifact | None:
    """This run's final model (run alone: the experiment's, else the newest, said on the
    console); any model artifact when none comes from final training."""
    return ctx.input(kinds.MODEL_KIND, artifact_stage=kinds.FINAL_TRAINING_STAGE) or ctx.input(
        kinds.MODEL_KIND
    )


def package_for(index: ArtifactIndex, model_id: str) -> IndexedArtifact | None:
    """The newest complete ONNX package converted from this model artifact."""
    packages = [
        child
        for child in index.children(model_id)
        if child.manifest.kind == kinds.ONNX_PACKAGE_KIND and child.status == "complete"
    ]
    return packages[-1] if packages else None


def package_input(ctx: StageContext, model: IndexedArtifact) -> IndexedArtifact | None:
    """The ONNX package this run converted from ``model``, else the newest one of it."""
    package = ctx.upstream(kinds.ONNX_PACKAGE_KIND)
    if package is not None and model.id in package.manifest.lineage:
        return package
    return package_for(ctx.index, model.id)


def served_input(ctx: StageContext) -> IndexedArtifact | None:
    """What this experiment serves: the ONNX package of its final model, else the model."""
    model = final_model_input(ctx)
    if model is None:
        return None
    return package_input(ctx, model) or model


def dataset_for(index: ArtifactIndex, artifact_id: str | None) -> IndexedArtifact | None:
    """The complete dataset in an artifact's lineage; None when the lineage holds none."""
    if artifact_id is not None and artifact_id in index:
        for ancestor in index.lineage(artifact_id):
            if ancestor.manifest.kind == kinds.DATASET_KIND and ancestor.status == "complete":
                return ancestor
    return None


def dataset_input(ctx: StageContext, artifact_id: str) -> IndexedArtifact | None:
    """The dataset an artifact was made from, else this experiment's (``ctx.input``)."""
    return dataset_for(ctx.index, artifact_id) or ctx.input(kinds.DATASET_KIND)


def _from_dataset_dir(directory: Path, split: str) -> EvaluationData:
    from nerp_training.data import DataError, load_dataset

    if split not in SPLITS:
        raise EvalError(f"--split {split!r}: a dataset has splits {', '.join(SPLITS)}")
    try:
        dataset = load_dataset(directory)
    except DataError as exc:
        raise EvalError(str(exc)) from exc
    return EvaluationData(
        documents=list(dataset.splits[split]),
        data_fp=dataset.data_fp,
        source=f"dataset {dataset.artifact_id} ({split})",
        artifact_id=dataset.artifact_id,
        split=split,
    )


def evaluation_data(
    ref: str | Path, *, index: ArtifactIndex, split: str = "test"
) -> EvaluationData:
    """Documents to evaluate on: a dataset artifact (folder or id; one split) or a
    ``.json`` / ``.jsonl`` documents file."""
    path = Path(ref)
    if path.is_dir():
        if not (path / MANIFEST_NAME).is_file():
            raise EvalError(
                f"{path}: a folder given as data must be a dataset artifact (with {MANIFEST_NAME})"
            )
        return _from_dataset_dir(path, split)
    if path.is_file():
        try:
            docs = read_documents(path)
        except DocumentError as exc:
            raise EvalError(str(exc)) from exc
        if not any(doc.spans for doc in docs):
            raise EvalError(f"{path}: no document has gold spans; nothing to evaluate against")
        return EvaluationData.from_documents(docs, str(path))
    if str(ref) in index:
        found = index.get(str(ref))
        if found.manifest.kind != kinds.DATASET_KIND:
            raise EvalError(f"artifact {ref} is a {found.manifest.kind}, not a dataset")
        return _from_dataset_dir(found.path, split)
    raise EvalError(
        f"{ref}: no such file or folder, and no artifact with that id in {index.db_path}"
    )


def model_or_package_path(
    ref: str | Path, index: ArtifactIndex, *, tracking: TrackingConfig | None = None
) -> Path:
    """The folder a model or ONNX package reference names: a folder, or an artifact id
    (a model or study checkpoint is acquired locally or from MLflow when its folder is gone).
    """
    path = Path(ref)
    if path.is_dir():
        return path
    if str(ref) not in index:
        raise EvalError(f"{ref}: no such folder, and no artifact with that id in {index.db_path}")
    found = index.get(str(ref))
    kind = found.manifest.kind
    if kind == kinds.ONNX_PACKAGE_KIND:
        if not (found.path / MANIFEST_NAME).is_file():
            raise EvalError(f"ONNX package {ref}: its folder {found.path} is gone")
        return found.path
    if kind in (kinds.MODEL_KIND, kinds.STUDY_KIND):
        return acquire_checkpoint(str(ref), index=index, tracking=tracking).model_dir
    raise EvalError(f"artifact {ref} is a {kind}, not a model, study or ONNX package")
