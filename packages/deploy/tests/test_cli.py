"""`nerp predict`, `nerp serve` and `nerp convert` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nerp_infra.artifacts import ArtifactIndex, read_manifest

NERP = str(Path(sys.executable).parent / "nerp")


def nerp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NERP, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def names(record: dict[str, object]) -> list[str]:
    entities = record["entities"]
    assert isinstance(entities, list)
    return [e["text"] for e in entities if e["label"] == "NAME"]


def test_predict_text(package_dir: Path) -> None:
    result = nerp("predict", str(package_dir), "--text", "Name: Dana Nguyen", "--threads", "1")
    assert result.returncode == 0, result.stderr
    (record,) = lines(result.stdout)
    assert names(record) == ["Dana Nguyen"]
    assert "warning" not in result.stderr.lower()


@pytest.mark.parametrize("suffix", [".txt", ".pdf", ".docx"])
def test_predict_file(
    package_dir: Path, tmp_path: Path, pdf_bytes: bytes, docx_bytes: bytes, suffix: str
) -> None:
    data = {".txt": b"Name: Dana Nguyen\n", ".pdf": pdf_bytes, ".docx": docx_bytes}[suffix]
    path = tmp_path / f"cv{suffix}"
    path.write_bytes(data)
    result = nerp("predict", str(package_dir), "--file", str(path), "--variant", "fp32")
    assert result.returncode == 0, result.stderr
    (record,) = lines(result.stdout)
    assert record["file"] == str(path) and names(record) == ["Dana Nguyen"]


def test_predict_jsonl_keeps_ids_and_order(package_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    records = [
        {"id": "a", "text": "Name: Julia Rossi"},
        {"text": ""},
        {"id": "c", "text": "Name: Ivo Smith"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    result = nerp("predict", str(package_dir), "--jsonl", str(path), "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    out = lines(result.stdout)
    assert [r["id"] for r in out] == ["a", "docs-1", "c"]
    assert [names(r) for r in out] == [["Julia Rossi"], [], ["Ivo Smith"]]


def test_predict_errors_name_the_problem(package_dir: Path, tmp_path: Path) -> None:
    none_given = nerp("predict", str(package_dir))
    assert (
        none_given.returncode == 1
        and "exactly one of --text, --file or --jsonl" in none_given.stderr
    )
    two = nerp("predict", str(package_dir), "--text", "x", "--jsonl", "y.jsonl")
    assert two.returncode == 1 and "got --text, --jsonl" in two.stderr
    missing = nerp("predict", str(tmp_path / "nope"), "--text", "x")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "typo"}\n')
    typo = nerp("predict", str(package_dir), "--jsonl", str(bad))
    assert typo.returncode == 1 and "line 2" in typo.stderr and "'txt'" in typo.stderr
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG")
    unsupported = nerp("predict", str(package_dir), "--file", str(png))
    assert unsupported.returncode == 1 and "unsupported file type" in unsupported.stderr
    variant = nerp("predict", str(package_dir), "--text", "x", "--variant", "fp16")
    assert variant.returncode == 1 and "one of fp32, int8, bf16" in variant.stderr


def test_serve_refuses_a_bad_package_before_starting(tmp_path: Path) -> None:
    result = nerp("serve", str(tmp_path), "--port", "0")
    assert result.returncode == 1
    assert "tokenizer.json: missing" in result.stderr


def test_convert_command_registers_package_and_logs_to_mlflow(
    toy_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "outputs"
    result = nerp(
        "convert", str(toy_artifact),
        "--set", f"paths.root={root}",
        "--set", "conversion.quantize=false",
        "--set", "conversion.parity.n_samples=2",
        "--set", "conversion.log_to_mlflow=true",
        env={"MLFLOW_TRACKING_URI": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    package = Path(result.stdout.strip().splitlines()[-1])
    assert package.is_relative_to(root)
    assert "parity passed" in result.stderr and "export model.onnx" in result.stderr
    assert "registered as models:/resume-ner/1" in result.stderr  # conversion.register_model
    manifest = read_manifest(package)
    assert manifest.status == "complete" and manifest.config["quantize"] is False
    assert ArtifactIndex(root).latest("onnx_package").id == manifest.id  # type: ignore[union-attr]

    import mlflow

    # set_tracking_uri exports MLFLOW_TRACKING_URI; monkeypatch takes it back after the test,
    # or later tests in this process would track (and register) into this store.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    (run,) = mlflow.search_runs(experiment_names=["nerp-convert"], output_format="list")
    assert run.data.tags["nerp.artifact_id"] == manifest.id
    assert run.data.metrics["parity_fp32_max_abs_diff"] == pytest.approx(
        manifest.metrics["parity_fp32_max_abs_diff"]
    )
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "package")}
    assert "package/model.onnx" in logged and "package/nerp.json" in logged
    model = mlflow.onnx.load_model(f"runs:/{run.info.run_id}/model")  # the onnx flavour
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask"]


def test_convert_command_fails_with_the_parity_figures(toy_artifact: Path, tmp_path: Path) -> None:
    out = tmp_path / "package"
    result = nerp(
        "convert", str(toy_artifact), "--out", str(out),
        "--set", "conversion.parity.fp32_max_abs_diff=1e-12",
        "--set", "conversion.parity.n_samples=2",
    )  # fmt: skip
    assert result.returncode == 1
    assert "parity check failed" in result.stderr
    assert "fp32 max absolute logit difference" in result.stderr
    assert read_manifest(out).status == "failed"


def test_serve_with_workers_exits_once_on_a_corrupt_model(
    package_dir: Path, tmp_path: Path
) -> None:
    """A truncated graph ends `nerp serve --workers 2` with one line naming the file; no
    worker is started (or restarted in a loop) for a model that cannot load."""
    broken = tmp_path / "broken"
    shutil.copytree(package_dir, broken)
    model = broken / "model.int8.onnx"
    os.truncate(model, model.stat().st_size // 2)
    process = subprocess.Popen(
        [NERP, "serve", str(broken), "--workers", "2", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        start_new_session=True,
    )
    try:
        out, errors = process.communicate(timeout=120)
    finally:
        if process.poll() is None:  # the restart loop: stop it and its workers
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 1
    (line,) = [text for text in errors.splitlines() if text.strip()]
    assert str(model) in line and "onnxruntime cannot load the model" in line
    assert "Traceback" not in errors + out


def test_predict_refuses_unencodable_text_in_one_line(package_dir: Path, tmp_path: Path) -> None:
    # Bytes that are no UTF-8 reach Python's argv as lone surrogates (surrogateescape).
    given = subprocess.run(
        [NERP.encode(), b"predict", os.fsencode(package_dir), b"--text", b"Jane \xed\xa0\x80 Doe"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert given.returncode == 1
    (line,) = given.stderr.strip().splitlines()
    assert line.startswith("error: --text:") and "lone surrogate" in line
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"text": "Name: Ivo Smith"}\n{"id": "b", "text": "Jane \\ud800 Doe"}\n')
    jsonl = nerp("predict", str(package_dir), "--jsonl", str(docs))
    assert jsonl.returncode == 1 and "Traceback" not in jsonl.stderr
    (line,) = jsonl.stderr.strip().splitlines()
    assert f"{docs}, line 2" in line and "'text'" in line and "U+D800" in line


NON_ROOT = 10001  # the serving image's user (see the Dockerfile in the README)

_LOAD_AND_PREDICT = """
import json, sys
from nerp_deploy import OnnxEngine
engine = OnnxEngine.load(sys.argv[1], threads=1)
print(json.dumps([e.text for e in engine.predict("Name: Dana Nguyen")]))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to write as root and read as 10001")
def test_a_package_root_converted_loads_as_a_non_root_user(
    package_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Files keep the mode they were written with through hard links, so linking the
    package into a folder every user can enter shows what uid 10001 may read of it."""
    shared = Path(tempfile.mkdtemp(prefix="nerp-shared-package-"))
    try:
        shared.chmod(0o755)
        for path in package_dir.iterdir():
            if path.is_file():
                assert path.stat().st_mode & 0o777 == 0o644, path
                os.link(path, shared / path.name)
        assert package_dir.stat().st_mode & 0o777 == 0o755
        setpriv = shutil.which("setpriv")  # util-linux; drops every privilege of root
        assert setpriv is not None, "setpriv (util-linux) is needed to run as another user"
        as_user = [setpriv, f"--reuid={NON_ROOT}", f"--regid={NON_ROOT}", "--clear-groups"]
        result = subprocess.run(
            [*as_user, sys.executable, "-c", _LOAD_AND_PREDICT, str(shared)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=shared,
            env={**os.environ, "HOME": str(shared)},
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == ["Dana Nguyen"]
    finally:
        shutil.rmtree(shared)
