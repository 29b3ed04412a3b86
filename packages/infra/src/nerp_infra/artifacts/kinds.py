"""The one registry of artifact kinds and stage names (ARCHITECTURE §3).

Stages of different distributions meet only through artifacts, so the names they write
into manifests and look up in the index must be the same strings everywhere; they are
defined here once. The values are part of the on-disk layout
(``<root>/<stage>/<backbone>/<key>/v<N>``) and of every existing manifest: never change one.

Two families of stage names exist: the *pipeline* stage (what ``stages:`` in an experiment
lists and ``--only`` takes, e.g. ``train``) and the *artifact* stage (the first folder of
an artifact's path and ``Manifest.stage``, e.g. ``final_training``). They agree except for
``train``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ARTIFACT_KINDS",
    "BENCHMARK_KIND",
    "BENCHMARK_STAGE",
    "CONVERT_STAGE",
    "DATASET_KIND",
    "DATA_STAGE",
    "EVALUATE_STAGE",
    "EVALUATION_KIND",
    "FINAL_TRAINING_STAGE",
    "HPO_STAGE",
    "MODEL_KIND",
    "ONNX_PACKAGE_KIND",
    "PIPELINE_STAGES",
    "REPORT_KIND",
    "REPORT_STAGE",
    "SELECTION_KIND",
    "SELECT_STAGE",
    "STAGE_CONTRACTS",
    "STUDY_KIND",
    "TRAIN_STAGE",
    "StageContract",
]

# Artifact kinds (Manifest.kind).
DATASET_KIND: Final = "dataset"
STUDY_KIND: Final = "study"
SELECTION_KIND: Final = "selection"
MODEL_KIND: Final = "model"
ONNX_PACKAGE_KIND: Final = "onnx_package"
EVALUATION_KIND: Final = "evaluation"
BENCHMARK_KIND: Final = "benchmark"
REPORT_KIND: Final = "report"

ARTIFACT_KINDS: Final = (
    DATASET_KIND,
    STUDY_KIND,
    SELECTION_KIND,
    MODEL_KIND,
    ONNX_PACKAGE_KIND,
    EVALUATION_KIND,
    BENCHMARK_KIND,
    REPORT_KIND,
)

# Pipeline stage names (experiment ``stages:``, ``--only``/``--from``), which are also the
# artifact stage names except ``train``.
DATA_STAGE: Final = "data"
HPO_STAGE: Final = "hpo"
SELECT_STAGE: Final = "select"
TRAIN_STAGE: Final = "train"
CONVERT_STAGE: Final = "convert"
EVALUATE_STAGE: Final = "evaluate"
BENCHMARK_STAGE: Final = "benchmark"
REPORT_STAGE: Final = "report"

PIPELINE_STAGES: Final = (
    DATA_STAGE,
    HPO_STAGE,
    SELECT_STAGE,
    TRAIN_STAGE,
    CONVERT_STAGE,
    EVALUATE_STAGE,
    BENCHMARK_STAGE,
    REPORT_STAGE,
)
"""Every pipeline stage, in the only order they can run (``nerp_infra.config.StageName``)."""

# The artifact stage of the final model (the ``train`` pipeline stage writes it).
FINAL_TRAINING_STAGE: Final = "final_training"


@dataclass(frozen=True)
class StageContract:
    """The artifact kinds a pipeline stage reads as inputs and writes as outputs.

    The runner holds every stage to it: a stage asking its context for a kind it does not
    consume, or returning an artifact of a kind it does not produce, fails naming both, so
    the data flow written here is the one that runs.
    """

    consumes: tuple[str, ...]
    produces: tuple[str, ...]


STAGE_CONTRACTS: Final[Mapping[str, StageContract]] = {
    DATA_STAGE: StageContract(consumes=(), produces=(DATASET_KIND,)),
    HPO_STAGE: StageContract(consumes=(DATASET_KIND,), produces=(STUDY_KIND,)),
    SELECT_STAGE: StageContract(consumes=(DATASET_KIND, STUDY_KIND), produces=(SELECTION_KIND,)),
    TRAIN_STAGE: StageContract(
        consumes=(DATASET_KIND, SELECTION_KIND, MODEL_KIND), produces=(MODEL_KIND,)
    ),
    CONVERT_STAGE: StageContract(consumes=(MODEL_KIND,), produces=(ONNX_PACKAGE_KIND,)),
    EVALUATE_STAGE: StageContract(
        consumes=(MODEL_KIND, ONNX_PACKAGE_KIND, DATASET_KIND), produces=(EVALUATION_KIND,)
    ),
    BENCHMARK_STAGE: StageContract(
        consumes=(MODEL_KIND, ONNX_PACKAGE_KIND, DATASET_KIND), produces=(BENCHMARK_KIND,)
    ),
    REPORT_STAGE: StageContract(consumes=(MODEL_KIND, ONNX_PACKAGE_KIND), produces=(REPORT_KIND,)),
}
"""What each pipeline stage consumes and produces (studies reach ``select`` through the
dataset's fingerprint; the report's other sections through the served model's lineage)."""
