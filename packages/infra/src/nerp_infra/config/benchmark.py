"""Benchmark section: which backends and batch sizes are timed, and how long."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, field_validator

from nerp_infra.config.base import BACKENDS, Backend, ConfigModel, RunMode

__all__ = ["BenchmarkConfig"]


def _distinct(name: str, values: Sequence[object]) -> None:
    duplicates = sorted({str(value) for value in values if values.count(value) > 1})
    if duplicates:
        raise ValueError(f"{name} listed twice: {', '.join(duplicates)}")


class BenchmarkConfig(ConfigModel):
    """Latency measurement: ``warmup`` untimed runs, then ``iterations`` timed ones."""

    backends: list[Backend] = Field(default_factory=lambda: list(BACKENDS), min_length=1)
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 8], min_length=1)
    warmup: int = Field(default=3, ge=0)
    iterations: int = Field(default=20, ge=1)
    threads: int | None = Field(default=None, ge=1)
    n_texts: int = Field(default=16, ge=1)
    run_mode: RunMode = "reuse_if_exists"

    @field_validator("backends")
    @classmethod
    def _distinct_backends(cls, backends: list[Backend]) -> list[Backend]:
        _distinct("backends", backends)
        return backends

    @field_validator("batch_sizes")
    @classmethod
    def _positive_distinct_sizes(cls, sizes: list[int]) -> list[int]:
        bad = [size for size in sizes if size < 1]
        if bad:
            raise ValueError(f"batch sizes must be >= 1, got {bad}")
        _distinct("batch sizes", sizes)
        return sizes
