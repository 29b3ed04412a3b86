"""Selection on real study artifacts, real MLflow trial runs and measured latencies.

bert-large scores higher (its trials: 0.82, 0.81, 0.80 → median 0.81); bert-small a
little lower (0.80, 0.79, 0.78 → 0.79) and is several times faster. Which wins depends
only on the tolerance, and the artifact says why.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from nerp_eval.errors import SelectionError
from nerp_eval.selection import run_selection
from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.config import BenchmarkConfig, SelectionConfig, TrackingConfig, TrainConfig
from nerp_infra.paths import OutputLayout

LARGE = [0.82, 0.81, 0.80]
SMALL = [0.80, 0.79, 0.78]
LATENCY_BENCH = BenchmarkConfig(warmup=2, iterations=7, threads=1, n_texts=4)


@pytest.fixture
def two_studies(make_study: Any, models: dict[str, Any]) -> dict[str, Any]:
    return {
        "bert-small": make_study(models["bert-small"], SMALL),
        "bert-large": make_study(models["bert-large"], LARGE),
    }


def _select(
    index: ArtifactIndex,
    layout: OutputLayout,
    tracking: TrackingConfig,
    run_mode: str | None = None,
    **selection: Any,
) -> Any:
    config = SelectionConfig.model_validate(
        {"latency_backend": "torch", "latency_batch_size": 1, "top_k": 3, **selection}
    )
    return run_selection(
        index=index,
        layout=layout,
        selection=config,
        benchmark=LATENCY_BENCH,
        base_train=TrainConfig(),
        tracking=tracking,
        run_mode=run_mode,  # type: ignore[arg-type]
    )


def _candidates(result: Any) -> dict[str, dict[str, Any]]:
    return {c["backbone"].rsplit("/", 1)[-1]: c for c in result.report["decision"]["candidates"]}


def test_faster_backbone_wins_inside_tolerance_and_accurate_one_outside(
    index: ArtifactIndex, layout: OutputLayout, tracking: TrackingConfig, two_studies: Any
) -> None:
    inside = _select(index, layout, tracking, accuracy_tolerance=0.05)
    candidates = _candidates(inside)
    small, large = candidates["bert-small"], candidates["bert-large"]
    # scores are the medians of the top-3 trials recorded in MLflow
    assert small["score"] == pytest.approx(0.79)
    assert large["score"] == pytest.approx(0.81)
    # latencies were measured (real benchmark artifacts), and small really is faster
    assert small["latency_ms"] < large["latency_ms"]
    for c in (small, large):
        bench = index.get(c["benchmark_id"])
        assert bench.manifest.kind == "benchmark"
        assert bench.manifest.extra["purpose"] == "selection"
        timing = json.loads((bench.path / "benchmark.json").read_text())["timings"][0]
        assert timing["latency"]["p50_ms"] == pytest.approx(c["latency_ms"])
    assert inside.champion["backbone"] == two_studies["bert-small"].backbone
    assert inside.rule == "faster_within_tolerance"
    assert "faster model wins" in inside.reason
    assert small["within_tolerance"] and large["within_tolerance"]

    outside = _select(index, layout, tracking, accuracy_tolerance=0.005)
    assert outside.champion["backbone"] == two_studies["bert-large"].backbone
    assert outside.rule == "most_accurate_outside_tolerance"
    assert "bert-small would be faster but is too inaccurate" in outside.reason
    assert _candidates(outside)["bert-small"]["within_tolerance"] is False
    # the second decision re-used the first one's latency measurements
    assert _candidates(outside)["bert-small"]["benchmark_id"] == small["benchmark_id"]
    assert [m["benchmark_action"] for m in outside.report["measurements"]] == ["reuse", "reuse"]
    assert len(index.find(kind="benchmark")) == 2


def test_selection_artifact_carries_the_champion_contract(
    index: ArtifactIndex, layout: OutputLayout, tracking: TrackingConfig, two_studies: Any
) -> None:
    result = _select(index, layout, tracking, accuracy_tolerance=0.05)
    manifest = index.get(result.artifact_id).read_manifest()
    assert manifest.kind == "selection" and manifest.stage == "select"
    champion = manifest.extra["champion"]
    assert set(champion) == {"backbone", "params", "trial_id", "study_artifact_id"}
    small = two_studies["bert-small"]
    assert champion["study_artifact_id"] == small.artifact_id
    # the best trial of the small study is trial 0 (0.80); its MLflow run is the trial id
    assert champion["trial_id"] == small.trial_run_ids[0]
    # every TrainConfig field, with the trial's searched values applied to the study's base
    assert set(champion["params"]) == set(TrainConfig.model_fields)
    assert champion["params"]["learning_rate"] == pytest.approx(1e-3)
    assert champion["params"]["batch_size"] == 16
    assert champion["params"]["epochs"] == 1  # from the study's own train section
    assert manifest.extra["decision"]["rule"] == "faster_within_tolerance"
    assert set(manifest.lineage) == {s.artifact_id for s in two_studies.values()}
    report = json.loads((result.artifact_dir / "selection.json").read_text())
    assert {g["backbone"].rsplit("/", 1)[-1] for g in report["groups"]} == set(two_studies)
    assert all(s["trials_source"] == "mlflow" for s in report["studies"])
    from mlflow.tracking import MlflowClient

    run = MlflowClient().get_run(manifest.extra["mlflow_run_id"])
    assert run.data.tags["nerp.decision"].startswith("faster_within_tolerance")
    assert run.data.metrics["score.bert-small"] == pytest.approx(0.79)


def test_relative_tolerance_is_a_fraction_of_the_best_score(
    index: ArtifactIndex, layout: OutputLayout, tracking: TrackingConfig, two_studies: Any
) -> None:
    # 0.81 * (1 - 0.03) = 0.7857 <= 0.79: inside; 0.81 * (1 - 0.02) = 0.7938 > 0.79: outside
    inside = _select(index, layout, tracking, accuracy_tolerance=0.03, tolerance_mode="relative")
    assert inside.champion["backbone"].endswith("bert-small")
    assert inside.report["decision"]["threshold"] == pytest.approx(0.81 * 0.97)
    outside = _select(index, layout, tracking, accuracy_tolerance=0.02, tolerance_mode="relative")
    assert outside.champion["backbone"].endswith("bert-large")


def test_composite_strategy_weighs_normalised_score_and_speed(
    index: ArtifactIndex, layout: OutputLayout, tracking: TrackingConfig, two_studies: Any
) -> None:
    speed_first = _select(
        index, layout, tracking, strategy="composite", f1_weight=0.3, latency_weight=0.7
    )
    candidates = _candidates(speed_first)
    # min-max normalisation: the faster model has speed 1, score 0; the slower the reverse
    assert candidates["bert-small"]["composite"] == pytest.approx(0.7)
    assert candidates["bert-large"]["composite"] == pytest.approx(0.3)
    assert speed_first.champion["backbone"].endswith("bert-small")
    assert speed_first.rule == "composite"
    accuracy_first = _select(
        index, layout, tracking, strategy="composite", f1_weight=0.8, latency_weight=0.2
    )
    assert accuracy_first.champion["backbone"].endswith("bert-large")


def test_rerun_returns_cached_selection_unless_force_new(
    index: ArtifactIndex, layout: OutputLayout, tracking: TrackingConfig, two_studies: Any
) -> None:
    first = _select(index, layout, tracking, accuracy_tolerance=0.05)
    again = _select(index, layout, tracking, accuracy_tolerance=0.05)
    assert again.action == "reuse"
    assert again.artifact_id == first.artifact_id
    assert again.champion == first.champion
    forced = _select(index, layout, tracking, run_mode="force_new", accuracy_tolerance=0.05)
    assert forced.action == "new"
    assert forced.artifact_id != first.artifact_id
    assert len(index.find(kind="selection", status="complete")) == 2


def test_groups_without_enough_trials_are_left_out_with_the_reason(
    index: ArtifactIndex,
    layout: OutputLayout,
    tracking: TrackingConfig,
    make_study: Any,
    models: dict[str, Any],
) -> None:
    make_study(models["bert-large"], [0.9, None, None])  # one complete, two pruned
    make_study(models["bert-small"], SMALL)
    result = _select(index, layout, tracking, min_trials_per_group=2)
    groups = {g["backbone"].rsplit("/", 1)[-1]: g for g in result.report["groups"]}
    assert groups["bert-large"]["eligible"] is False
    assert (
        "1 complete trial(s), fewer than min_trials_per_group 2" in groups["bert-large"]["reason"]
    )
    notes = next(s for s in result.report["studies"] if s["backbone"].endswith("bert-large"))
    assert "trial 1: pruned" in notes["notes"]
    # one candidate left: it wins without a latency trade-off
    assert result.champion["backbone"].endswith("bert-small")
    assert result.rule == "only_candidate"
    assert result.report["measurements"] == []


def test_no_study_with_enough_trials_is_an_error(
    index: ArtifactIndex,
    layout: OutputLayout,
    tracking: TrackingConfig,
    make_study: Any,
    models: dict[str, Any],
) -> None:
    make_study(models["bert-small"], [0.5])
    with pytest.raises(SelectionError, match="fewer than min_trials_per_group 3"):
        _select(index, layout, tracking, min_trials_per_group=3)


def test_no_studies_is_an_error(
    index: ArtifactIndex, layout: OutputLayout, tracking: TrackingConfig
) -> None:
    with pytest.raises(SelectionError, match="no complete study artifacts.*nerp hpo run"):
        _select(index, layout, tracking)


def test_without_tracking_trials_come_from_the_study_report(
    index: ArtifactIndex, layout: OutputLayout, make_study: Any, models: dict[str, Any]
) -> None:
    make_study(models["bert-small"], SMALL, with_mlflow=False)
    off = TrackingConfig(enabled=False)
    result = _select(index, layout, off)
    assert result.report["studies"][0]["trials_source"] == "file trials.json"
    assert result.report["decision"]["candidates"][0]["score"] == pytest.approx(0.79)
    assert result.champion["trial_id"] is None  # no MLflow run to point at


@pytest.mark.slow
def test_latency_on_onnx_converts_the_candidates(
    index: ArtifactIndex, layout: OutputLayout, tracking: TrackingConfig, two_studies: Any
) -> None:
    result = _select(index, layout, tracking, latency_backend="onnx_int8", accuracy_tolerance=0.05)
    packages = index.find(kind="onnx_package", status="complete")
    assert len(packages) == 2
    benchmarks = [index.get(c["benchmark_id"]) for c in result.report["decision"]["candidates"]]
    assert {b.manifest.lineage[0] for b in benchmarks} == {p.id for p in packages}
    assert {m["onnx_package_id"] for m in result.report["measurements"]} == {p.id for p in packages}
    assert result.champion["backbone"].endswith("bert-small")
