"""The folds of a study: made once, saved in the study artifact, reloaded on every resume.

Cross-validation runs over the dataset's train + validation documents (the usual choice:
the validation split is training data for a CV search); the test split is never read by
HPO, so it stays a clean estimate for the evaluation stage. Folds are stratified by
entity-type set (``nerp_training.data.kfold_documents``) with the data split seed.

``k_folds: 1`` is a single split: train on the train split, score on the validation
split. It needs no folds file: the dataset artifact fixes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nerp_infra.documents import Document
from nerp_training.data import Fold, PreparedDataset, kfold_documents, load_folds, save_folds
from nerp_training.data.records import DataError

__all__ = ["FOLDS_FILE", "cv_documents", "single_split", "study_folds"]

FOLDS_FILE = "folds.json"


def cv_documents(dataset: PreparedDataset) -> list[Document]:
    """The documents cross-validation draws from: train then validation (never test)."""
    return [*dataset.train, *dataset.validation]


def single_split(dataset: PreparedDataset) -> Fold:
    """``k_folds: 1``: the dataset's own train/validation split as one fold."""
    if not dataset.validation:
        raise DataError(
            f"dataset {dataset.artifact_id} has no validation documents; hpo.k_folds 1 scores "
            "trials on the validation split (set data.split.validation > 0 or k_folds >= 2)"
        )
    return Fold(
        index=0,
        train_ids=tuple(d.id for d in dataset.train),
        validation_ids=tuple(d.id for d in dataset.validation),
    )


def study_folds(
    dataset: PreparedDataset, *, k: int, seed: int, directory: Path | None
) -> list[Fold]:
    """The folds of a study: loaded from ``directory/folds.json`` when it exists (a
    resumed study keeps its folds), else made and saved there. ``directory`` None keeps
    them in memory only (a one-off trial)."""
    if k == 1:
        return [single_split(dataset)]
    docs = cv_documents(dataset)
    path = None if directory is None else Path(directory) / FOLDS_FILE
    if path is not None and path.is_file():
        folds = load_folds(path)
        if len(folds) != k:
            raise DataError(
                f"the study's folds file has {len(folds)} folds but hpo.k_folds is {k}; "
                "a study keeps its folds (start a new version with run_mode force_new)",
                path=path,
            )
        check_folds(folds, docs, path=path)
        return folds
    folds = kfold_documents(docs, k, seed)
    if path is not None:
        save_folds(
            path,
            folds,
            meta={"dataset": dataset.artifact_id, "data_fp": dataset.data_fp, "seed": seed},
        )
    return folds


def check_folds(folds: Sequence[Fold], docs: Sequence[Document], *, path: Path) -> None:
    """Folds must name exactly the CV documents (the study's dataset, unchanged)."""
    ids = {d.id for d in docs}
    named = {i for fold in folds for i in (*fold.train_ids, *fold.validation_ids)}
    if named != ids:
        missing = sorted(named - ids)[:1] or sorted(ids - named)[:1]
        raise DataError(
            f"the folds do not cover the dataset's train + validation documents (e.g. "
            f"{missing[0]!r}); they were made for other data",
            path=path,
        )
