"""``benchmark`` artifacts: the same texts and threads through torch, ONNX fp32 and int8.

The artifact is keyed by ``bench_fp`` (which artifacts, which backends, batch sizes,
warm-up, iterations, threads, the texts and the machine), so ``reuse_if_exists`` returns
a finished benchmark instead of timing again, and timings from another machine class are
never mistaken for this one's.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerp_eval.benchmark.chart import latency_figure, write_figure_html
from nerp_eval.benchmark.timing import BatchTiming, time_predictor
from nerp_eval.errors import EvalError
from nerp_eval.targets import InferenceTarget, open_predictor, torch_threads
from nerp_eval.tracking import log_artifact_run, short_or_placeholder
from nerp_infra.artifacts import ArtifactIndex, RunMode, begin_artifact, kinds
from nerp_infra.artifacts.kinds import BENCHMARK_KIND
from nerp_infra.artifacts.payloads import BenchmarkPayload
from nerp_infra.config import BenchmarkConfig, NamingConfig, TrackingConfig
from nerp_infra.deprecation import deprecated_names
from nerp_infra.fingerprints import bench_fp
from nerp_infra.paths import ANY_BACKBONE, OutputLayout
from nerp_infra.plugins import installed_version

__all__ = [
    "BENCHMARK_FILE",
    "BENCHMARK_KIND",
    "CHART_FILE",
    "BenchmarkRun",
    "benchmark_settings",
    "machine_info",
    "run_benchmark",
]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "BENCHMARK_STAGE": "nerp_infra.artifacts.kinds:BENCHMARK_STAGE",
    },
)

BENCHMARK_FILE = "benchmark.json"
CHART_FILE = "latency.html"


def _version(name: str) -> str:
    return installed_version(name) or "absent"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """What the timings depend on besides the model: CPU, core count, library versions."""
    return {
        "device": "cpu",
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count() or 1,
        "machine": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "onnxruntime": _version("onnxruntime"),
        "tokenizers": _version("tokenizers"),
    }


def texts_digest(texts: Sequence[str]) -> str:
    return hashlib.sha256("\x1e".join(texts).encode("utf-8")).hexdigest()


def benchmark_settings(
    targets: Sequence[InferenceTarget],
    config: BenchmarkConfig,
    texts: Sequence[str],
    batch_sizes: Sequence[int] | None = None,
) -> dict[str, Any]:
    """What bench_fp covers besides the artifact ids."""
    machine = machine_info()
    return {
        "backends": [t.backend for t in targets],
        "batch_sizes": list(batch_sizes or config.batch_sizes),
        "warmup": config.warmup,
        "iterations": config.iterations,
        "threads": config.threads,
        "n_texts": len(texts),
        "texts_sha256": texts_digest(texts),
        "machine": {k: machine[k] for k in ("device", "cpu", "cpu_count", "machine", "system")},
        "libraries": {k: machine[k] for k in ("torch", "onnxruntime", "tokenizers")},
    }


@dataclass(frozen=True)
class BenchmarkRun:
    """A benchmark artifact and its timings (read back from disk when reused)."""

    artifact_id: str
    artifact_dir: Path
    action: str
    timings: list[BatchTiming]
    report: dict[str, Any]

    def timing(self, backend: str, batch_size: int) -> BatchTiming:
        for t in self.timings:
            if t.backend == backend and t.batch_size == batch_size:
                return t
        have = ", ".join(f"{t.backend}@{t.batch_size}" for t in self.timings)
        raise EvalError(
            f"benchmark {self.artifact_id} has no timing for {backend} at batch size "
            f"{batch_size} (it has {have})"
        )


def _metrics(timings: Sequence[BatchTiming]) -> dict[str, float]:
    flat: dict[str, float] = {}
    for t in timings:
        prefix = f"{t.backend}.bs{t.batch_size}"
        for stat in ("p50_ms", "p95_ms", "p99_ms", "mean_ms"):
            flat[f"{prefix}.latency_{stat}"] = getattr(t.latency, stat)
            flat[f"{prefix}.tokenization_{stat}"] = getattr(t.tokenization, stat)
        flat[f"{prefix}.throughput_texts_per_s"] = t.throughput_texts_per_s
    return flat


def _read_back(handle_dir: Path) -> tuple[list[BatchTiming], dict[str, Any]]:
    report = json.loads((handle_dir / BENCHMARK_FILE).read_text())
    return [BatchTiming.from_dict(row) for row in report["timings"]], report


def _write_chart(directory: Path, timings: Sequence[BatchTiming], title: str) -> None:
    write_figure_html(latency_figure(timings, title=title), directory / CHART_FILE, title=title)


def run_benchmark(
    targets: Sequence[InferenceTarget],
    texts: Sequence[str],
    *,
    config: BenchmarkConfig,
    index: ArtifactIndex,
    layout: OutputLayout,
    run_mode: RunMode | None = None,
    batch_sizes: Sequence[int] | None = None,
    tracking: TrackingConfig | None = None,
    naming: NamingConfig | None = None,
    chart: bool = True,
    purpose: str = "benchmark",
    lineage: Sequence[str] = (),
) -> BenchmarkRun:
    """Time every target on the same texts and threads; write or reuse the artifact.

    ``batch_sizes`` overrides ``config.batch_sizes`` (selection times one batch size).
    ``chart`` writes ``latency.html``; ``purpose`` is recorded (``benchmark`` or
    ``selection``) so reports can tell the two apart. ``lineage`` adds input artifact ids
    (e.g. the study whose refit checkpoint is timed) to the targets' own.
    """
    if not targets:
        raise EvalError("nothing to benchmark: no targets given")
    labels = [(t.artifact_id, t.backend) for t in targets]
    if len(set(labels)) != len(labels):
        raise EvalError("the same artifact and backend are listed twice")
    sizes = list(batch_sizes or config.batch_sizes)
    settings = benchmark_settings(targets, config, texts, sizes)
    fp = bench_fp(artifact_ids=[t.artifact_id for t in targets], settings=settings)
    backbones = {t.backbone for t in targets}
    backbone = backbones.pop() if len(backbones) == 1 else ANY_BACKBONE
    inputs = [*(t.artifact_id for t in targets), *lineage]
    lineage = [i for i in dict.fromkeys(inputs) if i in index]
    decision = begin_artifact(
        index,
        layout,
        kind=BENCHMARK_KIND,
        stage=kinds.BENCHMARK_STAGE,
        backbone=backbone,
        fingerprints={"bench_fp": fp},
        lineage=lineage,
        config={"benchmark": config.model_dump(mode="json"), "settings": settings},
        run_mode=run_mode or config.run_mode,
    )
    handle = decision.handle
    title = f"Latency per batch: {backbone}"
    if not decision.should_run:
        reused, report = _read_back(handle.dir)
        if chart and not (handle.dir / CHART_FILE).is_file():
            _write_chart(handle.dir, reused, title)
        return BenchmarkRun(handle.id, handle.dir, decision.action, reused, report)
    with handle.failing_on_error():
        timings: list[BatchTiming] = []
        for target in targets:
            predictor = open_predictor(target, threads=config.threads)
            with torch_threads(config.threads if target.backend == "torch" else None):
                timings.extend(
                    time_predictor(
                        predictor,
                        texts,
                        backend=target.backend,
                        batch_sizes=sizes,
                        warmup=config.warmup,
                        iterations=config.iterations,
                    )
                )
        machine = machine_info()
        machine["threads"] = config.threads
        machine["torch_threads"] = _torch_threads(config.threads)
        machine["onnxruntime_intra_op_threads"] = config.threads or "all cores"
        report = {
            "purpose": purpose,
            "bench_fp": fp,
            "targets": [
                {
                    "backend": t.backend,
                    "artifact_id": t.artifact_id,
                    "backbone": t.backbone,
                    "path": str(t.path),
                }
                for t in targets
            ],
            "settings": settings,
            "device": machine,
            "timings": [t.as_dict() for t in timings],
        }
        (handle.dir / BENCHMARK_FILE).write_text(json.dumps(report, indent=1) + "\n")
        if chart:
            _write_chart(handle.dir, timings, title)
        metrics = _metrics(timings)
        first = targets[0]
        run_id = log_artifact_run(
            handle,
            tracking=tracking,
            root=layout.root,
            run_kind="benchmark",
            naming=naming,
            index=index,
            spec8=short_or_placeholder(first.spec_fp(), first.artifact_id),
            exec8=short_or_placeholder(None, machine["cpu"]),
            tags={"bench_fp": fp},
            params={
                "purpose": purpose,
                "backends": ",".join(t.backend for t in targets),
                "batch_sizes": ",".join(str(s) for s in sizes),
                "warmup": config.warmup,
                "iterations": config.iterations,
                "threads": config.threads or "all",
                "n_texts": len(texts),
                "device": machine["device"],
                "cpu": machine["cpu"],
            },
            metrics=metrics,
        )
        handle.complete(
            metrics=metrics,
            extra=BenchmarkPayload(
                mlflow_run_id=run_id, purpose=purpose, device=machine
            ).as_extra(),
        )
    return BenchmarkRun(handle.id, handle.dir, decision.action, timings, report)


def _torch_threads(threads: int | None) -> int | None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency of nerp-eval
        return None
    return threads or torch.get_num_threads()
