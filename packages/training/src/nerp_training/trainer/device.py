"""Which device trains, and which precision it can train in.

``train.precision: auto`` must mean the same thing when the exec fingerprint is computed
(before training) and when the Trainer is configured, so both ask these functions.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "Precision",
    "TrainingError",
    "cpu_has_native_bf16",
    "device_type",
    "resolve_precision",
]

Precision = Literal["fp32", "bf16", "fp16"]


class TrainingError(RuntimeError):
    """Training cannot run as configured; the message names the setting and the reason."""


def device_type() -> str:
    """``cuda`` when a GPU is visible, else ``cpu`` (the Trainer's own choice, in short).

    Apple's ``mps`` is left out on purpose: the Trainer would pick it, but its kernels
    are not deterministic and the numbers would not match a CPU run with the same exec
    fingerprint, so nerp trains on CPU there.
    """
    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bfloat16 in hardware (AMX-BF16 or AVX512-BF16).

    There bf16 autocast trains MiniLM about 1.6x faster than fp32 (benchmarks/
    train_throughput.py); without those units bf16 is emulated and slower than fp32.
    """
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def resolve_precision(requested: str, device: str | None = None) -> Precision:
    """The precision to train in for ``train.precision`` on ``device``.

    ``auto`` picks bf16 on GPUs that support it, fp16 on older GPUs, bf16 on CPUs with
    native bf16 units (AMX, AVX512-BF16) and fp32 on other CPUs.
    An explicit half precision the device cannot do is an error, not a silent fp32 run.
    """
    device = device or device_type()
    if requested == "fp32":
        return "fp32"
    if requested == "auto":
        if device != "cuda":
            return "bf16" if cpu_has_native_bf16() else "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if requested == "bf16":
        if device == "cuda" and not torch.cuda.is_bf16_supported():
            raise TrainingError(
                "train.precision bf16: this GPU does not support bfloat16; use fp16 or auto"
            )
        return "bf16"  # CPUs run bf16 autocast (slowly without AVX512-BF16/AMX, but correctly)
    if requested == "fp16":
        if device != "cuda":
            raise TrainingError(
                f"train.precision fp16 needs a CUDA GPU (training runs on {device}); "
                "use fp32, bf16 or auto"
            )
        return "fp16"
    raise TrainingError(f"train.precision {requested!r} is not one of fp32, bf16, fp16, auto")
