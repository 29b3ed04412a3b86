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
