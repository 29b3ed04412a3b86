"""Model runners for token-classification graphs, whatever inputs they declare.

onnxruntime runs the fp32 and int8 graphs; OpenVINO runs the fp32 graph in bf16 on CPUs
with AMX or AVX512-BF16 (the ``bf16`` variant, offered only on such CPUs: elsewhere OpenVINO
emulates bf16, 45x slower than fp32). On an AMX CPU, in one run of benchmarks/inference.py
on 60 DataTurks resumes, it ran 3.46x the HF pipeline with 99.62 % of PyTorch's entities,
where onnxruntime's dynamic int8 ran 2.07x with 98.05 % (deploy README). Both map
``(input_ids, attention_mask)`` to logits.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from nerp_deploy.errors import PackageError

__all__ = [
    "OPENVINO_EXTRA",
    "ModelRunner",
    "OpenVinoRunner",
    "OrtRunner",
    "bf16_unsupported_reason",
    "open_runner",
    "openvino_available",
]

OPENVINO_EXTRA = "nerp-deploy[openvino]"
"""What to install for the bf16 variant; error messages name it."""


class ModelRunner(Protocol):
    """What the engine needs of a backend: its file, its threads, logits for a batch."""

    path: Path
    threads: int | None

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


def openvino_available() -> bool:
    """Whether OpenVINO is installed; imports nothing."""
    return importlib.util.find_spec("openvino") is not None


@functools.cache
def bf16_unsupported_reason() -> str | None:
    """Why the bf16 variant cannot run here, or None when it can.

    It needs OpenVINO and a CPU that does bf16 arithmetic (AMX or AVX512-BF16, which
    OpenVINO reports as the ``BF16`` capability). Without them OpenVINO still compiles a
    bf16 model but emulates it: 45x slower than fp32 in one measurement (8 windows of 256
    tokens, MiniLM, 10.2 s against 0.23 s), so nerp does not offer the variant there.
    """
    if not openvino_available():
        return f"it runs on OpenVINO, which is not installed (pip install '{OPENVINO_EXTRA}')"
    import openvino as ov

    try:
        capabilities = list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses per failure
        return f"OpenVINO cannot read this CPU's capabilities ({exc})"
    if "BF16" not in capabilities:
        return (
            "this CPU has no bf16 instructions (AMX or AVX512-BF16; OpenVINO reports "
            f"{', '.join(capabilities)}), where OpenVINO would emulate bf16 far slower than fp32"
        )
    return None


_KNOWN_INPUTS = frozenset({"input_ids", "attention_mask", "token_type_ids"})
_DTYPES: dict[str, type[np.integer]] = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


def _check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 (or None for all cores), got {threads}")


def _input_dtypes(
    path: Path, declared: list[tuple[str, type[np.integer] | None]]
) -> dict[str, type[np.integer]]:
    """The graph's inputs and their integer types, or an error naming the one nerp cannot feed."""
    inputs: dict[str, type[np.integer]] = {}
    for name, dtype in declared:
        if name not in _KNOWN_INPUTS:
            raise PackageError(
                f"{path}: model input {name!r} is not one nerp can feed "
                f"({', '.join(sorted(_KNOWN_INPUTS))})"
            )
        if dtype is None:
            raise PackageError(f"{path}: model input {name!r} is not an int32/int64 tensor")
        inputs[name] = dtype
    if "input_ids" not in inputs:
        raise PackageError(f"{path}: the model has no 'input_ids' input")
    return inputs


def _feeds(
    inputs: dict[str, type[np.integer]], input_ids: np.ndarray, attention_mask: np.ndarray
) -> dict[str, np.ndarray]:
    """``token_type_ids`` is zeros: single-sequence input."""
    values = {"input_ids": input_ids, "attention_mask": attention_mask}
    return {
        name: values.get(name, np.zeros_like(input_ids)).astype(dtype, copy=False)
        for name, dtype in inputs.items()
    }


class OrtRunner:
    """A CPU inference session that maps ``(input_ids, attention_mask)`` to logits.

    ``token_type_ids`` is fed as zeros when a graph asks for it (single-sequence input), so
    packages exported by other tools work too. ``threads`` caps intra-op threads; inter-op
    parallelism stays at one because our graphs are a single chain of layers, and a
    server with several workers should not oversubscribe the cores.
    """

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        _check_threads(threads)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                os.fspath(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types per failure
            raise PackageError(f"{path}: onnxruntime cannot load the model: {exc}") from exc
        self.path = path
        self.threads = threads
        self._inputs = _input_dtypes(
            path, [(node.name, _DTYPES.get(node.type)) for node in self.session.get_inputs()]
        )
        outputs = [o.name for o in self.session.get_outputs()]
        self._output = "logits" if "logits" in outputs else outputs[0]

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run(
            [self._output], _feeds(self._inputs, input_ids, attention_mask)
        )
        return np.asarray(logits)


class OpenVinoRunner:
    """The fp32 ONNX graph compiled by OpenVINO's CPU plugin at ``precision``.

    With ``bf16`` the plugin runs matrix products on AMX/AVX512-BF16 units (on CPUs
    without them it emulates bf16, slowly: see ``bf16_unsupported_reason``). OpenVINO
    reads the fused graph's onnxruntime ops (Attention, SkipLayerNormalization, BiasGelu)
    itself. An infer request is not thread-safe, so each calling thread gets its own from
    the one compiled model.
    """

    def __init__(self, path: Path, *, threads: int | None = None, precision: str = "bf16") -> None:
        _check_threads(threads)
        try:
            import openvino as ov
        except ImportError as exc:
            raise PackageError(
                f"{path}: the {precision} variant runs on OpenVINO, which is not installed "
                f"(pip install '{OPENVINO_EXTRA}')"
            ) from exc
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": not shares_cores(threads),
        }
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            self.compiled = ov.Core().compile_model(os.fspath(path), "CPU", config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses per failure
            raise PackageError(f"{path}: OpenVINO cannot load the model: {exc}") from exc
        self.path = path
        self.threads = threads
        self._inputs = _input_dtypes(path, [_port(p) for p in self.compiled.inputs])
        self._output = self.compiled.output(0)
        self._local = threading.local()

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        # copy: the request reuses its output buffer on the next call
        return np.array(
            request.infer(_feeds(self._inputs, input_ids, attention_mask))[self._output],
            dtype=np.float32,
        )


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def shares_cores(threads: int | None) -> bool:
    """Whether a runner of ``threads`` threads leaves cores to other processes.

    OpenVINO pins its inference threads to cores by default, and every process picks the
    same first cores: two ``nerp serve`` workers of one thread each ran on one core, and
    the bf16 variant served fewer requests than int8 although its model calls are faster.
    So only a runner that has every core to itself is pinned.
    """
    return threads is not None and threads < usable_cores()


def _port(port: Any) -> tuple[str, type[np.integer] | None]:
    dtype = port.get_element_type().to_dtype().type
    return port.get_any_name(), dtype if dtype in (np.int64, np.int32) else None


def open_runner(path: Path, variant: str, *, threads: int | None = None) -> ModelRunner:
    """The runner of a package variant's file: OpenVINO in bf16 for ``bf16``, else onnxruntime."""
    if variant == "bf16":
        return OpenVinoRunner(path, threads=threads, precision="bf16")
    return OrtRunner(path, threads=threads)
