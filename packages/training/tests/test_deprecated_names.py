"""Names that moved out of nerp-training still import, warn, and are the new objects."""

from __future__ import annotations

import pytest

from nerp_infra.deprecation import NerpDeprecationWarning
from nerp_infra.paths import backbone_component


def test_final_backbone_component_moved_to_infra_paths() -> None:
    import nerp_training.final

    with pytest.warns(
        NerpDeprecationWarning, match=r"removed in 0\.3\.0; use nerp_infra\.paths\.backbone_c"
    ):
        assert nerp_training.final.backbone_component is backbone_component


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("nerp_training.backbones", "tiny_wordpiece"),
        ("nerp_training.backbones.tiny", "tiny_wordpiece"),
        ("nerp_training.backbones.tiny", "resume_pre_tokenizer"),
        ("nerp_training.backbones.tiny", "SPECIAL_TOKENS"),
    ],
)
def test_tiny_wordpiece_moved_to_infra_wordpiece(module: str, name: str) -> None:
    import importlib

    import nerp_infra.wordpiece

    old = importlib.import_module(module)
    with pytest.warns(
        NerpDeprecationWarning, match=rf"removed in 0\.3\.0; use nerp_infra\.wordpiece\.{name}"
    ):
        assert getattr(old, name) is getattr(nerp_infra.wordpiece, name)
