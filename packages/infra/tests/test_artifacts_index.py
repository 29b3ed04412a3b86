from __future__ import annotations

import json
import multiprocessing as mp
import runpy
import shutil
import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from nerp_infra.artifacts import (
    INDEX_NAME,
    ArtifactIndex,
    ArtifactIndexError,
    ArtifactNotFoundError,
    Manifest,
    new_artifact_id,
    read_manifest,
    write_manifest,
)
from nerp_infra.paths import OutputLayout

MakeArtifact = Callable[..., Manifest]


@pytest.fixture
def index(tmp_path: Path) -> ArtifactIndex:
    return ArtifactIndex(tmp_path / "outputs")


@pytest.fixture
def make(index: ArtifactIndex) -> MakeArtifact:
    """Create an artifact folder with a manifest and register it."""
    layout = OutputLayout(index.root)

    def create(
        kind: str = "model",
        *,
        stage: str = "final_training",
        backbone: str = "minilm",
        key: str = "k",
        variant: int | None = None,
        status: str = "complete",
        fingerprints: dict[str, str] | None = None,
        lineage: list[str] | None = None,
        register: bool = True,
    ) -> Manifest:
        number = variant or index.allocate_variant(stage, backbone, key)
        manifest = Manifest.model_validate(
            {
                "kind": kind,
                "id": new_artifact_id(kind),
                "stage": stage,
                "backbone": backbone,
                "key": key,
                "variant": number,
                "status": status,
                "fingerprints": fingerprints or {},
                "lineage": lineage or [],
            }
        )
        directory = layout.artifact_dir(stage, backbone, key, number)
        directory.mkdir(parents=True)
        write_manifest(directory, manifest)
        if register:
            index.register(manifest, directory)
        return manifest

    return create


def test_database_is_wal_sqlite_in_the_root(index: ArtifactIndex) -> None:
    assert index.db_path == index.root / INDEX_NAME
    with sqlite3.connect(index.db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_register_get_find_and_latest(index: ArtifactIndex, make: MakeArtifact) -> None:
    spec = {"spec_fp": "a" * 64, "exec_fp": "b" * 64}
    first = make(fingerprints=spec)
    second = make(fingerprints=spec, status="incomplete")
    other = make("onnx", stage="convert", fingerprints={"conv_fp": "c" * 64})

    got = index.get(first.id)
    assert got.manifest == first
    assert got.path == index.root / "final_training" / "minilm" / "k" / "v1"
    assert got.read_manifest() == first

    assert [a.id for a in index.find(kind="model")] == [first.id, second.id]
    assert [a.id for a in index.find(status="incomplete")] == [second.id]
    assert [a.id for a in index.find(fingerprints={"spec_fp": "a" * 64})] == [first.id, second.id]
    assert index.find(fingerprints={"spec_fp": "a" * 64, "exec_fp": "x" * 64}) == []
    assert [a.id for a in index.find(variant=2)] == [second.id]
    assert [a.id for a in index.find(stage="convert", backbone="minilm")] == [other.id]
    assert len(index.find()) == 3

    assert index.latest("model").id == first.id  # type: ignore[union-attr]
    assert index.latest("model", status=None).id == second.id  # type: ignore[union-attr]
    assert index.latest("model", status="failed") is None
    assert first.id in index
    assert "model-nope" not in index
    assert index.stats() == {"complete": 2, "incomplete": 1}


def test_update_and_errors(index: ArtifactIndex, make: MakeArtifact) -> None:
    manifest = make(status="incomplete", fingerprints={"spec_fp": "a" * 64})
    done = manifest.touched(status="complete", metrics={"f1": 0.5}, fingerprints={"x": "1"})
    index.update(done)
    assert index.get(manifest.id).manifest.metrics == {"f1": 0.5}
    assert index.find(fingerprints={"spec_fp": "a" * 64}) == []
    assert [a.id for a in index.find(fingerprints={"x": "1"})] == [manifest.id]

    with pytest.raises(ArtifactNotFoundError, match=r"artifact model-missing is not in .*sqlite"):
        index.get("model-missing")
    with pytest.raises(ArtifactNotFoundError, match="model-zzz"):
        index.update(done.touched(id="model-zzz"))
    with pytest.raises(ArtifactIndexError, match=r"final_training/minilm/k v1.*UNIQUE"):
        index.register(done.touched(id="model-dup"), index.root / "x")


def test_lineage_walks_back_breadth_first(index: ArtifactIndex, make: MakeArtifact) -> None:
    data = make("dataset", stage="data", backbone="all")
    study = make("study", stage="hpo", lineage=[data.id])
    selection = make("selection", stage="select", backbone="all", lineage=[study.id])
    model = make("model", lineage=[selection.id, data.id])  # diamond: data reached twice
    onnx = make("onnx", stage="convert", lineage=[model.id, "model-from-elsewhere"])

    assert [a.id for a in index.lineage(onnx.id)] == [model.id, selection.id, data.id, study.id]
    assert index.lineage(data.id) == []
    assert [a.id for a in index.children(data.id)] == [study.id, model.id]
    with pytest.raises(ArtifactNotFoundError, match="model-from-elsewhere .an input of onnx-"):
        index.lineage(onnx.id, strict=True)
    with pytest.raises(ArtifactNotFoundError):
        index.lineage("onnx-missing")


def test_variants_and_run_names_count_up(index: ArtifactIndex, make: MakeArtifact) -> None:
    assert [index.allocate_variant("hpo", "bert", "k") for _ in range(3)] == [1, 2, 3]
    assert index.allocate_variant("hpo", "bert", "other") == 1
    make(stage="hpo", backbone="bert", key="k2", variant=7)  # registered by hand
    assert index.allocate_variant("hpo", "bert", "k2") == 8
    with pytest.raises(ValueError, match="backbone 'a/b'"):
        index.allocate_variant("hpo", "a/b", "k")

    assert [index.reserve_run_name("hpo-minilm") for _ in range(3)] == [1, 2, 3]
    assert index.reserve_run_name("train-minilm") == 1


def test_run_ids(index: ArtifactIndex) -> None:
    assert index.get_run_id("hpo/minilm/trial-3") is None
    index.set_run_id("hpo/minilm/trial-3", "abc")
    index.set_run_id("hpo/minilm/trial-3", "def")
    assert index.get_run_id("hpo/minilm/trial-3") == "def"
    assert ArtifactIndex(index.root).get_run_id("hpo/minilm/trial-3") == "def"


def test_claim_is_exclusive(index: ArtifactIndex, make: MakeArtifact) -> None:
    manifest = make(status="incomplete")
    assert index.claim(manifest.id, "host:1", is_stale=lambda owner: False)
    assert not index.claim(manifest.id, "host:2", is_stale=lambda owner: False)
    assert index.claim(manifest.id, "host:1", is_stale=lambda owner: False)
    assert index.claim(manifest.id, "host:2", is_stale=lambda owner: owner == "host:1")
    assert index.get(manifest.id).owner == "host:2"
    index.update(index.get(manifest.id).manifest.touched(status="complete"))
    assert index.get(manifest.id).owner is None
    assert not index.claim(manifest.id, "host:3", is_stale=lambda owner: True)


def test_moved_root_and_reindex(tmp_path: Path, index: ArtifactIndex, make: MakeArtifact) -> None:
    a = make(fingerprints={"spec_fp": "a" * 64})
    b = make("onnx", stage="convert", lineage=[a.id], status="incomplete")
    orphan = make("model", key="orphan", register=False)  # crash between manifest and index

    moved = tmp_path / "copied-to-drive"
    shutil.copytree(index.root, moved)
    there = ArtifactIndex(moved)
    assert there.get(a.id).path == moved / "final_training" / "minilm" / "k" / "v1"

    report = there.reindex()
    assert report.added == [orphan.id]
    assert report.updated == []
    assert report.errors == []

    # hand-edited (newer) manifest on disk wins; damaged manifests are reported
    b_dir = there.get(b.id).path
    write_manifest(b_dir, read_manifest(b_dir).touched(status="failed"))
    (moved / "junk").mkdir()
    (moved / "junk" / "nerp.json").write_text("{")
    staged = moved / "final_training" / "minilm" / "k" / ".v2.tmp"  # left by a crash
    shutil.copytree(moved / "final_training" / "minilm" / "k" / "v1", staged)
    write_manifest(staged, read_manifest(staged).touched(id="model-staged", variant=2))
    report = there.reindex()
    assert "model-staged" not in there
    assert report.updated == [b.id]
    assert there.get(b.id).status == "failed"
    assert len(report.errors) == 1
    assert "junk/nerp.json: not valid JSON" in report.errors[0]

    there.close()  # a lost index: the database and its WAL files are gone
    for suffix in ("", "-wal", "-shm"):
        (moved / f"{INDEX_NAME}{suffix}").unlink(missing_ok=True)
    rebuilt = ArtifactIndex(moved)
    assert sorted(rebuilt.reindex().added) == sorted([a.id, b.id, orphan.id])
    assert [x.id for x in rebuilt.lineage(b.id)] == [a.id]
    assert rebuilt.allocate_variant("final_training", "minilm", "k") == 2


def test_newer_index_schema_is_refused(index: ArtifactIndex) -> None:
    with sqlite3.connect(index.db_path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(ArtifactIndexError, match="index schema version 99 is newer"):
        ArtifactIndex(index.root)


HAMMER = textwrap.dedent(
    """
    import json
    from pathlib import Path

    from nerp_infra.artifacts import ArtifactIndex, begin_artifact
    from nerp_infra.paths import OutputLayout

    GO.wait(60)
    root = Path(ROOT)
    index = ArtifactIndex(root)  # first-time initialisation races too
    layout = OutputLayout(root)
    out = {"variants": [], "ids": [], "names": [], "raw": []}
    for i in range(N):
        decision = begin_artifact(
            index, layout, kind="model", stage="hpo", backbone="tiny", key="shared",
            fingerprints={"spec_fp": "f" * 64}, config={"worker": WORKER, "i": i},
            run_mode="force_new", versions={},
        )
        out["variants"].append(decision.handle.manifest.variant)
        out["ids"].append(decision.handle.id)
        if i % 2:
            decision.handle.complete(metrics={"i": i})
        out["names"].append(index.reserve_run_name("hammer"))
        out["raw"].append(index.allocate_variant("hpo", "tiny", "raw"))
        index.set_run_id(f"{WORKER}-{i}", f"run-{WORKER}-{i}")
    Path(OUT).write_text(json.dumps(out))
    """
)


def test_eight_processes_hammering_the_index(tmp_path: Path) -> None:
    workers, per_worker = 8, 12
    total = workers * per_worker
    root = tmp_path / "outputs"
    script = tmp_path / "hammer.py"
    script.write_text(HAMMER)
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    procs = []
    for w in range(workers):
        init = {"ROOT": str(root), "N": per_worker, "WORKER": w, "GO": go}
        init["OUT"] = str(tmp_path / f"out-{w}.json")
        proc = ctx.Process(
            target=runpy.run_path, args=(str(script),), kwargs={"init_globals": init}
        )
        proc.start()
        procs.append(proc)
    go.set()
    for proc in procs:
        proc.join(120)
    assert [p.exitcode for p in procs] == [0] * workers

    results = [json.loads((tmp_path / f"out-{w}.json").read_text()) for w in range(workers)]
    variants = [v for r in results for v in r["variants"]]
    ids = [i for r in results for i in r["ids"]]
    assert sorted(variants) == list(range(1, total + 1))  # no duplicates, none lost
    assert sorted(v for r in results for v in r["names"]) == list(range(1, total + 1))
    assert sorted(v for r in results for v in r["raw"]) == list(range(1, total + 1))

    index = ArtifactIndex(root)
    rows = index.find(kind="model", stage="hpo", key="shared")
    assert sorted(a.id for a in rows) == sorted(ids)
    assert sorted(a.manifest.variant for a in rows) == list(range(1, total + 1))
    assert index.stats() == {"complete": total // 2, "incomplete": total // 2}
    for row in rows:
        assert row.read_manifest() == row.manifest  # disk and index agree
        assert row.path.name == f"v{row.manifest.variant}"
    for w in range(workers):
        assert index.get_run_id(f"{w}-{per_worker - 1}") == f"run-{w}-{per_worker - 1}"
