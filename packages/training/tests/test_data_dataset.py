"""The dataset artifact: prepare, fingerprint, reuse without recomputation, reload."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nerp_infra.artifacts import ArtifactIndex, read_manifest
from nerp_infra.config.data import DEFAULT_LABELS, DataConfig, SplitConfig, SyntheticDataConfig
from nerp_infra.fingerprints import data_fp
from nerp_infra.labels import LabelScheme
from nerp_infra.paths import ANY_BACKBONE, OutputLayout
from nerp_training.data import (
    DATATURKS_RESUME_MAPPING,
    DataError,
    load_dataset,
    prepare_dataset,
)
from nerp_training.data import dataset as dataset_module


@pytest.fixture
def outputs(tmp_path: Path) -> tuple[ArtifactIndex, OutputLayout]:
    root = tmp_path / "outputs"
    return ArtifactIndex(root), OutputLayout(root)


def synthetic(n: int = 40, seed: int = 3) -> DataConfig:
    return DataConfig(synthetic=SyntheticDataConfig(n_documents=n, seed=seed))


def test_prepare_synthetic_writes_a_fingerprinted_artifact(
    outputs: tuple[ArtifactIndex, OutputLayout],
) -> None:
    index, layout = outputs
    ds = prepare_dataset(synthetic(), index=index, layout=layout)
    assert not ds.reused
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (28, 6, 6)
    assert ds.labels == DEFAULT_LABELS
    manifest = read_manifest(ds.artifact_dir)
    assert (manifest.kind, manifest.stage, manifest.backbone) == ("dataset", "data", ANY_BACKBONE)
    assert manifest.status == "complete"
    assert manifest.key == f"data-{ds.data_fp[:8]}"
    assert set(manifest.fingerprints) == {"data_fp", "source_fp"}
    assert manifest.metrics["documents"] == 40
    files = [ds.path(name) for name in ("train", "validation", "test")]
    label_map = LabelScheme(DEFAULT_LABELS).to_dict()
    assert (
        data_fp(files, label_map, root=ds.artifact_dir)
        == ds.data_fp
        == manifest.fingerprints["data_fp"]
    )
    report = json.loads((ds.artifact_dir / "validation_report.json").read_text())
    assert report["documents_out"] == 40
    assert report["dropped_count"] == 0
    stats = json.loads((ds.artifact_dir / "stats.json").read_text())
    assert stats["train"]["documents"] == 28
    assert stats["all"]["spans_per_type"]["NAME"] == 40
    loaded = load_dataset(ds.artifact_dir)
    assert loaded.splits == ds.splits
    assert (loaded.artifact_id, loaded.data_fp, loaded.labels) == (
        ds.artifact_id,
        ds.data_fp,
        ds.labels,
    )


def test_reuse_skips_generation_and_force_new_makes_a_variant(
    outputs: tuple[ArtifactIndex, OutputLayout], monkeypatch: pytest.MonkeyPatch
) -> None:
    index, layout = outputs
    first = prepare_dataset(synthetic(), index=index, layout=layout)

    def no_generation(*args: object, **kwargs: object) -> None:
        raise AssertionError("reuse_if_exists must not generate documents again")

    with monkeypatch.context() as patch:
        patch.setattr(dataset_module, "synthesize_resumes", no_generation)
        again = prepare_dataset(synthetic(), index=index, layout=layout)
    assert again.reused
    assert again.artifact_id == first.artifact_id
    assert again.splits == first.splits

    fresh = prepare_dataset(synthetic(), index=index, layout=layout, run_mode="force_new")
    assert fresh.artifact_id != first.artifact_id
    assert fresh.data_fp == first.data_fp
    assert fresh.artifact_dir.name == "v2"

    other = prepare_dataset(synthetic(seed=4), index=index, layout=layout)
    assert other.data_fp != first.data_fp
    assert not other.reused


def test_prepare_from_files_resolves_relative_paths_and_tracks_content(
    outputs: tuple[ArtifactIndex, OutputLayout], tmp_path: Path, fixtures_dir: Path
) -> None:
    index, layout = outputs
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(fixtures_dir / "dataturks.jsonl", data_dir / "resumes.jsonl")
    shutil.copy(fixtures_dir / "native.jsonl", data_dir / "more.jsonl")
    config = DataConfig(
        source="files",
        files=[Path("resumes.jsonl"), Path("more.jsonl")],
        label_mapping=DATATURKS_RESUME_MAPPING,
        split=SplitConfig(train=0.6, validation=0.2, test=0.2, seed=1),
    )
    ds = prepare_dataset(config, index=index, layout=layout, config_dir=data_dir)
    assert sum(len(docs) for docs in ds.splits.values()) == 5
    report = json.loads((ds.artifact_dir / "validation_report.json").read_text())
    assert report["dropped_count"] == 4
    assert report["label_actions"]["Companies worked at"]["to"] == "COMPANY"
    assert prepare_dataset(config, index=index, layout=layout, config_dir=data_dir).reused

    with (data_dir / "more.jsonl").open("a") as handle:
        handle.write(json.dumps({"id": "n-3", "text": "Extra resume text"}) + "\n")
    changed = prepare_dataset(config, index=index, layout=layout, config_dir=data_dir)
    assert not changed.reused
    assert changed.data_fp != ds.data_fp

    with pytest.raises(DataError, match="data file\\(s\\) not found"):
        prepare_dataset(config, index=index, layout=layout, config_dir=tmp_path)


def test_overlap_policy_error_stops_preparation(
    outputs: tuple[ArtifactIndex, OutputLayout], fixtures_dir: Path
) -> None:
    index, layout = outputs
    config = DataConfig(
        source="files",
        files=[fixtures_dir / "dataturks.jsonl"],
        label_mapping=DATATURKS_RESUME_MAPPING,
        overlap_policy="error",
    )
    with pytest.raises(DataError, match="overlap_policy 'error'") as info:
        prepare_dataset(config, index=index, layout=layout)
    assert info.value.report.issues_of("nested")[0].action == "error"
    assert index.find(kind="dataset") == []


def test_load_dataset_refuses_changed_or_foreign_folders(
    outputs: tuple[ArtifactIndex, OutputLayout], tmp_path: Path
) -> None:
    index, layout = outputs
    ds = prepare_dataset(synthetic(n=12), index=index, layout=layout)
    train = ds.path("train")
    train.write_text(train.read_text().replace("a", "b", 1))
    with pytest.raises(DataError, match="changed since the artifact was written"):
        load_dataset(ds.artifact_dir)
    with pytest.raises(Exception, match="no manifest"):
        load_dataset(tmp_path)
