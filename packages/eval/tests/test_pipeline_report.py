"""The eval stages inside a real pipeline run (select → train → convert → evaluate →
benchmark → report) and the report they produce, rendered in headless Chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from nerp_eval.report import find_chromium, render_dom
from nerp_eval.stages import benchmark_stage, evaluate_stage, report_stage, select_stage
from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.config import ExperimentConfig
from nerp_infra.pipeline import StageContext, StageResult
from nerp_infra.pipeline.runner import open_context


@dataclass
class Pipeline:
    root: Path
    config: ExperimentConfig
    ctx: StageContext
    results: dict[str, StageResult]
    studies: dict[str, Any]
    package_id: str

    @property
    def index(self) -> ArtifactIndex:
        return self.ctx.index


def _config(mlflow_uri: str, sections: dict[str, Any]) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {
            "name": "eval-e2e",
            "stages": ["data", "select", "train", "convert", "evaluate", "benchmark", "report"],
            **sections,
            "selection": {"latency_backend": "torch", "accuracy_tolerance": 0.05, "top_k": 3},
            "benchmark": {
                "backends": ["torch", "onnx_fp32", "onnx_int8"],
                "batch_sizes": [1, 2],
                "warmup": 1,
                "iterations": 3,
                "threads": 1,
                "n_texts": 3,
            },
            "conversion": {
                "parity": {"int8_min_tag_agreement": 0.5, "int8_max_f1_drop": 1.0, "n_samples": 2}
            },
            "final_training": {"source": "best_selected", "train_on_validation": False},
            "tracking": {"uri": mlflow_uri, "experiment_prefix": "nerp-test"},
        }
    )


@pytest.fixture(scope="module")
def pipeline(
    base_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
    models: dict[str, Path],
    study_recorder: Callable[..., Any],
    mlflow_uri: str,
    experiment_sections: dict[str, Any],
) -> Pipeline:
    from nerp_deploy.convert import run_conversion
    from nerp_training.final.stage import train_stage

    root = tmp_path_factory.mktemp("pipeline") / "outputs"
    shutil.copytree(base_root, root)
    index = ArtifactIndex(root)
    studies = {
        "bert-small": study_recorder(root, index, models["bert-small"], [0.80, 0.79, 0.78]),
        "bert-large": study_recorder(root, index, models["bert-large"], [0.82, 0.81, 0.80]),
    }
    config = _config(mlflow_uri, experiment_sections)
    ctx = open_context(config, output_root=root, console=Console(quiet=True), progress=False)
    results = {"select": select_stage(ctx), "train": train_stage(ctx)}
    model = ctx.index.get(results["train"].artifact_ids[0])
    converted = run_conversion(model.path, output_root=root, config=config.conversion)
    for name, stage in (
        ("evaluate", evaluate_stage),
        ("benchmark", benchmark_stage),
        ("report", report_stage),
    ):
        results[name] = stage(ctx)
    return Pipeline(root, config, ctx, results, studies, converted.manifest.id)


def test_select_stage_feeds_final_training(pipeline: Pipeline) -> None:
    select = pipeline.results["select"]
    assert select.status == "done"
    assert select.summary == "champion bert-small (faster_within_tolerance)"
    assert select.details["champion"] == pipeline.studies["bert-small"].backbone
    assert "faster model wins" in select.details["selection"]
    model = pipeline.index.get(pipeline.results["train"].artifact_ids[0]).manifest
    # final training read the champion: its lineage names the selection and the study
    assert select.artifact_ids[0] in model.lineage
    assert pipeline.studies["bert-small"].artifact_id in model.lineage
    assert model.config["model"]["backbone"] == pipeline.studies["bert-small"].backbone


def test_evaluate_stage_scores_package_and_model_on_the_test_split(pipeline: Pipeline) -> None:
    result = pipeline.results["evaluate"]
    assert result.status == "done"
    backends = []
    for artifact_id in result.artifact_ids:
        manifest = pipeline.index.get(artifact_id).manifest
        backends.append(manifest.extra["backend"])
        dataset = pipeline.index.latest("dataset")
        assert dataset is not None and dataset.id in manifest.lineage
    assert backends == ["onnx_int8", "torch"]
    assert result.summary.startswith("test onnx_int8 f1_micro ")
    assert "test F1 per type (onnx_int8)" in result.details
    # the package evaluated is the one converted from the final model
    int8 = pipeline.index.get(result.artifact_ids[0]).manifest
    assert int8.lineage[0] == pipeline.package_id
    again = evaluate_stage(pipeline.ctx)
    assert again.status == "reused" and again.artifact_ids == result.artifact_ids


def test_benchmark_stage_times_model_and_package(pipeline: Pipeline) -> None:
    result = pipeline.results["benchmark"]
    bench = pipeline.index.get(result.artifact_ids[0])
    report = json.loads((bench.path / "benchmark.json").read_text())
    assert [t["backend"] for t in report["targets"]] == ["torch", "onnx_fp32", "onnx_int8"]
    assert result.summary.startswith("p50 at batch 1: torch ")
    assert "onnx_int8@2" in result.details["latency per backend"]
    assert benchmark_stage(pipeline.ctx).status == "reused"


def _number_cells(html: str, table_id: str) -> list[str]:
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert table is not None, f"table {table_id} missing"
    return re.findall(r"<td>([^<]*)</td>", table.group(1))


def test_report_shows_what_the_artifacts_hold(pipeline: Pipeline) -> None:
    result = pipeline.results["report"]
    html_path = Path(result.details["report"])
    html = html_path.read_text()
    data = json.loads((html_path.parent / "report.json").read_text())
    assert "<script src=" not in html  # plotly.js inlined, no CDN
    assert html.count("Plotly.newPlot") >= 6
    # evaluation tables hold the numbers of evaluation.json
    for n, artifact_id in enumerate(pipeline.results["evaluate"].artifact_ids):
        saved = json.loads((pipeline.index.get(artifact_id).path / "evaluation.json").read_text())
        cells = _number_cells(html, f"eval-{n}-per-type")
        for name, row in saved["per_type"].items():
            assert [
                name,
                f"{row['precision']:.4f}",
                f"{row['recall']:.4f}",
                f"{row['f1']:.4f}",
            ] in [cells[i : i + 4] for i in range(len(cells))]
        averages = _number_cells(html, f"eval-{n}-averages")
        assert f"{saved['micro']['f1']:.4f}" in averages
        assert f"{saved['macro']['f1']:.4f}" in averages
    bench = json.loads(
        (
            pipeline.index.get(pipeline.results["benchmark"].artifact_ids[0]).path
            / "benchmark.json"
        ).read_text()
    )
    latency_cells = _number_cells(html, "latency")
    for row in bench["timings"]:
        assert f"{row['latency']['p50_ms']:.2f}" in latency_cells
    # selection: champion, rule and both candidates' scores
    decision = data["selection"]["report"]["decision"]
    assert decision["rule"] == "faster_within_tolerance"
    candidates = _number_cells(html, "selection-candidates")
    assert "0.7900" in candidates and "0.8100" in candidates
    # lineage from the served package back to the dataset and the studies
    lineage_ids = [a["id"] for a in data["lineage"]]
    assert lineage_ids[0] == pipeline.package_id
    kinds = {a["kind"] for a in data["lineage"]}
    assert {"onnx_package", "model", "selection", "study", "dataset"} <= kinds
    for artifact_id in lineage_ids:
        assert artifact_id in html
    # predictions on a few test documents: the same sample for both backends, each
    # predicted entity highlighted with its type and score, each document's text shown
    shown_ids = []
    for n, artifact_id in enumerate(pipeline.results["evaluate"].artifact_ids):
        examples = json.loads((pipeline.index.get(artifact_id).path / "examples.json").read_text())
        assert 0 < len(examples["documents"]) <= 5
        shown_ids.append([d["id"] for d in examples["documents"]])
        block = html[html.index(f'id="eval-{n}-examples"') :]
        block = block[: block.index("</details>")]
        for doc in examples["documents"]:
            assert f'data-doc="{doc["id"]}"' in block
            for entity in doc["predicted"]:
                assert (
                    f'data-label="{entity["label"]}" data-score="{entity["confidence"]:.3f}"'
                    in block
                )
        assert data["evaluations"][n]["examples"] == examples
    assert shown_ids[0] == shown_ids[1]
    # HPO: both studies with their history; importance screened from the trials
    assert len(data["studies"]) == 2
    assert all(s["importance"] for s in data["studies"])
    markdown = (html_path.parent / "report.md").read_text()
    assert "**Champion: bert-small** (`" + pipeline.studies["bert-small"].backbone in markdown
    assert f"{bench['timings'][0]['latency']['p50_ms']:.2f}" in markdown


def test_report_is_reused_until_an_input_changes(pipeline: Pipeline) -> None:
    first = pipeline.results["report"]
    assert report_stage(pipeline.ctx).artifact_ids == first.artifact_ids
    # a new evaluation of the served package makes the report stale
    forced = pipeline.ctx
    forced.force = True
    try:
        evaluate_stage(forced)
    finally:
        forced.force = False
    assert report_stage(pipeline.ctx).artifact_ids != first.artifact_ids


def test_report_renders_in_headless_chromium(pipeline: Pipeline) -> None:
    if find_chromium() is None:
        reason = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":  # CI must not pass without rendering the report
            pytest.fail(f"{reason}; CI=true needs it (.ci/run installs it)", pytrace=False)
        pytest.skip(f"{reason}; CI installs it")
    html_path = Path(pipeline.results["report"].details["report"])
    dom = render_dom(html_path)
    figures = re.findall(r'id="(fig-[a-z0-9-]+)"', dom)
    assert {"fig-dataset-types", "fig-latency", "fig-eval-0", "fig-eval-1"} <= set(figures)
    assert any(f.startswith("fig-history") for f in figures)
    assert any(f.startswith("fig-importance") for f in figures)
    # plotly drew every figure: each figure div holds its SVG
    for current, following in zip(figures, [*figures[1:], None], strict=True):
        start = dom.index(f'id="{current}"')
        end = dom.index(f'id="{following}"') if following else len(dom)
        assert 'class="main-svg"' in dom[start:end], f"{current} was not drawn"
    # the bars' labels show the benchmark's p50 figures (SVG text drawn by plotly)
    bench = pipeline.index.get(pipeline.results["benchmark"].artifact_ids[0])
    timings = json.loads((bench.path / "benchmark.json").read_text())["timings"]
    latency_svg = dom[dom.index('id="fig-latency"') :]
    for row in timings:
        assert f"{row['latency']['p50_ms']:.2f} ms" in latency_svg
    evaluation = pipeline.index.get(pipeline.results["evaluate"].artifact_ids[0])
    per_type = json.loads((evaluation.path / "evaluation.json").read_text())["per_type"]
    eval_svg = dom[dom.index('id="fig-eval-0"') : dom.index('id="fig-eval-1"')]
    for row in per_type.values():
        assert f"{row['f1']:.4f}" in eval_svg


def test_cli_commands_on_the_pipeline_root(pipeline: Pipeline, mlflow_uri: str) -> None:
    from nerp_infra.cli import build_app

    app, _ = build_app()
    runner = CliRunner()
    common = ["--output-root", str(pipeline.root), "--set", f"tracking.uri={mlflow_uri}"]
    cfg = pipeline.config
    overrides = [
        "--set", "tracking.experiment_prefix=nerp-test",
        "--set", "selection.latency_backend=torch",
        "--set", "selection.accuracy_tolerance=0.05",
        "--set", f"data.synthetic.n_documents={cfg.data.synthetic.n_documents}",
        "--set", f"data.synthetic.seed={cfg.data.synthetic.seed}",
        *[f"--set=benchmark.{k}={json.dumps(v)}" for k, v in cfg.benchmark.model_dump().items()],
    ]  # fmt: skip
    selected = runner.invoke(app, ["select", *common, *overrides])
    assert selected.exit_code == 0, selected.output
    # the same studies and settings: the pipeline's selection, not a new decision
    selection_dir = pipeline.index.get(pipeline.results["select"].artifact_ids[0]).path
    assert f"reused selection artifact {selection_dir}" in selected.output
    assert "faster_within_tolerance" in selected.output

    package = pipeline.index.get(pipeline.package_id).path
    bench_args = [
        "benchmark", str(package), "--json", *common,
        "--set", "benchmark.backends=[onnx_int8]",
        "--set", "benchmark.iterations=3",
        "--set", "benchmark.threads=1",
        "--set", "benchmark.batch_sizes=[1]",
        "--set", "benchmark.n_texts=2",
    ]  # fmt: skip
    benchmarked = runner.invoke(app, bench_args)
    assert benchmarked.exit_code == 0, benchmarked.output
    payload = json.loads(benchmarked.output)
    assert [t["backend"] for t in payload["timings"]] == ["onnx_int8"]

    reported = runner.invoke(
        app, ["report", str(pipeline.root), "--set", f"tracking.uri={mlflow_uri}"]
    )
    assert reported.exit_code == 0, reported.output
    assert "report.html" in reported.output

    missing = runner.invoke(app, ["report", str(pipeline.root / "nope")])
    assert missing.exit_code == 1
    assert "output root does not exist" in missing.output
