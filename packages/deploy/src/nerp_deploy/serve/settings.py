"""Settings of the HTTP API, from arguments or ``NERP_SERVE_*`` environment variables.

Environment variables matter because uvicorn with several workers imports the app in
each worker process: ``nerp serve`` puts its options there and every worker rebuilds the
same settings with :meth:`ServeSettings.from_env`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["ENV_PREFIX", "ServeSettings"]

ENV_PREFIX = "NERP_SERVE_"


class ServeSettings(BaseModel):
    """What the API serves and the limits it enforces on requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    package: Path = Field(description="ONNX package directory")
    variant: Literal["fp32", "int8", "bf16"] | None = Field(
        default=None,
        description="model variant; default int8 when the package has it "
        "(bf16: the fp32 graph on OpenVINO, on CPUs with AMX or AVX512-BF16)",
    )
    threads: int | None = Field(
        default=None, ge=1, description="onnxruntime intra-op (or OpenVINO) threads"
    )
    batch_size: int | None = Field(
        default=None,
        ge=1,
        description="model rows (windows) per call; default 4,096 tokens' worth (16 of 256)",
    )
    max_text_chars: int = Field(default=100_000, ge=1, description="longest accepted text")
    max_batch_texts: int = Field(default=64, ge=1, description="most texts per batch request")
    max_file_bytes: int = Field(default=5_000_000, ge=1, description="largest accepted upload")
    max_body_bytes: int = Field(
        default=16_000_000,
        ge=1,
        description="largest accepted JSON request body, checked before it is parsed",
    )
    micro_batch: bool = Field(
        default=True,
        description="predict concurrent requests together in one model call (per worker)",
    )
    micro_batch_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=1000,
        description="longest a request waits for others to join its batch (milliseconds)",
    )
    micro_batch_max_texts: int = Field(
        default=16, ge=1, description="most texts one micro-batch runs in one model call"
    )

    def to_env(self) -> dict[str, str]:
        """The environment that makes :meth:`from_env` rebuild these settings."""
        data = self.model_dump(mode="json")
        return {f"{ENV_PREFIX}{k.upper()}": str(v) for k, v in data.items() if v is not None}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        env = os.environ if environ is None else environ
        values = {
            name: env[f"{ENV_PREFIX}{name.upper()}"]
            for name in cls.model_fields
            if f"{ENV_PREFIX}{name.upper()}" in env
        }
        if "package" not in values:
            raise ValueError(f"{ENV_PREFIX}PACKAGE is not set; it names the ONNX package to serve")
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{ENV_PREFIX}{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors()
            )
            raise ValueError(f"invalid serve settings: {problems}") from None
