"""Latency of one predictor per batch size: warm-up, timed iterations, percentiles.

A "batch" is ``batch_size`` texts handed to the predictor at once, the way a client calls
``predict_batch``; their windows run ``batch_size`` rows per forward pass. Each timed
iteration measures the whole request (tokenisation, windows, model, merging, decoding)
and, separately, tokenisation alone on the same texts, so a slow tokenizer cannot hide in
a model's numbers. Texts are cycled so every backend sees the same inputs in the same
order.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from nerp_deploy.predictor import Predictor

__all__ = ["BatchTiming", "LatencyStats", "percentile", "time_predictor"]


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), ``q`` in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


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
        ms = [s * 1000.0 for s in seconds]
        return cls(
            p50_ms=percentile(ms, 50),
            p95_ms=percentile(ms, 95),
            p99_ms=percentile(ms, 99),
            mean_ms=statistics.fmean(ms),
            min_ms=min(ms),
            max_ms=max(ms),
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
        return {
            "backend": self.backend,
            "batch_size": self.batch_size,
            "latency": asdict(self.latency),
            "tokenization": asdict(self.tokenization),
            "throughput_texts_per_s": self.throughput_texts_per_s,
        }

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
