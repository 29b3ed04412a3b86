"""Latency benchmarks: torch, ONNX fp32 and ONNX int8 on the same texts and threads."""

from nerp_eval.benchmark.chart import latency_figure, write_figure_html
from nerp_eval.benchmark.run import (
    BENCHMARK_KIND,
    BenchmarkRun,
    benchmark_settings,
    machine_info,
    run_benchmark,
)
from nerp_eval.benchmark.timing import BatchTiming, LatencyStats, time_predictor
from nerp_infra.deprecation import deprecated_names

__all__ = [
    "BENCHMARK_KIND",
    "BatchTiming",
    "BenchmarkRun",
    "LatencyStats",
    "benchmark_settings",
    "latency_figure",
    "machine_info",
    "run_benchmark",
    "time_predictor",
    "write_figure_html",
]

__getattr__ = deprecated_names(
    __name__, since="0.2.0", removed_in="0.3.0", names={"percentile": "numpy:percentile"}
)
