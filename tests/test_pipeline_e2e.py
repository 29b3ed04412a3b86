"""The main job end to end: `nerp pipeline` at a reduced size, killed mid-HPO, resumed,
re-run (everything reused), its lineage walked back from the served package to the dataset,
and the package served over HTTP.

One module-scoped output root is shared by the tests, in order; they need the whole
workspace (the nox `e2e` session).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nerp_infra.artifacts import ArtifactIndex, read_manifest
from nerp_infra.model_files import ONNX_FP32_FILE, ONNX_INT8_FILE

NERP = shutil.which("nerp") or str(Path(sys.executable).with_name("nerp"))
# Small enough for a 2-core CI runner, big enough for the tiny model to learn entities.
REDUCED = [
    "--set", "data.synthetic.n_documents=100",
    "--set", "hpo.search_space.learning_rate.low=0.003",
    "--set", "hpo.search_space.batch_size.values=[8]",
    "--set", "hpo.n_trials=2",
    "--set", "hpo.k_folds=2",
    "--set", "train.epochs=3",
    "--set", "benchmark.iterations=3",
    "--set", "benchmark.batch_sizes=[1]",
    "--set", "benchmark.n_texts=4",
]  # fmt: skip
RESUME = (
    "Jane Q. Doe\nSenior Data Engineer\njane.doe@example.com | +1 415 555 0199 | Austin, TX\n\n"
    "EXPERIENCE\nSenior Data Engineer, Acme Analytics, Austin, TX (2019 - 2024)\n"
    "Built pipelines in Python and SQL.\n\nEDUCATION\nB.Sc. Computer Science, "
    "University of Texas\n\nSKILLS\nPython, SQL, Spark, Docker\n"
)


def _pipeline(root: Path, *extra: str) -> list[str]:
    return [NERP, "pipeline", *REDUCED, "--output-root", str(root), *extra]


def _run(root: Path, *extra: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        _pipeline(root, *extra), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def _complete_trials(root: Path) -> int:
    dbs = list((root / "hpo").rglob("optuna.db"))
    if not dbs:
        return 0
    try:
        with sqlite3.connect(f"file:{dbs[0]}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pipeline") / "outputs"


def test_killed_mid_hpo_then_resumed(root: Path, tmp_path: Path) -> None:
    log = (tmp_path / "killed.log").open("w")
    process = subprocess.Popen(
        _pipeline(root), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 900
    try:
        while _complete_trials(root) < 1:
            assert process.poll() is None, (tmp_path / "killed.log").read_text()[-4000:]
            assert time.monotonic() < deadline, "no HPO trial finished in time"
            time.sleep(1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()
    with ArtifactIndex(root) as index:
        datasets = index.find(kind="dataset", status="complete")
        studies = index.find(kind="study")
    assert len(datasets) == 1
    assert [s.status for s in studies] == ["incomplete"], "the killed study stays resumable"

    resumed = _run(root)
    assert "resumed" in resumed.stdout
    with ArtifactIndex(root) as index:
        assert [a.id for a in index.find(kind="dataset")] == [datasets[0].id], "data reused"
        study = index.get(studies[0].id)
        assert study.status == "complete", "the same study finished, no new one"
        assert study.read_manifest().metrics["n_complete"] == 2, "budget honoured, not 2 + n"
    assert "Summary" in resumed.stdout
    assert "test F1 per type" in resumed.stdout
    assert "latency per backend" in resumed.stdout
    assert "nerp serve " in resumed.stdout


def test_rerun_reuses_every_stage(root: Path) -> None:
    # How fast a fully reused run is belongs to benchmarks/pipeline_rerun.py, not here.
    rerun = _run(root)
    stage_lines = [line for line in rerun.stdout.splitlines() if line.startswith("[")]
    finished = [line for line in stage_lines if "running" not in line]
    assert len(finished) == 8, rerun.stdout
    for line in finished:
        assert " reused " in line, f"stage re-ran: {line}"


def test_forcing_one_stage_makes_a_new_variant_and_predict_uses_it(root: Path) -> None:
    forced = _run(root, "--only", "convert", "--force", "convert")
    assert " done " in next(
        line
        for line in forced.stdout.splitlines()
        if "] convert " in line and "running" not in line
    )
    with ArtifactIndex(root) as index:
        packages = index.find(kind="onnx_package", stage="convert")
        latest = index.latest("onnx_package", stage="convert")
    assert latest is not None
    assert sorted(p.manifest.variant for p in packages) == [1, 2]
    predicted = subprocess.run(
        [NERP, "predict", str(latest.path), "--text", RESUME],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    record = json.loads(predicted.stdout.splitlines()[-1])
    assert record["entities"], predicted.stdout


def test_lineage_from_served_package_back_to_the_dataset(root: Path) -> None:
    with ArtifactIndex(root) as index:
        package = index.latest("onnx_package")
        assert package is not None
        for name in (ONNX_FP32_FILE, ONNX_INT8_FILE, "tokenizer.json", "inference.json"):
            assert (package.path / name).is_file(), name
        manifest = read_manifest(package.path)
        assert manifest.status == "complete"
        assert "conv_fp" in manifest.fingerprints
        chain = index.lineage(package.id)
        kinds = {a.manifest.kind for a in chain}
        assert {"model", "selection", "study", "dataset"} <= kinds, kinds
        dataset = next(a for a in chain if a.manifest.kind == "dataset")
        model = next(a for a in chain if a.manifest.kind == "model")
        assert model.manifest.fingerprints["data_fp"] == dataset.manifest.fingerprints["data_fp"]
        for artifact in chain:
            on_disk = read_manifest(artifact.path)
            assert on_disk.status == "complete", artifact.id
            assert on_disk.versions, f"{artifact.id} records no package versions"
            for parent in on_disk.lineage:
                assert parent in index, f"{artifact.id} names unknown parent {parent}"
        report = index.latest("report")
        assert report is not None
        assert (report.path / "report.html").stat().st_size > 10_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(root: Path, tmp_path: Path) -> Iterator[str]:
    with ArtifactIndex(root) as index:
        package = index.latest("onnx_package")
    assert package is not None
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [NERP, "serve", str(package.path), "--port", str(port), "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_served_model_finds_entities_in_a_resume(served: str) -> None:
    response = httpx.post(f"{served}/predict", json={"text": RESUME}, timeout=30)
    assert response.status_code == 200, response.text
    entities = response.json()["entities"]
    assert entities, "the trained model finds entities in a plain resume"
    for entity in entities:
        assert RESUME[entity["start"] : entity["end"]] == entity["text"]
    labels = {entity["label"] for entity in entities}
    assert labels & {"EMAIL", "NAME", "SKILL", "PHONE"}, labels
    info = httpx.get(f"{served}/info", timeout=10).json()
    assert info["lineage"], "the served model names where it came from"
