"""Conversion section: ONNX export, int8 quantisation and the parity gate."""

from __future__ import annotations

from pydantic import Field

from nerp_infra.config.base import ConfigModel, RunMode

__all__ = ["ConversionConfig", "ParityConfig"]


class ParityConfig(ConfigModel):
    """How close the ONNX models must stay to PyTorch before a package is accepted."""

    fp32_max_abs_diff: float = Field(default=1e-3, gt=0)
    int8_min_tag_agreement: float = Field(default=0.95, ge=0, le=1)
    int8_max_f1_drop: float = Field(default=0.05, ge=0, le=1)
    n_samples: int = Field(default=8, ge=1)
    min_entities: int = Field(
        default=200,
        ge=0,
        description="the gate reads entity F1 on texts holding at least this many PyTorch "
        "entities (more synthetic resumes are added until they do): on a handful of "
        "entities one disagreement moves F1 by many points",
    )
    max_samples: int = Field(default=400, ge=1, description="cap on the texts that may be added")


class ConversionConfig(ConfigModel):
    """PyTorch -> ONNX fp32 (+ dynamic int8 when ``quantize``), parity-checked."""

    opset: int = Field(default=18, ge=14, le=23)
    quantize: bool = True
    parity: ParityConfig = Field(default_factory=ParityConfig)
    run_mode: RunMode = "reuse_if_exists"
    log_to_mlflow: bool = False
    register_model: bool = Field(
        default=True,
        description="register the package as a version of the MLflow registered model named "
        "after the experiment (`name`), with lineage tags; the pipeline points its @champion "
        "alias at a champion's package. Needs tracking.enabled and MLflow installed",
    )
