"""Transformer graph fusions for onnxruntime, applied before quantisation.

The dynamo exporter writes attention as a decomposed ``scaled_dot_product_attention``
(MatMul, Mul, Where, Softmax, IsNaN, ...) and GELU as ``Div``/``Erf``/``Mul``.
onnxruntime's own ``onnxruntime.transformers.optimizer`` matches the TorchScript
exporter's patterns: on a dynamo graph it fuses SkipLayerNormalization and BiasGelu but
finds no Attention (checked with onnxruntime 1.32). The ORT fusion rules of onnxscript
(``onnxscript.rewriter.ort_fusions.optimize_for_ort``, written for dynamo graphs by the
same teams) fuse the whole set into onnxruntime contrib ops: ``Attention`` (QKV
projection packed into one GEMM, then MultiHeadAttention), ``SkipLayerNormalization``
(residual add + LayerNorm) and ``BiasGelu``.

Two small steps then make the fused ``Attention`` quantisable, so its QKV GEMM runs in
int8 too (``QAttention``); onnxruntime's quantiser skips an Attention node whose weight
is not an initializer or that carries ``qkv_hidden_sizes``:

- constant folding without size limits turns the packed ``Concat(Wq, Wk, Wv)`` weight
  into one initializer;
- equal ``qkv_hidden_sizes`` (the attribute's default meaning) are dropped, and the
  additive float ``attention_bias`` that encodes the padding mask is replaced by the raw
  2-D mask (``attention_mask`` cast to int32, input ``mask_index``), which QAttention
  accepts; its subgraph is then unused and pruned.

The parity gate then checks the fused graph against PyTorch like any other: the
fusions are exact up to float rounding (max |Δlogit| ~1e-5 on MiniLM-L6).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
from onnx import TensorProto, helper

__all__ = ["FUSED_OPS", "FusionReport", "fuse_transformer_graph", "op_counts"]

FUSED_OPS = (
    "Attention",
    "MultiHeadAttention",
    "SkipLayerNormalization",
    "EmbedLayerNormalization",
    "BiasGelu",
    "FastGelu",
    "Gelu",
)
"""onnxruntime contrib ops a transformer fusion can produce; counted in the report."""

_MASK_INPUT = "attention_mask"
_MASK_INT32 = "attention_mask_int32"
_MS_DOMAIN = "com.microsoft"


@dataclass(frozen=True)
class FusionReport:
    """Which fusions applied (node counts of the fused ops) and what the graph kept."""

    applied: bool
    fused_ops: dict[str, int] = field(default_factory=dict)
    rules: dict[str, int] = field(default_factory=dict)
    attention_mask_rewired: int = 0
    nodes_before: int = 0
    nodes_after: int = 0
    reason: str = ""

    def manifest(self) -> dict[str, Any]:
        """What goes into the package manifest (``extra.graph_optimization``)."""
        return {
            "applied": self.applied,
            "tool": "onnxscript.rewriter.ort_fusions.optimize_for_ort",
            "fused_ops": dict(self.fused_ops),
            "rules": dict(self.rules),
            "attention_mask_rewired": self.attention_mask_rewired,
            "nodes_before": self.nodes_before,
            "nodes_after": self.nodes_after,
            **({"reason": self.reason} if self.reason else {}),
        }

    def summary(self) -> str:
        if not self.applied:
            return f"no fusion ({self.reason})"
        fused = ", ".join(f"{op} ×{n}" for op, n in self.fused_ops.items() if n) or "none"
        return f"{fused}; {self.nodes_before} → {self.nodes_after} nodes"


def op_counts(model: onnx.ModelProto) -> Counter[str]:
    """How many nodes of each op type the main graph holds."""
    return Counter(node.op_type for node in model.graph.node)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    logger = logging.getLogger("onnxscript")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _rewire_attention(model: onnx.ModelProto) -> int:
    """Make fused Attention nodes quantisable: raw 2-D mask in, equal-size QKV attribute out.

    Only when the graph has an ``attention_mask`` input (an encoder's padding mask is then
    the only thing the additive bias encodes; the parity gate checks the result).
    """
    graph = model.graph
    if _MASK_INPUT not in {i.name for i in graph.input}:
        return 0
    attention = [n for n in graph.node if n.op_type == "Attention" and n.domain == _MS_DOMAIN]
    rewired = 0
    for node in attention:
        inputs = list(node.input) + [""] * (6 - len(node.input))
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        sizes = attrs.get("qkv_hidden_sizes")
        if sizes is not None and len(set(sizes)) != 1:
            continue  # unequal Q/K/V sizes: QAttention cannot take them; leave the node alone
        if inputs[3] or len(inputs) > 6 or attrs.get("unidirectional"):
            continue  # already has a mask index, a past state or a causal mask
        if sizes is not None:
            kept = [a for a in node.attribute if a.name != "qkv_hidden_sizes"]
            del node.attribute[:]
            node.attribute.extend(kept)
        inputs[3], inputs[5] = _MASK_INT32, ""
        while inputs and not inputs[-1]:
            inputs.pop()
        del node.input[:]
        node.input.extend(inputs)
        rewired += 1
    if rewired:
        cast = helper.make_node(
            "Cast", [_MASK_INPUT], [_MASK_INT32], to=TensorProto.INT32, name="attention_mask_int32"
        )
        graph.node.insert(0, cast)
    return rewired


def fuse_transformer_graph(source: Path, target: Path) -> FusionReport:
    """Write ``source`` with transformer fusions applied to ``target``.

    Returns a report with the fused-op counts. When the fusion library is missing or
    fails, nothing is written and the report says why (the caller keeps the unfused
    graph: the model still converts, it is only slower).
    """
    original = onnx.load(str(source), load_external_data=False)
    before = len(original.graph.node)
    if any(
        init.data_location == TensorProto.EXTERNAL for init in original.graph.initializer
    ):  # over protobuf's 2 GiB: rewriting it in memory is not worth the risk
        return FusionReport(
            False, nodes_before=before, nodes_after=before, reason="external weight data"
        )
    try:
        from onnxscript import ir
        from onnxscript import optimizer as script_optimizer
        from onnxscript.rewriter.ort_fusions import optimize_for_ort
    except ImportError as exc:
        return FusionReport(False, nodes_before=before, nodes_after=before, reason=str(exc))
    try:
        with _quiet():
            model = ir.serde.deserialize_model(original)
            model, rules = optimize_for_ort(model)
            limit = 1 << 34  # fold the packed QKV weights whatever their size
            script_optimizer.fold_constants(model, input_size_limit=limit, output_size_limit=limit)
            proto = ir.serde.serialize_model(model)
            rewired = _rewire_attention(proto)
            script_optimizer.remove_unused_nodes(proto)
    except Exception as exc:  # a rewrite rule that trips on an unusual graph
        return FusionReport(
            False,
            nodes_before=before,
            nodes_after=before,
            reason=f"{type(exc).__name__}: {exc}",
        )
    onnx.save(proto, str(target))
    counts = op_counts(proto)
    return FusionReport(
        applied=True,
        fused_ops={op: counts.get(op, 0) for op in FUSED_OPS},
        rules={name: int(n) for name, n in rules.items() if n},
        attention_mask_rewired=rewired,
        nodes_before=before,
        nodes_after=len(proto.graph.node),
    )
