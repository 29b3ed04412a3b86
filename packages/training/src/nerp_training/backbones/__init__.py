"""Backbones: short names to checkpoints, fast tokenizers and token-classification models.

``resolve_backbone`` is cheap and pure; ``build_tokenizer`` / ``build_model`` load or
build, and fail with :class:`BackboneError` (saying how to get the backbone) rather than
fall back to a different model. The building functions are imported on first use, so
resolving or validating a backbone name does not pay for importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nerp_infra.deprecation import deprecated_names, lazy_names
from nerp_training.backbones.minilm import minilm_model_dir
from nerp_training.backbones.registry import (
    BACKBONES,
    BackboneError,
    BackboneKind,
    BackboneSpec,
    resolve_backbone,
)
from nerp_training.backbones.tiny import (
    TinySettings,
    TinyShape,
    train_tiny_tokenizer,
)

if TYPE_CHECKING:
    from nerp_training.backbones.build import (
        DROPOUT_ATTRIBUTES,
        LINE_BREAK,
        add_line_break_token,
        apply_dropout,
        build_model,
        build_tokenizer,
        hub_offline,
        locate_backbone,
    )

_FROM_BUILD = dict.fromkeys(
    (
        "DROPOUT_ATTRIBUTES",
        "LINE_BREAK",
        "add_line_break_token",
        "apply_dropout",
        "build_model",
        "build_tokenizer",
        "hub_offline",
        "locate_backbone",
    ),
    "nerp_training.backbones.build",
)

__all__ = [
    "BACKBONES",
    "DROPOUT_ATTRIBUTES",
    "LINE_BREAK",
    "BackboneError",
    "BackboneKind",
    "BackboneSpec",
    "TinySettings",
    "TinyShape",
    "add_line_break_token",
    "apply_dropout",
    "build_model",
    "build_tokenizer",
    "hub_offline",
    "locate_backbone",
    "minilm_model_dir",
    "resolve_backbone",
    "train_tiny_tokenizer",
]


__getattr__ = lazy_names(
    __name__,
    _FROM_BUILD,
    fallback=deprecated_names(
        __name__,
        since="0.2.0",
        removed_in="0.3.0",
        names={"tiny_wordpiece": "nerp_infra.wordpiece:tiny_wordpiece"},
    ),
)
