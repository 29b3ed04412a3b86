"""Names that moved out of nerp-eval still import, warn, and are the new objects."""

from __future__ import annotations

import importlib

import pytest

from nerp_infra.deprecation import NerpDeprecationWarning
from nerp_infra.paths import backbone_component


@pytest.mark.parametrize("module", ["nerp_eval.names", "nerp_eval.targets"])
def test_backbone_component_moved_to_infra_paths(module: str) -> None:
    old = importlib.import_module(module)
    with pytest.warns(
        NerpDeprecationWarning, match=r"use nerp_infra\.paths\.backbone_component instead"
    ):
        assert old.backbone_component is backbone_component


def test_stage_run_moved_to_infra_tracking() -> None:
    import nerp_eval.tracking
    from nerp_infra.tracking import tracked_stage

    with pytest.warns(NerpDeprecationWarning, match=r"use nerp_infra\.tracking\.tracked_stage"):
        assert nerp_eval.tracking.stage_run is tracked_stage


@pytest.mark.parametrize("module", ["nerp_eval.benchmark", "nerp_eval.benchmark.timing"])
def test_percentile_is_numpys(module: str) -> None:
    import numpy as np

    old = importlib.import_module(module)
    with pytest.warns(NerpDeprecationWarning, match=r"use numpy\.percentile instead"):
        assert old.percentile is np.percentile
