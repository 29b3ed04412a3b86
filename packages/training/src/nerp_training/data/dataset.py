"""The dataset artifact: documents in, fingerprinted train/validation/test files out.

``prepare_dataset`` is what the ``data`` stage of a pipeline runs, and what trainers
and HPO read back with ``load_dataset``. The artifact directory holds::

    train.jsonl  validation.jsonl  test.jsonl   native documents, one split each
    label_map.json                              the BIO label scheme of the entity types
    validation_report.json  stats.json          what import/validation did, and counts
    nerp.json                                   manifest: data_fp, source_fp, counts

Two fingerprints: ``data_fp`` (ARCHITECTURE §3) covers the split files' content and
the label map, so anything trained on the dataset can name exactly what it saw;
``source_fp`` covers what the dataset is made from (the data config, the input files'
content, and for synthetic data the generator's versions), so ``reuse_if_exists`` can
skip generating or importing altogether when nothing changed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from nerp_infra.artifacts import ArtifactIndex, begin_artifact, kinds, read_manifest
from nerp_infra.config.data import DataConfig
from nerp_infra.deprecation import deprecated_names
from nerp_infra.documents import Document, read_documents, write_documents
from nerp_infra.fingerprints import data_fp as compute_data_fp
from nerp_infra.fingerprints import fingerprint, short
from nerp_infra.labels import LabelScheme
from nerp_infra.paths import ANY_BACKBONE, OutputLayout
from nerp_training.data.importers import import_documents
from nerp_training.data.records import DataError
from nerp_training.data.splits import split_documents
from nerp_training.data.stats import document_stats
from nerp_training.data.synth import synthesize_resumes
from nerp_training.data.validation import ValidationReport, validate_documents

__all__ = [
    "SPLIT_FILES",
    "PreparedDataset",
    "load_dataset",
    "load_or_prepare_dataset",
    "prepare_dataset",
    "source_fingerprint",
]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "DATASET_KIND": "nerp_infra.artifacts.kinds:DATASET_KIND",
        "DATASET_STAGE": "nerp_infra.artifacts.kinds:DATA_STAGE",
    },
)

logger = logging.getLogger("nerp_training.data")

SPLITS = ("train", "validation", "test")
SPLIT_FILES: dict[str, str] = {name: f"{name}.jsonl" for name in SPLITS}
LABEL_MAP_FILE = "label_map.json"
REPORT_FILE = "validation_report.json"
STATS_FILE = "stats.json"
_SOURCE_FORMAT = 1


@dataclass
class PreparedDataset:
    """A dataset artifact's documents per split, entity types and identity."""

    artifact_id: str
    artifact_dir: Path
    data_fp: str
    labels: tuple[str, ...]
    train: list[Document]
    validation: list[Document]
    test: list[Document]
    source_fp: str | None = None
    reused: bool = False
    manifest_metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def label_scheme(self) -> LabelScheme:
        return LabelScheme(self.labels)

    @property
    def splits(self) -> dict[str, list[Document]]:
        return {"train": self.train, "validation": self.validation, "test": self.test}

    def path(self, split: str) -> Path:
        """The JSONL file of one split (``train``, ``validation`` or ``test``)."""
        if split not in SPLIT_FILES:
            raise KeyError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return self.artifact_dir / SPLIT_FILES[split]


def _resolve_files(config: DataConfig, config_dir: Path | None) -> list[Path]:
    base = config_dir if config_dir is not None else Path.cwd()
    files = [p if p.is_absolute() else base / p for p in config.files]
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise DataError(f"data file(s) not found: {', '.join(missing)}", field="data.files")
    return files


def source_fingerprint(config: DataConfig, *, config_dir: Path | None = None) -> str:
    """What the dataset is made from, known before generating or importing anything.

    File paths are left out (the same data elsewhere is the same dataset); their content
    and names relative to their common folder go in through ``data_fp``.
    """
    settings = config.model_dump(mode="json", exclude={"files"})
    payload: dict[str, Any] = {"fp": "data-source", "format": _SOURCE_FORMAT, "config": settings}
    if config.source == "synthetic":
        payload["generator"] = {
            "nerp-training": version("nerp-training"),
            "faker": version("faker"),
        }
    else:
        files = _resolve_files(config, config_dir)
        payload["inputs"] = compute_data_fp(files, config.label_mapping)
        payload["importer"] = version("nerp-training")
    return fingerprint(payload)


def _documents(
    config: DataConfig, config_dir: Path | None
) -> tuple[list[Document], ValidationReport]:
    if config.source == "synthetic":
        synth = config.synthetic
        docs = synthesize_resumes(synth.n_documents, seed=synth.seed, locale=synth.locale)
        return validate_documents(
            docs,
            labels=config.labels,
            overlap_policy=config.overlap_policy,
            label_mapping=config.label_mapping,
        )
    result = import_documents(
        _resolve_files(config, config_dir),
        format=config.format,
        label_mapping=config.label_mapping,
        labels=config.labels,
        overlap_policy=config.overlap_policy,
    )
    return result.documents, result.report


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def prepare_dataset(
    data_config: DataConfig,
    *,
    index: ArtifactIndex,
    layout: OutputLayout,
    run_mode: str = "reuse_if_exists",
    config_dir: Path | None = None,
) -> PreparedDataset:
    """Synthesise or import, validate, split and write a dataset artifact (or reuse one).

    ``config_dir`` resolves relative ``files`` (the loader already makes them absolute
    for configs read from YAML). Under ``reuse_if_exists`` and ``resume_if_incomplete``
    a complete artifact with the same ``source_fp`` is returned without any work; a
    dataset is cheap to rebuild, so an incomplete one is never resumed but replaced.
    """
    source_fp = source_fingerprint(data_config, config_dir=config_dir)
    if run_mode in ("reuse_if_exists", "resume_if_incomplete"):
        found = index.latest(
            kinds.DATASET_KIND,
            stage=kinds.DATA_STAGE,
            backbone=ANY_BACKBONE,
            fingerprints={"source_fp": source_fp},
        )
        if found is not None:
            logger.info("reusing dataset %s (same source_fp %s)", found.id, short(source_fp))
            dataset = load_dataset(found.path)
            dataset.reused = True
            return dataset

    docs, report = _documents(data_config, config_dir)
    if not docs:
        raise DataError("no documents left after validation; nothing to train on")
    split_cfg = data_config.split
    splits = split_documents(
        docs,
        train=split_cfg.train,
        validation=split_cfg.validation,
        test=split_cfg.test,
        seed=split_cfg.seed,
    )
    scheme = LabelScheme(data_config.labels)
    label_map = scheme.to_dict()
    layout.root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".data-staging-", dir=layout.root))
    try:
        for name, split_docs in splits.as_dict().items():
            write_documents(split_docs, staging / SPLIT_FILES[name])
        files = [staging / SPLIT_FILES[name] for name in SPLITS]
        dataset_fp = compute_data_fp(files, label_map, root=staging)
        fingerprints = {"data_fp": dataset_fp, "source_fp": source_fp}
        decision = begin_artifact(
            index,
            layout,
            kind=kinds.DATASET_KIND,
            stage=kinds.DATA_STAGE,
            backbone=ANY_BACKBONE,
            key=f"data-{short(dataset_fp)}",
            fingerprints=fingerprints,
            config={"data": data_config.model_dump(mode="json")},
            run_mode="force_new" if run_mode == "force_new" else "reuse_if_exists",
        )
        if not decision.should_run:
            dataset = load_dataset(decision.handle.dir)
            dataset.reused = True
            return dataset
        handle = decision.handle
        for name in SPLITS:
            os.replace(staging / SPLIT_FILES[name], handle.path(SPLIT_FILES[name]))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    stats: dict[str, Any] = {
        name: document_stats(split_docs) for name, split_docs in splits.as_dict().items()
    }
    stats["all"] = document_stats(docs)
    stats["pooled_strata"] = splits.pooled_strata
    _write_json(handle.path(LABEL_MAP_FILE), label_map)
    _write_json(handle.path(REPORT_FILE), report.to_dict())
    _write_json(handle.path(STATS_FILE), stats)
    metrics = {
        "documents": len(docs),
        "documents_train": len(splits.train),
        "documents_validation": len(splits.validation),
        "documents_test": len(splits.test),
        "spans": report.spans_out,
        "dropped": report.dropped_count,
        "trimmed": report.trimmed_count,
    }
    handle.complete(metrics=metrics)
    logger.info("wrote dataset %s to %s", handle.id, handle.dir)
    return PreparedDataset(
        artifact_id=handle.id,
        artifact_dir=handle.dir,
        data_fp=dataset_fp,
        labels=scheme.entity_types,
        train=splits.train,
        validation=splits.validation,
        test=splits.test,
        source_fp=source_fp,
        reused=False,
        manifest_metrics=metrics,
    )


def load_or_prepare_dataset(
    data_config: DataConfig,
    *,
    index: ArtifactIndex,
    layout: OutputLayout,
    dataset_dir: str | os.PathLike[str] | None = None,
) -> PreparedDataset:
    """The dataset artifact at ``dataset_dir`` (the one this run's data stage made), else
    ``data_config``'s, prepared into ``index`` (reused when it is already there)."""
    if dataset_dir is not None:
        return load_dataset(dataset_dir)
    return prepare_dataset(data_config, index=index, layout=layout, run_mode="reuse_if_exists")


def load_dataset(artifact_dir: str | os.PathLike[str]) -> PreparedDataset:
    """Read a complete dataset artifact, checking its files still match its data_fp."""
    directory = Path(artifact_dir)
    manifest = read_manifest(directory)
    if manifest.kind != kinds.DATASET_KIND:
        raise DataError(
            f"artifact {manifest.id} is a {manifest.kind!r}, not a dataset", path=directory
        )
    if manifest.status != "complete":
        raise DataError(
            f"dataset artifact {manifest.id} is {manifest.status}; prepare it again",
            path=directory,
        )
    stated = manifest.fingerprints.get("data_fp")
    if not stated:
        raise DataError(
            "manifest has no data_fp", path=directory / "nerp.json", field="fingerprints"
        )
    try:
        label_map = json.loads((directory / LABEL_MAP_FILE).read_text(encoding="utf-8"))
        scheme = LabelScheme.from_dict(label_map)
    except FileNotFoundError:
        raise DataError("missing", path=directory / LABEL_MAP_FILE) from None
    except ValueError as exc:
        raise DataError(str(exc), path=directory / LABEL_MAP_FILE) from None
    files = [directory / SPLIT_FILES[name] for name in SPLITS]
    for file in files:
        if not file.is_file():
            raise DataError("split file missing from the dataset artifact", path=file)
    actual = compute_data_fp(files, label_map, root=directory)
    if actual != stated:
        raise DataError(
            f"split files or label map changed since the artifact was written (data_fp "
            f"{short(actual)} ≠ manifest {short(stated)})",
            path=directory,
        )
    train, validation, test = (read_documents(file) for file in files)
    return PreparedDataset(
        artifact_id=manifest.id,
        artifact_dir=directory,
        data_fp=stated,
        labels=scheme.entity_types,
        train=train,
        validation=validation,
        test=test,
        source_fp=manifest.fingerprints.get("source_fp"),
        manifest_metrics=dict(manifest.metrics),
    )
