"""Latency of one predictor per batch size: warm-up, timed iterations, percentiles.

A "batch" is ``batch_size`` texts handed to the predictor at once, the way a client calls
``predict_batch``; their windows run ``batch_size`` rows per forward pass. Each timed
iteration measures the whole request (tokenisation, windows, model, merging, decoding)
and, separately, tokenisation alone on the same texts, so a slow tokenizer cannot hide in
a model's numbers. Texts are cycled so every backend sees the same inputs in the same
order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from nerp_deploy.predictor import Predictor
from nerp_infra.deprecation import deprecated_names

__all__ = ["BatchTiming", "LatencyStats", "time_predictor"]

__getattr__ = deprecated_names(
    __name__, since="0.2.0", removed_in="0.3.0", names={"percentile": "numpy:percentile"}
)


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds per batch over the timed iterations."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    n: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencyStats:
        if not seconds:
            raise ValueError("latency of no timed iterations")
        ms = np.asarray(seconds, dtype=float) * 1000.0
        p50, p95, p99 = (float(p) for p in np.percentile(ms, [50, 95, 99]))
        return cls(
            p50_ms=p50,
            p95_ms=p95,
            p99_ms=p99,
            mean_ms=float(ms.mean()),
            min_ms=float(ms.min()),
            max_ms=float(ms.max()),
            n=len(ms),
        )


@dataclass(frozen=True)
class BatchTiming:
    """One backend at one batch size."""

    backend: str
    batch_size: int
    latency: LatencyStats
    """The whole request, tokenisation included."""
    tokenization: LatencyStats
    """Tokenising and windowing the same texts alone."""
    throughput_texts_per_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchTiming:
        return cls(
            backend=str(data["backend"]),
            batch_size=int(data["batch_size"]),
            latency=LatencyStats(**data["latency"]),
            tokenization=LatencyStats(**data["tokenization"]),
            throughput_texts_per_s=float(data["throughput_texts_per_s"]),
        )


def _tokenize(predictor: Predictor, texts: Sequence[str], batch_size: int) -> int:
    tokenizer = predictor.tokenizer
    encoded = tokenizer.encode(texts)
    windows = tokenizer.windows(encoded)
    return sum(len(b.windows) for b in tokenizer.batches(encoded, windows, batch_size))


def time_predictor(
    predictor: Predictor,
    texts: Sequence[str],
    *,
    backend: str,
    batch_sizes: Sequence[int],
    warmup: int,
    iterations: int,
    clock: Callable[[], float] = time.perf_counter,
) -> list[BatchTiming]:
    """Time ``predictor`` at each batch size on ``texts`` (cycled)."""
    if not texts:
        raise ValueError("no texts to time the model on")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    results = []
    for batch_size in batch_sizes:
        cursor = 0

        def next_batch(size: int = batch_size) -> list[str]:
            nonlocal cursor
            batch = [texts[(cursor + i) % len(texts)] for i in range(size)]
            cursor = (cursor + size) % len(texts)
            return batch

        for _ in range(warmup):
            predictor.predict_batch(next_batch(), batch_size)
        total: list[float] = []
        tokenize: list[float] = []
        for _ in range(iterations):
            batch = next_batch()
            start = clock()
            _tokenize(predictor, batch, batch_size)
            middle = clock()
            predictor.predict_batch(batch, batch_size)
            end = clock()
            tokenize.append(middle - start)
            total.append(end - middle)
        results.append(
            BatchTiming(
                backend=backend,
                batch_size=batch_size,
                latency=LatencyStats.of(total),
                tokenization=LatencyStats.of(tokenize),
                throughput_texts_per_s=batch_size * len(total) / sum(total) if sum(total) else 0.0,
            )
        )
    return results
