"""The README's commands that the end-to-end pipeline test does not already run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from azure.ai.ml import load_job

NERP = shutil.which("nerp") or str(Path(sys.executable).with_name("nerp"))
REPO = Path(__file__).resolve().parent.parent


def _nerp(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [NERP, *args], capture_output=True, text=True, cwd=cwd, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_init_then_validate_a_starter_project(tmp_path: Path) -> None:
    _nerp("init", str(tmp_path / "myproject"))
    result = _nerp("config", "validate", str(tmp_path / "myproject" / "experiment.yaml"))
    assert "ok:" in result.stdout


def test_examples_validate(tmp_path: Path) -> None:
    # The examples point at the shared data folder next to a checkout; the tests must not
    # need it, so a missing data file is replaced by a small one in the same format.
    resumes = tmp_path / "resumes.jsonl"
    resumes.write_text(json.dumps({"content": "Jane Doe\n", "annotation": []}) + "\n")
    for example in sorted((REPO / "examples").glob("*/experiment.yaml")):
        files = yaml.safe_load(example.read_text()).get("data", {}).get("files", [])
        missing = [f for f in files if not (example.parent / f).exists()]
        extra = ["--set", f"data.files=[{resumes}]"] if missing else []
        assert "ok:" in _nerp("config", "validate", str(example), *extra).stdout


def test_data_validate_with_the_dataturks_preset(tmp_path: Path) -> None:
    content = "Jane Doe\nData Engineer at Acme\nSkills: Python, SQL\n"
    record = {
        "content": content,
        "annotation": [
            {"label": ["Name"], "points": [{"start": 0, "end": 8, "text": "Jane Doe\n"}]},
            {"label": ["Skills"], "points": [{"start": 39, "end": 49, "text": "Python, SQL"}]},
            {"label": ["UNKNOWN"], "points": [{"start": 9, "end": 21, "text": "Data Engineer"}]},
        ],
        "extras": None,
    }
    path = tmp_path / "resumes.jsonl"
    path.write_text(json.dumps(record) + "\n")
    result = _nerp(
        "data", "validate", str(path), "--format", "dataturks", "--preset", "dataturks-resumes"
    )
    assert "NAME" in result.stdout
    assert "SKILL" in result.stdout


def test_pipeline_dry_run_on_azureml_writes_a_loadable_job_per_stage(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    result = _nerp(
        "pipeline", "--target", "azureml", "--dry-run", "--out", str(jobs),
        "--output-root", str(tmp_path / "outputs"),
        "--set", "data.synthetic.n_documents=30",
    )  # fmt: skip
    assert "skipped" in result.stdout
    written = sorted(p.name for p in jobs.glob("*.yml"))
    assert written == [
        "benchmark_stage.yml",
        "convert_stage.yml",
        "evaluate_stage.yml",
        "hpo_sweep.yml",
        "report_stage.yml",
        "select_stage.yml",
        "train_stage.yml",
    ]
    for path in jobs.glob("*.yml"):
        job = load_job(path)
        assert job.type in ("command", "sweep"), path
    sweep = load_job(jobs / "hpo_sweep.yml")
    assert sweep.type == "sweep"
    assert "--only train" in load_job(jobs / "train_stage.yml").command
