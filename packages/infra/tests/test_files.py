"""Atomic writers leave artifacts readable by every user (0644 files, 0755 folders)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nerp_infra.artifacts.manifest import Manifest, new_artifact_id, write_manifest
from nerp_infra.documents import Document, write_documents
from nerp_infra.files import atomic_write, staging_dir
from nerp_infra.model_files import InferenceSettings, write_inference_settings


@pytest.fixture
def strict_umask() -> Iterator[None]:
    """Even a process with umask 077 writes artifacts others can read."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.usefixtures("strict_umask")
def test_artifact_files_are_0644_and_staging_folders_0755(tmp_path: Path) -> None:
    record = Manifest.model_validate(
        {
            "kind": "dataset",
            "id": new_artifact_id("dataset"),
            "stage": "data",
            "backbone": "any",
            "key": "data-1234abcd",
            "variant": 1,
        }
    )
    manifest = write_manifest(tmp_path, record)
    settings = InferenceSettings(labels=("O", "B-NAME", "I-NAME"), max_length=32, stride=8)
    inference = write_inference_settings(tmp_path, settings)
    docs = write_documents([Document(id="a", text="Jane")], tmp_path / "docs.jsonl")
    plain = atomic_write(tmp_path / "bytes.bin", b"\x00\x01")
    for path in (manifest, inference, docs, plain):
        assert _mode(path) == 0o644, path
    assert _mode(staging_dir(tmp_path, ".stage-")) == 0o755
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    atomic_write(target, "old")
    with pytest.raises(TypeError):
        atomic_write(target, 3)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]
