"""PyTorch -> ONNX conversion (extra ``[convert]``: torch, transformers, onnx, onnxscript).

The only part of nerp-deploy that imports torch. Names are resolved on first use so that
``nerp_deploy.convert.cli`` (the ``nerp convert`` entry point) imports without torch,
and a slim serving image lists the command without a plugin warning; running it there
explains which extra to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nerp_infra.deprecation import lazy_names

if TYPE_CHECKING:
    from nerp_deploy.convert.checkpoint import ModelCheckpoint, resolve_checkpoint
    from nerp_deploy.convert.core import (
        ConversionResult,
        convert_checkpoint,
        run_conversion,
        verify_package,
    )
    from nerp_deploy.convert.export import ExportError
    from nerp_deploy.convert.parity import ParityError, ParityReport, entity_f1
    from nerp_deploy.convert.reference import torch_predictor
    from nerp_deploy.convert.synthetic import sample_texts, synthetic_documents
    from nerp_deploy.convert.toy import build_toy_checkpoint

_EXPORTS = {
    "ConversionResult": "nerp_deploy.convert.core",
    "ExportError": "nerp_deploy.convert.export",
    "ModelCheckpoint": "nerp_deploy.convert.checkpoint",
    "ParityError": "nerp_deploy.convert.parity",
    "ParityReport": "nerp_deploy.convert.parity",
    "build_toy_checkpoint": "nerp_deploy.convert.toy",
    "convert_checkpoint": "nerp_deploy.convert.core",
    "entity_f1": "nerp_deploy.convert.parity",
    "resolve_checkpoint": "nerp_deploy.convert.checkpoint",
    "run_conversion": "nerp_deploy.convert.core",
    "sample_texts": "nerp_deploy.convert.synthetic",
    "synthetic_documents": "nerp_deploy.convert.synthetic",
    "torch_predictor": "nerp_deploy.convert.reference",
    "verify_package": "nerp_deploy.convert.core",
}

__all__ = [
    "ConversionResult",
    "ExportError",
    "ModelCheckpoint",
    "ParityError",
    "ParityReport",
    "build_toy_checkpoint",
    "convert_checkpoint",
    "entity_f1",
    "resolve_checkpoint",
    "run_conversion",
    "sample_texts",
    "synthetic_documents",
    "torch_predictor",
    "verify_package",
]


__getattr__ = lazy_names(__name__, _EXPORTS)
