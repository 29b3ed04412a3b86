"""BackupStore and `nerp backup`: live SQLite databases and checkpoints, out and back."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nerp_infra.artifacts import (
    INDEX_NAME,
    ArtifactDecision,
    ArtifactHandle,
    ArtifactIndex,
    begin_artifact,
)
from nerp_infra.artifacts import MANIFEST_NAME as ARTIFACT_MANIFEST
from nerp_infra.backup import (
    MANIFEST_NAME,
    BackupError,
    BackupStore,
    FileState,
    default_backup_root,
)
from nerp_infra.cli import build_app
from nerp_infra.paths import OutputLayout


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    local = tmp_path / "outputs"
    local.mkdir()
    return local, tmp_path / "drive" / "nerp-backup"


@pytest.fixture
def live_study(roots: tuple[Path, Path]) -> Iterator[sqlite3.Connection]:
    """A study database in WAL mode with an open writer whose commits sit in the WAL."""
    local, _ = roots
    db = local / "hpo" / "study.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # keep commits out of the main file
    conn.execute("CREATE TABLE trials (number INTEGER PRIMARY KEY, value REAL)")
    conn.executemany("INSERT INTO trials VALUES (?, ?)", [(i, i / 10) for i in range(20)])
    conn.commit()
    yield conn
    conn.close()


def _checkpoint(local: Path) -> Path:
    ckpt = local / "final_training" / "minilm" / "v1" / "checkpoint"
    ckpt.mkdir(parents=True)
    (ckpt / "model.safetensors").write_bytes(os.urandom(50_000))
    (ckpt / "config.json").write_text('{"num_labels": 9}', encoding="utf-8")
    return ckpt


def _rows(db: Path) -> list[tuple[int, float]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT number, value FROM trials ORDER BY number").fetchall()
    finally:
        conn.close()


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_push_skip_pull_roundtrip_with_a_live_database(
    roots: tuple[Path, Path], live_study: sqlite3.Connection
) -> None:
    local, backup = roots
    ckpt = _checkpoint(local)
    db = local / "hpo" / "study.db"
    assert (local / "hpo" / "study.db-wal").exists()
    raw = local.parent / "raw-copy.db"
    shutil.copyfile(db, raw)  # what a plain file copy would back up
    assert sqlite3.connect(raw).execute("SELECT name FROM sqlite_master").fetchall() == []
    store = BackupStore(backup, local)

    first = store.push([db, Path("final_training/minilm/v1/checkpoint")])
    assert sorted(first.copied) == [
        "final_training/minilm/v1/checkpoint/config.json",
        "final_training/minilm/v1/checkpoint/model.safetensors",
        "hpo/study.db",
    ]
    assert first.skipped == []
    assert not (backup / "hpo" / "study.db-wal").exists()
    # The snapshot holds the commits that were still in the WAL.
    assert len(_rows(backup / "hpo" / "study.db")) == 20

    manifest_mtime = (backup / MANIFEST_NAME).stat().st_mtime_ns
    second = store.push()  # tracked roots, nothing changed
    assert second.copied == []
    assert (backup / MANIFEST_NAME).stat().st_mtime_ns == manifest_mtime
    assert sorted(second.skipped) == sorted(first.copied)

    live_study.execute("INSERT INTO trials VALUES (20, 2.0)")
    live_study.commit()
    third = store.push()
    assert third.copied == ["hpo/study.db"]
    assert len(_rows(backup / "hpo" / "study.db")) == 21

    manifest = json.loads((backup / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert set(manifest["files"]) == set(first.copied)
    assert manifest["files"]["hpo/study.db"]["sqlite"] is True

    # A new session: the local disk is gone.
    ckpt_files = _tree(ckpt)
    live_study.close()
    for path in sorted(local.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    pulled = store.pull()
    assert sorted(pulled.copied) == sorted(first.copied)
    assert _tree(ckpt) == ckpt_files
    assert _rows(db) == [(i, i / 10) for i in range(21)]
    assert all(s.state is FileState.CURRENT for s in store.status())

    again = store.pull()
    assert again.copied == []
    assert sorted(again.skipped) == sorted(first.copied)


def test_status_shows_how_local_and_backup_differ(roots: tuple[Path, Path]) -> None:
    local, backup = roots
    ckpt = _checkpoint(local)
    store = BackupStore(backup, local)
    store.push([ckpt])
    (ckpt / "config.json").write_text('{"num_labels": 11}', encoding="utf-8")
    (ckpt / "model.safetensors").unlink()
    (ckpt / "tokenizer.json").write_text("{}", encoding="utf-8")
    states = {s.path.rsplit("/", 1)[1]: s for s in store.status()}
    assert states["config.json"].state is FileState.LOCAL_CHANGED
    assert states["model.safetensors"].state is FileState.LOCAL_MISSING
    assert states["model.safetensors"].backup_size == 50_000
    assert states["tokenizer.json"].state is FileState.NOT_BACKED_UP
    assert states["tokenizer.json"].backup_size is None


def test_pull_keeps_locally_changed_files_unless_forced(roots: tuple[Path, Path]) -> None:
    local, backup = roots
    ckpt = _checkpoint(local)
    store = BackupStore(backup, local)
    store.push([ckpt])
    config = ckpt / "config.json"
    config.write_text("changed", encoding="utf-8")
    report = store.pull([ckpt])
    assert report.kept == ["final_training/minilm/v1/checkpoint/config.json"]
    assert config.read_text(encoding="utf-8") == "changed"
    forced = store.pull([config], force=True)
    assert forced.copied == ["final_training/minilm/v1/checkpoint/config.json"]
    assert config.read_text(encoding="utf-8") == '{"num_labels": 9}'


def test_pull_restores_a_local_file_older_than_the_backup(roots: tuple[Path, Path]) -> None:
    local, backup = roots
    ckpt = _checkpoint(local)
    store = BackupStore(backup, local)
    store.push([ckpt])
    config = ckpt / "config.json"
    config.write_text("stale", encoding="utf-8")
    os.utime(config, (1_000_000, 1_000_000))  # older than what was pushed
    assert {s.path: s.state for s in store.status([config])} == {
        "final_training/minilm/v1/checkpoint/config.json": FileState.BACKUP_NEWER
    }
    assert store.pull([config]).copied == ["final_training/minilm/v1/checkpoint/config.json"]
    assert config.read_text(encoding="utf-8") == '{"num_labels": 9}'


def test_backup_file_removed_from_the_backup_is_pushed_again(roots: tuple[Path, Path]) -> None:
    local, backup = roots
    ckpt = _checkpoint(local)
    store = BackupStore(backup, local)
    store.push([ckpt])
    (backup / "final_training/minilm/v1/checkpoint/config.json").unlink()
    assert store.push().copied == ["final_training/minilm/v1/checkpoint/config.json"]


def test_corrupt_backup_file_is_refused_on_pull(roots: tuple[Path, Path]) -> None:
    local, backup = roots
    ckpt = _checkpoint(local)
    store = BackupStore(backup, local)
    store.push([ckpt])
    (backup / "final_training/minilm/v1/checkpoint/config.json").write_text("xx", encoding="utf-8")
    (ckpt / "config.json").unlink()
    with pytest.raises(BackupError, match=r"config.json does not match its manifest"):
        store.pull()
    assert not (ckpt / "config.json").exists()


def test_paths_outside_the_local_root_and_missing_paths(
    roots: tuple[Path, Path], tmp_path: Path
) -> None:
    local, backup = roots
    store = BackupStore(backup, local)
    with pytest.raises(BackupError, match="outside the local root"):
        store.push([tmp_path / "elsewhere.db"])
    with pytest.raises(BackupError, match="outside the local root"):
        store.push([Path("../escape")])
    report = store.push([Path("hpo/not-there.db")])
    assert report.missing == ["hpo/not-there.db"]
    assert store.pull([Path("hpo/not-there.db")]).missing == ["hpo/not-there.db"]


def test_invalid_manifest_is_named(roots: tuple[Path, Path]) -> None:
    local, backup = roots
    backup.mkdir(parents=True)
    (backup / MANIFEST_NAME).write_text('{"files": 3}', encoding="utf-8")
    with pytest.raises(BackupError, match=MANIFEST_NAME):
        BackupStore(backup, local).status()


def test_backup_after_is_a_trial_callback(
    roots: tuple[Path, Path], live_study: sqlite3.Connection
) -> None:
    local, backup = roots
    store = BackupStore(backup, local)
    callback = store.backup_after([local / "hpo" / "study.db"])
    report = callback("study", "frozen-trial")  # Optuna passes (study, trial)
    assert report is not None
    assert report.copied == ["hpo/study.db"]
    live_study.execute("INSERT INTO trials VALUES (99, 9.9)")
    live_study.commit()
    later = callback()
    assert later is not None
    assert later.copied == ["hpo/study.db"]
    assert (99, 9.9) in _rows(backup / "hpo" / "study.db")


def test_backup_after_logs_failures_unless_strict(
    roots: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    local, backup = roots
    store = BackupStore(backup, local)
    lenient = store.backup_after([tmp_path / "outside.db"])
    assert lenient() is None
    assert "backup to" in caplog.text
    with pytest.raises(BackupError):
        store.backup_after([tmp_path / "outside.db"], strict=True)()


def test_default_backup_roots_per_platform() -> None:
    assert default_backup_root("colab") == Path("/content/drive/MyDrive/nerp-backup")
    assert default_backup_root("kaggle") == Path("/kaggle/working/nerp-backup")
    assert default_backup_root("local") is None
    assert default_backup_root("azureml") is None


def test_cli_push_status_pull(roots: tuple[Path, Path], live_study: sqlite3.Connection) -> None:
    local, backup = roots
    _checkpoint(local)
    app, errors = build_app()
    assert not [e for e in errors if e.name == "backup"]
    runner = CliRunner()
    common = ["--root", str(local), "--backup-root", str(backup)]
    env = {"COLUMNS": "200", "NERP_PLATFORM": "local"}

    pushed = runner.invoke(
        app, ["backup", "push", *common, "hpo/study.db", "final_training"], env=env
    )
    assert pushed.exit_code == 0, pushed.output
    assert "3 copied" in pushed.output

    again = runner.invoke(app, ["backup", "push", *common], env=env)
    assert again.exit_code == 0, again.output
    assert "0 copied" in again.output
    assert "3 current" in again.output

    (local / "hpo" / "study.db").unlink()
    (local / "hpo" / "study.db-wal").unlink(missing_ok=True)
    (local / "hpo" / "study.db-shm").unlink(missing_ok=True)
    status = runner.invoke(app, ["backup", "status", *common], env=env)
    assert status.exit_code == 0, status.output
    assert "missing locally" in status.output
    assert "hpo/study.db" in status.output

    pulled = runner.invoke(app, ["backup", "pull", *common], env=env)
    assert pulled.exit_code == 0, pulled.output
    assert "1 copied" in pulled.output
    assert len(_rows(local / "hpo" / "study.db")) == 20


def test_cli_requires_a_backup_root_off_notebooks(roots: tuple[Path, Path]) -> None:
    local, _ = roots
    app, _ = build_app()
    result = CliRunner().invoke(
        app, ["backup", "status", "--root", str(local)], env={"NERP_PLATFORM": "local"}
    )
    assert result.exit_code == 1
    assert "--backup-root" in result.output


def test_cli_push_without_paths_needs_something_tracked(roots: tuple[Path, Path]) -> None:
    local, backup = roots
    app, _ = build_app()
    result = CliRunner().invoke(
        app, ["backup", "push", "--root", str(local), "--backup-root", str(backup)]
    )
    assert result.exit_code == 1
    assert "nothing is tracked yet" in result.output


def _begin_study(local: Path, lineage: list[str] | None = None) -> ArtifactDecision:
    """What the HPO stage asks for: resume the incomplete study with these fingerprints."""
    return begin_artifact(
        ArtifactIndex(local),
        OutputLayout(local),
        kind="study",
        stage="hpo",
        backbone="tiny",
        key="t-tiny",
        fingerprints={"data_fp": "d1d1"},
        lineage=lineage or [],
        run_mode="resume_if_incomplete",
    )


def _artifacts(local: Path) -> tuple[str, str]:
    """A complete dataset and an incomplete study named after it, as stages write them;
    the study's owner is a process of an earlier notebook session on another host."""
    index = ArtifactIndex(local)
    dataset = begin_artifact(
        index,
        OutputLayout(local),
        kind="dataset",
        stage="data",
        backbone="any",
        key="data-5e1f",
        fingerprints={"source_fp": "5e1f"},
        run_mode="reuse_if_exists",
    ).handle
    (dataset.dir / "train.jsonl").write_text('{"id": "d1"}\n', encoding="utf-8")
    dataset.complete()
    study = _begin_study(local, [dataset.id]).handle
    assert index.claim(study.id, "colab-old-session:4242", is_stale=lambda _owner: True)
    study.update_extra({"study_name": "t-tiny-v1"})
    index.close()
    return dataset.id, study.id


def test_pull_registers_restored_artifacts_so_an_incomplete_one_resumes(
    roots: tuple[Path, Path],
) -> None:
    local, backup = roots
    dataset_id, study_id = _artifacts(local)
    store = BackupStore(backup, local)
    store.push([Path("data"), Path("hpo")])
    # Before the session ended, the foreign owner kept anyone else from resuming it.
    kept_out = _begin_study(local)
    assert kept_out.action == "new" and kept_out.handle.manifest.variant == 2

    shutil.rmtree(local)  # a new notebook session: the disk, index included, is gone
    local.mkdir()
    unindexed = store.pull(reindex=False)
    assert len(unindexed.copied) == 3 and unindexed.registered == []
    assert not (local / INDEX_NAME).exists()

    shutil.rmtree(local)
    local.mkdir()
    report = store.pull()
    assert sorted(report.registered) == sorted([dataset_id, study_id])
    assert report.refreshed == [] and report.index_errors == []
    index = ArtifactIndex(local)
    restored = index.get(study_id)
    assert (restored.status, restored.owner) == ("incomplete", None)
    assert [a.id for a in index.lineage(study_id, strict=True)] == [dataset_id]
    resumed = _begin_study(local)
    assert resumed.action == "resume"
    assert resumed.handle.id == study_id
    assert resumed.handle.dir == local / "hpo" / "tiny" / "t-tiny" / "v1"
    assert resumed.handle.manifest.extra["study_name"] == "t-tiny-v1"
    assert index.allocate_variant("hpo", "tiny", "t-tiny") == 2  # numbering goes on

    again = store.pull()
    assert again.copied == [] and again.registered == []


def test_pull_refreshes_an_index_row_older_than_the_restored_manifest(
    roots: tuple[Path, Path],
) -> None:
    local, backup = roots
    _, study_id = _artifacts(local)
    store = BackupStore(backup, local)
    index = ArtifactIndex(local)
    row = index.get(study_id)
    handle = ArtifactHandle(dir=row.path, manifest=row.manifest, index=index)
    handle.update_extra({"trials_done": 2})
    store.push([handle.dir])
    stale = handle.manifest.touched(extra={"trials_done": 1})
    stale = stale.model_copy(update={"updated_at": handle.manifest.updated_at - timedelta(hours=1)})
    index.update(stale)  # as if the index lagged behind the session that pushed
    (handle.dir / ARTIFACT_MANIFEST).unlink()
    report = store.pull()
    assert report.registered == [] and report.refreshed == [study_id]
    assert index.get(study_id).manifest.extra["trials_done"] == 2


def test_pull_does_not_reindex_a_backup_inside_the_output_root(tmp_path: Path) -> None:
    local = tmp_path / "outputs"
    _artifacts(local)
    store = BackupStore(local / "backup", local)
    store.push([Path("data")])
    shutil.rmtree(local / "data")
    report = store.pull()
    assert [Path(p).name for p in report.copied] == [ARTIFACT_MANIFEST, "train.jsonl"]
    assert report.registered == []
    assert "lies inside it" in report.index_errors[0]


def test_cli_pull_reports_the_artifacts_it_registered(roots: tuple[Path, Path]) -> None:
    local, backup = roots
    dataset_id, study_id = _artifacts(local)
    BackupStore(backup, local).push([Path("data"), Path("hpo")])
    shutil.rmtree(local)
    app, _ = build_app()
    common = ["--root", str(local), "--backup-root", str(backup)]
    env = {"COLUMNS": "200", "NERP_PLATFORM": "local"}
    pulled = CliRunner().invoke(app, ["backup", "pull", *common], env=env)
    assert pulled.exit_code == 0, pulled.output
    assert "3 copied" in pulled.output
    assert "artifact index: 2 registered, 0 refreshed" in pulled.output
    assert {a.id for a in ArtifactIndex(local).find()} == {dataset_id, study_id}
