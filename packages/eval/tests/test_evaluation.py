"""Evaluation of a really trained checkpoint and its ONNX conversion on the test split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2
from typer.testing import CliRunner

from nerp_deploy.runtime import bf16_unsupported_reason
from nerp_eval.errors import EvalError
from nerp_eval.evaluation import EvaluationData, evaluate_documents, run_evaluation
from nerp_eval.targets import resolve_target, resolve_targets
from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.config import TrackingConfig
from nerp_infra.documents import Document, Span, write_documents
from nerp_infra.paths import OutputLayout

# openvino_bf16 runs where the CPU does bf16 (AMX, AVX512-BF16); elsewhere it is refused,
# which test_a_variant_the_package_cannot_run_is_named_with_the_reason checks.
BF16 = ["openvino_bf16"] if bf16_unsupported_reason() is None else []


@pytest.fixture
def test_data(dataset: Any) -> EvaluationData:
    return EvaluationData(
        documents=list(dataset.test),
        data_fp=dataset.data_fp,
        source=f"dataset {dataset.artifact_id} (test)",
        artifact_id=dataset.artifact_id,
        split="test",
    )


@pytest.mark.parametrize("backend", ["torch", "onnx_fp32", "onnx_int8", *BF16])
def test_scores_agree_with_seqeval_on_the_same_predictions(
    backend: str, models: dict[str, Path], package: Path, test_data: EvaluationData
) -> None:
    path = models["bert-small"] if backend == "torch" else package
    result = evaluate_documents(resolve_target(path, backend), test_data.documents)  # type: ignore[arg-type]
    y_true = [d.gold_tags for d in result.documents]
    y_pred = [d.pred_tags for d in result.documents]
    assert len(y_true) == len(test_data.documents)
    report = classification_report(
        y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    m = result.metrics
    assert m.f1_micro == pytest.approx(report["micro avg"]["f1-score"])
    assert m.precision_micro == pytest.approx(report["micro avg"]["precision"])
    assert m.recall_micro == pytest.approx(report["micro avg"]["recall"])
    assert m.f1_macro == pytest.approx(report["macro avg"]["f1-score"])
    assert m.support == report["micro avg"]["support"]
    assert 0 < m.f1_micro < 1  # a real, imperfect model: the error table has content
    per_type = result.per_type()
    gold_spans = sum(len(doc.spans) for doc in test_data.documents)
    assert sum(row["support"] for row in per_type.values()) == m.support
    assert m.support <= gold_spans
    for name, row in per_type.items():
        assert row["f1"] == pytest.approx(report[name]["f1-score"])
        assert row["support"] == report[name]["support"]
        errors = result.errors.by_type.get(name, {})
        # correct = true positives; the gold-side classes add up to the support
        assert errors.get("correct", 0) == round(report[name]["recall"] * report[name]["support"])
        gold_side = sum(v for k, v in errors.items() if k != "spurious")
        assert gold_side == row["support"]
    # the predicted tags are those of the served entities
    for doc in result.documents:
        assert all(e.end > e.start for e in doc.entities)


@pytest.mark.parametrize("backend", ["onnx_fp32", *BF16])
def test_onnx_fp32_and_openvino_bf16_score_like_the_checkpoint(
    backend: str, models: dict[str, Path], package: Path, test_data: EvaluationData
) -> None:
    torch_result = evaluate_documents(resolve_target(models["bert-small"]), test_data.documents)
    onnx_target = resolve_target(package, backend)  # type: ignore[arg-type]
    assert onnx_target.backend == backend
    onnx_result = evaluate_documents(onnx_target, test_data.documents)
    assert [d.gold_tags for d in torch_result.documents] == [
        d.gold_tags for d in onnx_result.documents
    ]
    assert onnx_result.metrics.f1_micro == pytest.approx(torch_result.metrics.f1_micro, abs=0.02)


def test_run_writes_artifact_logs_mlflow_and_reuses(
    root: Path, package: Path, test_data: EvaluationData, tracking: TrackingConfig
) -> None:
    index, layout = ArtifactIndex(root), OutputLayout(root)
    target = resolve_target(package)
    assert target.backend == "onnx_int8"  # a package defaults to its int8 model
    first = run_evaluation(target, test_data, index=index, layout=layout, tracking=tracking)
    assert first.action == "new"
    manifest = index.get(first.artifact_id).read_manifest()
    assert (manifest.kind, manifest.stage, manifest.status) == (
        "evaluation",
        "evaluate",
        "complete",
    )
    assert manifest.lineage == [test_data.artifact_id]
    saved = json.loads((first.artifact_dir / "evaluation.json").read_text())
    assert saved["micro"]["f1"] == pytest.approx(first.result.metrics.f1_micro)  # type: ignore[union-attr]
    assert manifest.metrics["f1_micro"] == pytest.approx(saved["micro"]["f1"])
    assert set(saved["errors"]["classes"]) >= {"wrong_type", "wrong_boundary", "missed", "spurious"}
    lines = (first.artifact_dir / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [d.id for d in test_data.documents]
    from mlflow.tracking import MlflowClient

    run = MlflowClient().get_run(manifest.extra["mlflow_run_id"])
    assert run.data.metrics["f1_micro"] == pytest.approx(saved["micro"]["f1"])
    assert run.data.metrics["errors_missed"] == saved["errors"]["totals"]["missed"]
    assert run.data.tags["nerp.artifact_kind"] == "evaluation"

    again = run_evaluation(target, test_data, index=index, layout=layout, tracking=tracking)
    assert (again.action, again.artifact_id) == ("reuse", first.artifact_id)
    assert again.report == saved
    forced = run_evaluation(
        target, test_data, index=index, layout=layout, tracking=tracking, run_mode="force_new"
    )
    assert forced.artifact_id != first.artifact_id


def test_gold_label_unknown_to_the_model_is_a_clear_error(models: dict[str, Path]) -> None:
    doc = Document(
        id="cv-9", text="Ann Lee likes chess", spans=[Span(start=14, end=19, label="HOBBY")]
    )
    with pytest.raises(EvalError, match=r"document 'cv-9': gold label\(s\) HOBBY are not in"):
        evaluate_documents(resolve_target(models["bert-small"]), [doc])


def test_a_folder_that_is_no_model_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(EvalError, match="neither an ONNX package .* nor a model artifact"):
        resolve_targets(tmp_path)


def test_package_cannot_be_evaluated_on_torch(package: Path) -> None:
    with pytest.raises(EvalError, match="backend 'torch' needs a PyTorch checkpoint"):
        resolve_targets(package, ("torch",))


def test_cli_evaluate_prints_json_and_writes_the_artifact(
    root: Path, package: Path, dataset: Any, mlflow_uri: str, tmp_path: Path
) -> None:
    from nerp_infra.cli import build_app

    app, errors = build_app()
    assert not [e for e in errors if e.name == "evaluate"]
    runner = CliRunner()
    args = [
        "evaluate",
        str(package),
        dataset.artifact_id,
        "--backend",
        "onnx_fp32",
        "--json",
        "--output-root",
        str(root),
        "--set",
        f"tracking.uri={mlflow_uri}",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["backend"] == "onnx_fp32"
    assert payload["documents"] == len(dataset.test)
    assert Path(payload["artifact"]).is_dir()

    docs_file = tmp_path / "unlabelled.jsonl"
    write_documents([Document(id="a", text="no labels here")], docs_file)
    bad = runner.invoke(app, ["evaluate", str(package), str(docs_file), "--output-root", str(root)])
    assert bad.exit_code == 1
    assert "no document has gold spans" in bad.output


def test_a_variant_the_package_cannot_run_is_named_with_the_reason(
    package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import nerp_deploy.runtime

    copy = tmp_path / "package"
    shutil.copytree(package, copy)
    (copy / "model.int8.onnx").unlink()
    with pytest.raises(EvalError, match=r"model\.int8\.onnx: variant 'int8' is not in this"):
        resolve_targets(copy, ("onnx_int8",))
    reason = bf16_unsupported_reason()
    if reason is None:
        assert [t.backend for t in resolve_targets(copy, ("openvino_bf16",))] == ["openvino_bf16"]
    else:  # this CPU has no bf16 instructions: the reason says so
        with pytest.raises(EvalError, match=r"variant 'bf16' cannot run here: this CPU has no"):
            resolve_targets(copy, ("openvino_bf16",))
    monkeypatch.setattr(nerp_deploy.runtime, "openvino_available", lambda: False)
    bf16_unsupported_reason.cache_clear()
    try:
        with pytest.raises(EvalError, match=r"variant 'bf16' .*nerp-deploy\[openvino\]"):
            resolve_targets(copy, ("openvino_bf16",))
    finally:
        bf16_unsupported_reason.cache_clear()
