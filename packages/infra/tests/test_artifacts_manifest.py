from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from nerp_infra.artifacts import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    new_artifact_id,
    read_manifest,
    write_manifest,
)


def _manifest(**changes: object) -> Manifest:
    data: dict[str, object] = {
        "kind": "model",
        "id": new_artifact_id("model"),
        "stage": "final_training",
        "backbone": "minilm",
        "key": "spec-1234abcd",
        "variant": 1,
        "fingerprints": {"spec_fp": "1234abcd" * 8},
        "lineage": ["dataset-1"],
        "config": {"train": {"lr": 5e-5}},
    }
    data.update(changes)
    return Manifest.model_validate(data)


def test_round_trip(tmp_path: Path) -> None:
    manifest = _manifest(metrics={"f1": 0.9}, extra={"mlflow_run_id": "r1"})
    written = write_manifest(tmp_path, manifest)
    assert written == tmp_path / MANIFEST_NAME
    assert read_manifest(tmp_path) == manifest
    assert read_manifest(written) == manifest
    assert manifest.status == "incomplete"
    assert manifest.schema_version == 1
    assert json.loads(written.read_text())["fingerprints"] == manifest.fingerprints
    assert [p.name for p in tmp_path.iterdir()] == [MANIFEST_NAME]  # no temp files left


def test_touched_updates_timestamp_and_validates() -> None:
    manifest = _manifest()
    later = manifest.touched(status="complete")
    assert later.status == "complete"
    assert later.created_at == manifest.created_at
    assert later.updated_at >= manifest.updated_at
    with pytest.raises(ValueError, match="status"):
        manifest.touched(status="done")


def test_ids_are_unique_and_readable() -> None:
    ids = {new_artifact_id("onnx") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("onnx-") for i in ids)


def test_readers_never_see_a_partial_manifest(tmp_path: Path) -> None:
    """A reader polling while a writer rewrites a large manifest sees whole files only."""
    write_manifest(tmp_path, _manifest())
    stop = threading.Event()
    seen: list[int] = []
    errors: list[Exception] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(read_manifest(tmp_path).variant)
            except Exception as exc:
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    big = {f"k{i}": "v" * 200 for i in range(200)}
    try:
        for variant in range(1, 80):
            write_manifest(tmp_path, _manifest(variant=variant, config=big))
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert seen
    assert read_manifest(tmp_path).variant == 79
    assert [p.name for p in tmp_path.iterdir()] == [MANIFEST_NAME]


def test_a_failed_write_keeps_the_old_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the rename fails after the temp file was written (disk full, …)."""
    old = _manifest()
    write_manifest(tmp_path, old)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("nerp_infra.files.os.replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        write_manifest(tmp_path, _manifest(variant=2))
    assert read_manifest(tmp_path) == old
    assert [p.name for p in tmp_path.iterdir()] == [MANIFEST_NAME]


def test_read_errors_name_the_file_and_reason(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=rf"{tmp_path / MANIFEST_NAME}: no manifest"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text('{"kind": "model",\n "id": }')
    with pytest.raises(ManifestError, match="not valid JSON at line 2, column 8"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("[]")
    with pytest.raises(ManifestError, match="expected a JSON object, got list"):
        read_manifest(tmp_path)
    data = json.loads(_manifest().model_dump_json())
    data["variant"] = 0
    data["kind"] = "Model!"
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=r"invalid manifest: kind: .*; variant: .*1") as info:
        read_manifest(tmp_path)
    assert str(tmp_path / MANIFEST_NAME) in str(info.value)


def test_newer_schema_and_unknown_fields_are_rejected(tmp_path: Path) -> None:
    data = json.loads(_manifest().model_dump_json())
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({**data, "schema_version": 2}))
    with pytest.raises(ManifestError, match="schema_version: .*newer than this nerp-infra"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({**data, "colour": "red"}))
    with pytest.raises(ManifestError, match="colour: Extra inputs are not permitted"):
        read_manifest(tmp_path)


def test_write_into_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="folder does not exist"):
        write_manifest(tmp_path / "nope", _manifest())
