"""Benchmarks of a real checkpoint and its ONNX package: timings, artifact, reuse, MLflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nerp_deploy.runtime import bf16_unsupported_reason
from nerp_eval.benchmark import LatencyStats, run_benchmark
from nerp_eval.benchmark.texts import benchmark_texts
from nerp_eval.errors import EvalError
from nerp_eval.targets import resolve_targets
from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.config import BenchmarkConfig, TrackingConfig
from nerp_infra.fingerprints import bench_fp
from nerp_infra.paths import OutputLayout

# openvino_bf16 only where the CPU does bf16 (AMX, AVX512-BF16): elsewhere it is refused
BF16 = ("openvino_bf16",) if bf16_unsupported_reason() is None else ()


def test_latency_stats_are_numpy_percentiles_in_ms() -> None:
    import numpy as np

    seconds = [0.003, 0.001, 0.004, 0.0015, 0.009, 0.0026]
    stats = LatencyStats.of(seconds)
    ms = [s * 1000 for s in seconds]
    for q, got in ((50, stats.p50_ms), (95, stats.p95_ms), (99, stats.p99_ms)):
        assert got == pytest.approx(float(np.percentile(ms, q)))
    assert (stats.min_ms, stats.max_ms, stats.n) == (pytest.approx(1.0), pytest.approx(9.0), 6)
    assert stats.mean_ms == pytest.approx(sum(ms) / 6)
    with pytest.raises(ValueError, match="no timed iterations"):
        LatencyStats.of([])


@pytest.fixture
def targets(models: dict[str, Path], package: Path) -> list[Any]:
    return resolve_targets(models["bert-small"]) + resolve_targets(
        package, ("onnx_fp32", "onnx_int8", *BF16)
    )


def test_benchmark_times_every_backend_on_the_same_texts(
    root: Path,
    targets: list[Any],
    dataset: Any,
    quick_bench: BenchmarkConfig,
    tracking: TrackingConfig,
) -> None:
    index, layout = ArtifactIndex(root), OutputLayout(root)
    texts = benchmark_texts(quick_bench.n_texts, dataset.test)
    assert texts == [d.text for d in dataset.test[:4]]
    run = run_benchmark(
        targets, texts, config=quick_bench, index=index, layout=layout, tracking=tracking
    )
    assert run.action == "new"
    combos = {(t.backend, t.batch_size) for t in run.timings}
    backends = ("torch", "onnx_fp32", "onnx_int8", *BF16)
    assert combos == {(b, s) for b in backends for s in (1, 4)}
    for timing in run.timings:
        lat = timing.latency
        assert lat.n == quick_bench.iterations
        assert 0 < lat.min_ms <= lat.p50_ms <= lat.p95_ms <= lat.p99_ms <= lat.max_ms
        assert timing.tokenization.n == quick_bench.iterations
        assert timing.tokenization.p50_ms > 0
        expected = timing.batch_size * 1000.0 / lat.mean_ms
        assert timing.throughput_texts_per_s == pytest.approx(expected, rel=1e-6)
    report = json.loads((run.artifact_dir / "benchmark.json").read_text())
    assert report["purpose"] == "benchmark"
    assert report["device"]["threads"] == 1
    assert report["device"]["torch_threads"] == 1
    assert report["device"]["cpu_count"] >= 1
    assert report["settings"]["texts_sha256"]
    assert report["settings"]["backends"] == list(backends)
    # the key is bench_fp over the compared artifacts and the settings
    manifest = index.get(run.artifact_id).read_manifest()
    ids = [t.artifact_id for t in targets]
    assert manifest.fingerprints["bench_fp"] == bench_fp(
        artifact_ids=ids, settings=report["settings"]
    )
    chart = (run.artifact_dir / "latency.html").read_text()
    assert "Plotly.newPlot" in chart
    assert 'src="http' not in chart  # plotly.js is inlined: the chart opens offline
    assert f"{run.timing('onnx_int8', 1).latency.p50_ms:.2f} ms" in chart
    from mlflow.tracking import MlflowClient

    logged = MlflowClient().get_run(manifest.extra["mlflow_run_id"]).data
    assert logged.metrics["onnx_int8.bs4.latency_p95_ms"] == pytest.approx(
        run.timing("onnx_int8", 4).latency.p95_ms
    )
    assert logged.metrics["torch.bs1.tokenization_p50_ms"] == pytest.approx(
        run.timing("torch", 1).tokenization.p50_ms
    )
    assert logged.params["threads"] == "1"
    assert logged.tags["nerp.bench_fp"] == manifest.fingerprints["bench_fp"]


def test_same_settings_reuse_the_finished_benchmark(
    root: Path, targets: list[Any], quick_bench: BenchmarkConfig, tracking: TrackingConfig
) -> None:
    index, layout = ArtifactIndex(root), OutputLayout(root)
    texts = benchmark_texts(3)  # synthetic resumes: the same for the same count
    first = run_benchmark(
        targets[1:], texts, config=quick_bench, index=index, layout=layout, tracking=tracking
    )
    written = (first.artifact_dir / "benchmark.json").stat().st_mtime_ns
    again = run_benchmark(
        list(reversed(targets[1:])),  # order does not matter to bench_fp ... but backends do
        texts,
        config=quick_bench,
        index=index,
        layout=layout,
        tracking=tracking,
    )
    assert again.action == "new"  # backends listed in another order: another comparison
    same = run_benchmark(
        targets[1:], benchmark_texts(3), config=quick_bench, index=index, layout=layout
    )
    assert (same.action, same.artifact_id) == ("reuse", first.artifact_id)
    assert (first.artifact_dir / "benchmark.json").stat().st_mtime_ns == written
    assert [t.as_dict() for t in same.timings] == [t.as_dict() for t in first.timings]
    more = quick_bench.model_copy(update={"iterations": 6})
    changed = run_benchmark(targets[1:], texts, config=more, index=index, layout=layout)
    assert changed.action == "new" and changed.artifact_id != first.artifact_id
    forced = run_benchmark(
        targets[1:], texts, config=quick_bench, index=index, layout=layout, run_mode="force_new"
    )
    assert forced.action == "new" and forced.artifact_id != first.artifact_id


def test_nothing_to_benchmark_is_an_error(root: Path, quick_bench: BenchmarkConfig) -> None:
    with pytest.raises(EvalError, match="nothing to benchmark"):
        run_benchmark(
            [], ["text"], config=quick_bench, index=ArtifactIndex(root), layout=OutputLayout(root)
        )
