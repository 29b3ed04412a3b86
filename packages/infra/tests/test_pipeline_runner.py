"""The stage runner: selection flags, entry-point discovery, one line per stage, failures."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from pathlib import Path

import pytest
from rich.console import Console

from nerp_infra.artifacts import begin_artifact
from nerp_infra.artifacts.kinds import STAGE_CONTRACTS
from nerp_infra.config import ExperimentConfig
from nerp_infra.pipeline import (
    PipelineError,
    StageContext,
    StageResult,
    run_pipeline,
    select_stages,
)
from nerp_infra.pipeline.runner import load_stage_functions, open_context


def _context(tmp_path: Path, stages: list[str]) -> tuple[StageContext, Console]:
    config = ExperimentConfig.model_validate({"stages": stages})
    console = Console(record=True, width=120)
    return open_context(config, console=console, output_root=tmp_path / "out"), console


class Recorder:
    """Real stage functions that record how they were called."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def data(self, ctx: StageContext) -> StageResult:
        self.calls.append(("data", ctx.force))
        return StageResult(status="done", summary="12 docs", details={"dataset": "12 docs"})

    def hpo(self, ctx: StageContext) -> StageResult:
        self.calls.append(("hpo", ctx.force))
        return StageResult(status="reused", summary="best 0.5")

    def select(self, ctx: StageContext) -> StageResult:
        self.calls.append(("select", ctx.force))
        raise RuntimeError("no study artifact in the index")

    def stages(self) -> dict[str, object]:
        return {"data": self.data, "hpo": self.hpo, "select": self.select}


def test_select_stages_flags() -> None:
    stages = ["data", "hpo", "select", "train"]
    assert select_stages(stages) == stages
    assert select_stages(stages, from_stage="select") == ["select", "train"]
    assert select_stages(stages, only=["train", "data"]) == ["data", "train"]
    with pytest.raises(PipelineError, match="--only 'convert': not in this experiment"):
        select_stages(stages, only=["convert"])
    with pytest.raises(PipelineError, match="--from 'trian': not a stage"):
        select_stages(stages, from_stage="trian")
    with pytest.raises(PipelineError, match="cannot be combined"):
        select_stages(stages, from_stage="data", only=["hpo"])


def test_runs_stages_in_order_and_reports_each(tmp_path: Path) -> None:
    recorder = Recorder()
    context, console = _context(tmp_path, ["data", "hpo"])
    report = run_pipeline(context, force=["hpo"], stages=recorder.stages())  # type: ignore[arg-type]
    assert recorder.calls == [("data", False), ("hpo", True)]
    assert [r.status for r in report.results.values()] == ["done", "reused"]
    text = console.export_text()
    assert "[1/2] data" in text and "12 docs" in text
    assert "[2/2] hpo" in text and "best 0.5" in text
    assert (tmp_path / "out" / "nerp-index.sqlite").exists()


def test_failure_names_the_stage_and_keeps_earlier_results(tmp_path: Path) -> None:
    recorder = Recorder()
    context, console = _context(tmp_path, ["data", "hpo", "select"])
    with pytest.raises(PipelineError, match="stage 'select' failed: no study artifact"):
        run_pipeline(context, stages=recorder.stages())  # type: ignore[arg-type]
    assert [c[0] for c in recorder.calls] == ["data", "hpo", "select"]
    assert "select    failed" in console.export_text()


def _artifact_of(ctx: StageContext, kind: str) -> str:
    decision = begin_artifact(
        ctx.index,
        ctx.layout,
        kind=kind,
        stage="data",
        backbone="any",
        fingerprints={"fp": hashlib.sha256(kind.encode()).hexdigest()},
        run_mode="force_new",
    )
    decision.handle.complete()
    return decision.handle.id


def test_stages_are_held_to_their_declared_inputs_and_outputs(tmp_path: Path) -> None:
    assert STAGE_CONTRACTS["convert"].consumes == ("model",)

    def data_making_a_model(ctx: StageContext) -> StageResult:
        return StageResult(status="done", artifact_ids=(_artifact_of(ctx, "model"),))

    context, _ = _context(tmp_path, ["data"])
    with pytest.raises(
        PipelineError, match="stage 'data' returned model artifact .* produces only dataset"
    ):
        run_pipeline(context, stages={"data": data_making_a_model})

    def data(ctx: StageContext) -> StageResult:
        return StageResult(status="done", artifact_ids=(_artifact_of(ctx, "dataset"),))

    def convert_asking_for_a_study(ctx: StageContext) -> StageResult:
        ctx.input("study")
        return StageResult(status="done")

    context, _ = _context(tmp_path, ["data", "convert"])
    with pytest.raises(
        PipelineError, match="'convert' asked for a 'study' input .* consumes only model"
    ):
        run_pipeline(context, stages={"data": data, "convert": convert_asking_for_a_study})


def test_stages_are_discovered_from_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "nerp_fake_stages.py").write_text(
        "from nerp_infra.pipeline import StageResult\n"
        "def report(ctx):\n"
        "    return StageResult(status='done', summary='fake report')\n"
    )
    info = site / "nerp_fakestages-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nerp-fakestages\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[nerp.stages]\nfake_report = nerp_fake_stages:report\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    functions = load_stage_functions(["fake_report"])
    context, _ = _context(tmp_path, ["report"])
    assert functions["fake_report"](context).summary == "fake report"


@pytest.mark.skipif(
    importlib.util.find_spec("nerp_deploy") is not None,
    reason="nerp-deploy is installed here; nox's tests(infra) runs this without it",
)
def test_missing_stage_names_the_distribution_to_install() -> None:
    with pytest.raises(PipelineError, match=r"'convert' is not installed.*nerp-deploy\[convert\]"):
        load_stage_functions(["convert"])


def test_azureml_dry_run_writes_a_loadable_job_for_generic_stages(tmp_path: Path) -> None:
    from azure.ai.ml import load_job

    recorder = Recorder()
    config = ExperimentConfig.model_validate({"stages": ["data", "select"]})
    jobs = tmp_path / "jobs"
    context = open_context(
        config,
        console=Console(record=True, width=120),
        output_root=tmp_path / "out",
        target="azureml",
        dry_run=True,
        job_dir=jobs,
    )
    report = run_pipeline(context, stages=recorder.stages())  # type: ignore[arg-type]
    assert recorder.calls == [("data", False)], "data runs locally; select becomes a job"
    assert report.results["select"].status == "skipped"
    job = load_job(jobs / "select_stage.yml")
    assert "--only select" in job.command
    assert "outputs_in" in job.inputs
    assert (jobs / "experiment.resolved.yaml").is_file()
