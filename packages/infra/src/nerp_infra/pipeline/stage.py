"""The contract between the runner and a stage."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from nerp_infra.artifacts import ArtifactIndex, IndexedArtifact
from nerp_infra.artifacts.kinds import STAGE_CONTRACTS
from nerp_infra.config import ExperimentConfig, RunMode
from nerp_infra.paths import OutputLayout
from nerp_infra.pipeline.inputs import RunArtifacts, resolve_input

StageStatus = Literal["done", "reused", "resumed", "submitted", "skipped"]
Target = Literal["local", "azureml"]

_ACTION_STATUS: dict[str, StageStatus] = {"reuse": "reused", "resume": "resumed"}


def action_status(action: str) -> StageStatus:
    """The status a stage reports for its artifact's get-or-create ``action`` (reuse,
    resume, new), so every stage words the same outcome the same way."""
    return _ACTION_STATUS.get(action, "done")


@dataclass
class StageContext:
    """What a stage needs to find its inputs and place its outputs.

    Stages find inputs through :meth:`input` (this run's upstream outputs, then what the
    config determines, never silently by recency) and create artifacts under ``layout``.
    ``force`` asks the stage to start a new variant (run mode ``force_new``). ``stage`` is
    the pipeline stage running now and ``run`` what earlier stages of this run produced;
    the runner keeps both.
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
    stage: str = ""
    run: RunArtifacts = field(default_factory=RunArtifacts)

    def run_mode(self, configured: RunMode) -> RunMode:
        return "force_new" if self.force else configured

    def _check_consumes(self, kind: str) -> None:
        contract = STAGE_CONTRACTS.get(self.stage)
        if contract is not None and kind not in contract.consumes:
            raise ValueError(
                f"stage {self.stage!r} asked for a {kind!r} input but its contract "
                f"(nerp_infra.artifacts.kinds.STAGE_CONTRACTS) consumes only "
                f"{', '.join(contract.consumes) or 'nothing'}"
            )

    def upstream(self, kind: str, artifact_stage: str | None = None) -> IndexedArtifact | None:
        """The last ``kind`` artifact (of artifact stage ``artifact_stage``) an earlier stage
        of this run produced; None in a stage run alone."""
        self._check_consumes(kind)
        return self.run.latest(kind, artifact_stage)

    def input(self, kind: str, *, artifact_stage: str | None = None) -> IndexedArtifact | None:
        """A complete ``kind`` input (of artifact stage ``artifact_stage``): this run's, else
        the one descended from the experiment's dataset, else the newest, said on the
        console (:func:`nerp_infra.pipeline.inputs.resolve_input`)."""
        self._check_consumes(kind)
        return resolve_input(
            index=self.index,
            config=self.config,
            run=self.run,
            kind=kind,
            artifact_stage=artifact_stage,
            consumer=self.stage or "stage",
            console=self.console,
        )


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
