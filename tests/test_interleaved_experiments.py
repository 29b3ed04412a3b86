"""Two experiments sharing one output root each convert, evaluate, benchmark and report
their own model.

Experiment A prepares data and trains, then experiment B does, then A converts,
evaluates, benchmarks and reports in a run of its own (``--from convert``), then B, then
A reports alone. Before stages consumed what this run produced (or, run alone, what their
experiment's config determines), A's convert took the newest model in the root — B's —
and a report showed the newest package. The lineage in the manifests and the
index says which model and dataset each package and evaluation came from.

Real stages at toy sizes: synthetic resumes, a tiny BERT trained one epoch, a real ONNX
export and onnxruntime evaluation; tracking off.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from nerp_infra.artifacts import ArtifactIndex, IndexedArtifact, read_manifest
from nerp_infra.artifacts.kinds import (
    BENCHMARK_KIND,
    DATASET_KIND,
    EVALUATION_KIND,
    MODEL_KIND,
    ONNX_PACKAGE_KIND,
)
from nerp_infra.config import load_experiment
from nerp_infra.pipeline import PipelineReport, run_pipeline
from nerp_infra.pipeline.runner import open_context

TINY = (
    "stages=[data,train,convert,evaluate,benchmark,report]",
    "benchmark.backends=[onnx_fp32]",
    "benchmark.batch_sizes=[1]",
    "benchmark.warmup=1",
    "benchmark.iterations=2",
    "benchmark.n_texts=2",
    "data.synthetic.n_documents=24",
    "model.max_length=64",
    "model.stride=8",
    "model.tiny.hidden_size=32",
    "model.tiny.intermediate_size=64",
    "model.tiny.vocab_size=800",
    "train.epochs=1",
    "train.batch_size=8",
    "final_training.source=scratch",
    "final_training.train_on_validation=false",
    "conversion.quantize=false",
    "conversion.parity.n_samples=2",
    "tracking.enabled=false",
)
EXPERIMENTS = {
    "exp-a": ("name=exp-a", "data.synthetic.seed=1"),
    "exp-b": ("name=exp-b", "data.synthetic.seed=2", "data.labels=[NAME,EMAIL,SKILL]"),
}


def _run(root: Path, name: str, **selection: object) -> tuple[PipelineReport, str]:
    config = load_experiment(None, [*TINY, *EXPERIMENTS[name]])
    out = io.StringIO()
    context = open_context(
        config, console=Console(file=out, width=200), output_root=root, progress=False
    )
    try:
        report = run_pipeline(context, **selection)  # type: ignore[arg-type]
    finally:
        context.index.close()
    return report, out.getvalue()


def _one(report: PipelineReport, stage: str, index: ArtifactIndex, kind: str) -> IndexedArtifact:
    [found] = [index.get(i) for i in report.results[stage].artifact_ids]
    assert found.manifest.kind == kind
    return found


def test_each_experiment_converts_and_evaluates_its_own_model(tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    trained = {name: _run(root, name, only={"data", "train"})[0] for name in EXPERIMENTS}
    finished = {name: _run(root, name, from_stage="convert") for name in EXPERIMENTS}
    # A's report again, alone, after B's run: the newest package in the root is now B's.
    alone, alone_console = _run(root, "exp-a", only={"report"})

    with ArtifactIndex(root) as index:
        for name in EXPERIMENTS:
            dataset = _one(trained[name], "data", index, DATASET_KIND)
            model = _one(trained[name], "train", index, MODEL_KIND)
            assert model.manifest.lineage[0] == dataset.id
            report, console = finished[name]
            assert "using the newest" not in console, console

            package = _one(report, "convert", index, ONNX_PACKAGE_KIND)
            assert package.manifest.lineage == [model.id], f"{name} converted another model"
            assert read_manifest(package.path).lineage == [model.id]

            evaluations = [index.get(i) for i in report.results["evaluate"].artifact_ids]
            assert {e.manifest.kind for e in evaluations} == {EVALUATION_KIND}
            # onnx fp32 (the package) and torch (the model), each on the model's test split
            evaluated = {e.manifest.lineage[0] for e in evaluations}
            assert evaluated == {package.id, model.id}, f"{name} evaluated another model"
            for evaluation in evaluations:
                assert evaluation.manifest.lineage[1] == dataset.id, f"{name}: another dataset"
                assert model.id in {a.id for a in index.lineage(evaluation.id)}

            benchmark = _one(report, "benchmark", index, BENCHMARK_KIND)
            assert package.id in benchmark.manifest.lineage, f"{name} benchmarked another model"

            # The report shows this experiment's package, data, evaluations and benchmark.
            [report_id] = report.results["report"].artifact_ids
            shown = json.loads((index.get(report_id).path / "report.json").read_text())
            assert shown["served"]["id"] == package.id, f"{name} reported another model"
            assert shown["dataset"]["id"] == dataset.id
            assert {e["id"] for e in shown["evaluations"]} == {e.id for e in evaluations}
            assert shown["benchmark"]["id"] == benchmark.id
        [again] = alone.results["report"].artifact_ids
        shown = json.loads((index.get(again).path / "report.json").read_text())
        package_a = _one(finished["exp-a"][0], "convert", index, ONNX_PACKAGE_KIND)
        assert shown["served"]["id"] == package_a.id, "a report run alone showed another model"
        assert "using the newest" not in alone_console, alone_console
        models = {_one(trained[name], "train", index, MODEL_KIND).id for name in EXPERIMENTS}
    assert len(models) == 2, "the two experiments must train different models"
