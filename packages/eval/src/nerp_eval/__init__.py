"""nerp-eval: test-set evaluation, latency benchmarks, champion selection and reports.

Names are resolved on first use, so ``import nerp_eval`` (e.g. by the CLI host listing
commands) does not load torch, onnxruntime or plotly.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from nerp_infra.deprecation import lazy_names

if TYPE_CHECKING:
    from nerp_eval.acquire import AcquiredCheckpoint, acquire_checkpoint
    from nerp_eval.benchmark import BenchmarkRun, run_benchmark
    from nerp_eval.errors import AcquisitionError, EvalError, SelectionError
    from nerp_eval.evaluation import (
        EvaluationData,
        EvaluationResult,
        EvaluationRun,
        evaluate_documents,
        run_evaluation,
    )
    from nerp_eval.report import ReportRun, write_report
    from nerp_eval.selection import SelectionRun, decide, run_selection
    from nerp_eval.targets import InferenceTarget, resolve_target, resolve_targets

__version__ = _version("nerp-eval")

_EXPORTS = {
    "AcquiredCheckpoint": "nerp_eval.acquire",
    "AcquisitionError": "nerp_eval.errors",
    "BenchmarkRun": "nerp_eval.benchmark",
    "EvalError": "nerp_eval.errors",
    "EvaluationData": "nerp_eval.evaluation",
    "EvaluationResult": "nerp_eval.evaluation",
    "EvaluationRun": "nerp_eval.evaluation",
    "InferenceTarget": "nerp_eval.targets",
    "ReportRun": "nerp_eval.report",
    "SelectionError": "nerp_eval.errors",
    "SelectionRun": "nerp_eval.selection",
    "acquire_checkpoint": "nerp_eval.acquire",
    "decide": "nerp_eval.selection",
    "evaluate_documents": "nerp_eval.evaluation",
    "resolve_target": "nerp_eval.targets",
    "resolve_targets": "nerp_eval.targets",
    "run_benchmark": "nerp_eval.benchmark",
    "run_evaluation": "nerp_eval.evaluation",
    "run_selection": "nerp_eval.selection",
    "write_report": "nerp_eval.report",
}

__all__ = [
    "AcquiredCheckpoint",
    "AcquisitionError",
    "BenchmarkRun",
    "EvalError",
    "EvaluationData",
    "EvaluationResult",
    "EvaluationRun",
    "InferenceTarget",
    "ReportRun",
    "SelectionError",
    "SelectionRun",
    "__version__",
    "acquire_checkpoint",
    "decide",
    "evaluate_documents",
    "resolve_target",
    "resolve_targets",
    "run_benchmark",
    "run_evaluation",
    "run_selection",
    "write_report",
]


__getattr__ = lazy_names(__name__, _EXPORTS)
