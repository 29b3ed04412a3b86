"""How a stage finds its inputs: this run's upstream outputs, else what the experiment
config determines, else (saying so) the newest artifact of the kind.

Two experiments may share one output root; picking inputs by recency alone lets one
convert or evaluate the model the other trained. The runner therefore records what each
stage of the run produced (:class:`RunArtifacts`); a stage run alone (``--only``,
``--from``) narrows the candidates to those descended from the experiment's own dataset,
the artifact whose recorded ``data`` config equals the experiment's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.console import Console

from nerp_infra.artifacts import ArtifactIndex, IndexedArtifact
from nerp_infra.artifacts.kinds import DATASET_KIND
from nerp_infra.config import ExperimentConfig

__all__ = ["RunArtifacts", "experiment_dataset", "resolve_input"]


@dataclass
class RunArtifacts:
    """Artifacts the stages of this run produced, in order."""

    produced: list[IndexedArtifact] = field(default_factory=list)

    def record(self, index: ArtifactIndex, artifact_ids: Iterable[str]) -> None:
        """Note a stage's outputs; ids not in the index (a submitted job's) are skipped."""
        self.produced.extend(index.get(i) for i in artifact_ids if i in index)

    def latest(self, kind: str, artifact_stage: str | None = None) -> IndexedArtifact | None:
        """The last artifact of ``kind`` (written by stage ``artifact_stage``) of this run."""
        for artifact in reversed(self.produced):
            if artifact.manifest.kind == kind and artifact_stage in (None, artifact.manifest.stage):
                return artifact
        return None


def experiment_dataset(index: ArtifactIndex, config: ExperimentConfig) -> IndexedArtifact | None:
    """The newest complete dataset prepared from exactly this experiment's ``data`` section."""
    wanted = config.data.model_dump(mode="json")
    for found in reversed(index.find(kind=DATASET_KIND, status="complete")):
        if found.manifest.config.get("data") == wanted:
            return found
    return None


def _from_dataset(
    index: ArtifactIndex, dataset: IndexedArtifact, kind: str, artifact_stage: str | None
) -> IndexedArtifact | None:
    for found in reversed(index.find(kind=kind, stage=artifact_stage, status="complete")):
        if any(a.id == dataset.id for a in index.lineage(found.id)):
            return found
    return None


def resolve_input(
    *,
    index: ArtifactIndex,
    config: ExperimentConfig,
    run: RunArtifacts,
    kind: str,
    artifact_stage: str | None,
    consumer: str,
    console: Console,
) -> IndexedArtifact | None:
    """This run's newest ``kind``; else the newest one descended from the experiment's
    dataset (or that dataset itself); else the newest in the index, with one console line
    naming it. None when the index holds none."""
    found = run.latest(kind, artifact_stage)
    if found is not None:
        return found
    dataset = experiment_dataset(index, config)
    if dataset is not None:
        if kind == DATASET_KIND:
            return dataset
        found = _from_dataset(index, dataset, kind, artifact_stage)
        if found is not None:
            return found
    found = index.latest(kind, stage=artifact_stage, status="complete")
    if found is not None:
        console.print(
            f"  {consumer}: no {kind} from this run or of this experiment's data; "
            f"using the newest, {found.id} ({found.path})",
            highlight=False,
            soft_wrap=True,
        )
    return found
