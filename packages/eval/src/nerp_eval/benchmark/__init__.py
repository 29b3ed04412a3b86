"""Latency benchmarks: torch, ONNX fp32 and ONNX int8 on the same texts and threads."""

from nerp_eval.benchmark.chart import latency_figure, write_figure_html
from nerp_eval.benchmark.run import (
    BENCHMARK_KIND,
    BenchmarkRun,
    benchmark_settings,
    machine_info,
    run_benchmark,
)
from nerp_eval.benchmark.timing import BatchTiming, LatencyStats, percentile, time_predictor

__all__ = [
    "BENCHMARK_KIND",
    "BatchTiming",
    "BenchmarkRun",
    "LatencyStats",
    "benchmark_settings",
    "latency_figure",
    "machine_info",
    "percentile",
    "run_benchmark",
    "time_predictor",
    "write_figure_html",
]
