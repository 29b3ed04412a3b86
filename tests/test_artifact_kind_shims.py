"""Kind and stage constants that moved to nerp_infra.artifacts.kinds still import from
their old modules, warn with the new name, and are the same objects."""

from __future__ import annotations

import importlib

import pytest

from nerp_infra.artifacts import kinds
from nerp_infra.deprecation import NerpDeprecationWarning

MOVED = [
    ("nerp_deploy.azureml_job", "CONVERT_STAGE", "CONVERT_STAGE"),
    ("nerp_deploy.convert.stage", "MODEL_KIND", "MODEL_KIND"),
    ("nerp_deploy.convert.stage", "MODEL_STAGE", "FINAL_TRAINING_STAGE"),
    ("nerp_deploy.convert.stage", "SELECTION_KIND", "SELECTION_KIND"),
    ("nerp_deploy.package", "PACKAGE_KIND", "ONNX_PACKAGE_KIND"),
    ("nerp_eval.benchmark.run", "BENCHMARK_STAGE", "BENCHMARK_STAGE"),
    ("nerp_eval.evaluation.run", "EVALUATION_STAGE", "EVALUATE_STAGE"),
    ("nerp_eval.inputs", "DATASET_KIND", "DATASET_KIND"),
    ("nerp_eval.inputs", "FINAL_STAGE", "FINAL_TRAINING_STAGE"),
    ("nerp_eval.inputs", "MODEL_KIND", "MODEL_KIND"),
    ("nerp_eval.inputs", "PACKAGE_KIND", "ONNX_PACKAGE_KIND"),
    ("nerp_eval.report.run", "REPORT_STAGE", "REPORT_STAGE"),
    ("nerp_eval.selection.run", "SELECTION_STAGE", "SELECT_STAGE"),
    ("nerp_eval.selection.studies", "HPO_STAGE", "HPO_STAGE"),
    ("nerp_training.final.sources", "FINAL_STAGE", "FINAL_TRAINING_STAGE"),
    ("nerp_training.final.sources", "MODEL_KIND", "MODEL_KIND"),
    ("nerp_training.final.sources", "SELECTION_KIND", "SELECTION_KIND"),
    ("nerp_training.final", "FINAL_STAGE", "FINAL_TRAINING_STAGE"),
    ("nerp_training.data.dataset", "DATASET_KIND", "DATASET_KIND"),
    ("nerp_training.data.dataset", "DATASET_STAGE", "DATA_STAGE"),
]


@pytest.mark.parametrize(("module", "old", "new"), MOVED)
def test_moved_kind_names_warn_and_are_the_registry_values(module: str, old: str, new: str) -> None:
    imported = importlib.import_module(module)
    with pytest.warns(NerpDeprecationWarning, match=rf"nerp_infra\.artifacts\.kinds\.{new}"):
        assert getattr(imported, old) is getattr(kinds, new)


# Old names still defined (as the registry's objects, without a warning) because modules
# outside this change import them; they are no longer literals of their own.
REEXPORTED = [
    ("nerp_deploy.convert.core", "CONVERT_STAGE", "CONVERT_STAGE"),
    ("nerp_eval.benchmark.run", "BENCHMARK_KIND", "BENCHMARK_KIND"),
    ("nerp_eval.evaluation.run", "EVALUATION_KIND", "EVALUATION_KIND"),
    ("nerp_eval.report.run", "REPORT_KIND", "REPORT_KIND"),
    ("nerp_eval.selection.run", "SELECTION_KIND", "SELECTION_KIND"),
    ("nerp_eval.selection.studies", "STUDY_KIND", "STUDY_KIND"),
    ("nerp_hpo.plan", "STUDY_KIND", "STUDY_KIND"),
    ("nerp_hpo.runs", "HPO_STAGE", "HPO_STAGE"),
]


@pytest.mark.parametrize(("module", "old", "new"), REEXPORTED)
def test_reexported_kind_names_are_the_registry_values(module: str, old: str, new: str) -> None:
    assert getattr(importlib.import_module(module), old) is getattr(kinds, new)
