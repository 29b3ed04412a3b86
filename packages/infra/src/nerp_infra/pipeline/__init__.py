"""Stages and the runner behind ``nerp pipeline``.

Each distribution contributes its stages through the ``nerp.stages`` entry points; the runner
orders them as the experiment config lists, prints one line per stage and stops at the
first failure, leaving every finished artifact intact for the next run to reuse.
"""

from nerp_infra.pipeline.runner import PipelineError, PipelineReport, run_pipeline, select_stages
from nerp_infra.pipeline.stage import (
    StageContext,
    StageFunction,
    StageResult,
    StageStatus,
    action_status,
)

__all__ = [
    "PipelineError",
    "PipelineReport",
    "StageContext",
    "StageFunction",
    "StageResult",
    "StageStatus",
    "action_status",
    "run_pipeline",
    "select_stages",
]
