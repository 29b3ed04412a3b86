"""The contract between the runner and a stage."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.config import ExperimentConfig, RunMode
from nerp_infra.paths import OutputLayout

StageStatus = Literal["done", "reused", "resumed", "submitted", "skipped"]
Target = Literal["local", "azureml"]


@dataclass
class StageContext:
    """What a stage needs to find its inputs and place its outputs.

    Stages find inputs through ``index`` (never by guessing paths) and create artifacts under
    ``layout``. ``force`` asks the stage to start a new variant (run mode ``force_new``).
    """

    config: ExperimentConfig
    output_root: Path
    index: ArtifactIndex
    layout: OutputLayout
    console: Console
    force: bool = False
    target: Target = "local"
    dry_run: bool = False
    job_dir: Path | None = None
    progress: bool = True

    def run_mode(self, configured: RunMode) -> RunMode:
        return "force_new" if self.force else configured


@dataclass(frozen=True)
class StageResult:
    """What a stage did, for the one-line progress report and the final summary.

    ``summary`` is the stage's key figure ("f1_macro 0.83"); ``details`` holds labelled
    lines for the end-of-run summary (test F1 per type, latency per backend, paths).
    """

    status: StageStatus
    artifact_ids: tuple[str, ...] = ()
    summary: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


StageFunction = Callable[[StageContext], StageResult]
"""A stage: what a ``nerp.stages`` entry point names."""
