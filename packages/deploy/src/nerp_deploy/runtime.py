"""onnxruntime sessions for token-classification graphs, whatever inputs they declare."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from nerp_deploy.errors import PackageError

__all__ = ["OrtRunner"]

_KNOWN_INPUTS = frozenset({"input_ids", "attention_mask", "token_type_ids"})
_DTYPES: dict[str, type[np.integer]] = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


class OrtRunner:
    """A CPU inference session that maps ``(input_ids, attention_mask)`` to logits.

    ``token_type_ids`` is fed as zeros when a graph asks for it (single-sequence input), so
    packages exported by other tools work too. ``threads`` caps intra-op threads; inter-op
    parallelism stays at one because our graphs are a single chain of layers, and a
    server with several workers should not oversubscribe the cores.
    """

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 (or None for all cores), got {threads}")
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
        self._inputs: dict[str, type[np.integer]] = {}
        for node in self.session.get_inputs():
            if node.name not in _KNOWN_INPUTS:
                raise PackageError(
                    f"{path}: model input {node.name!r} is not one nerp can feed "
                    f"({', '.join(sorted(_KNOWN_INPUTS))})"
                )
            if node.type not in _DTYPES:
                raise PackageError(f"{path}: model input {node.name!r} has type {node.type}")
            self._inputs[node.name] = _DTYPES[node.type]
        if "input_ids" not in self._inputs:
            raise PackageError(f"{path}: the model has no 'input_ids' input")
        outputs = [o.name for o in self.session.get_outputs()]
        self._output = "logits" if "logits" in outputs else outputs[0]

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds: dict[str, np.ndarray] = {}
        for name, dtype in self._inputs.items():
            if name == "input_ids":
                value = input_ids
            elif name == "attention_mask":
                value = attention_mask
            else:
                value = np.zeros_like(input_ids)
            feeds[name] = value.astype(dtype, copy=False)
        (logits,) = self.session.run([self._output], feeds)
        return np.asarray(logits)
