"""Conversion: export, quantisation, the parity gate and the package it writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from nerp_deploy import OnnxEngine, PackageError
from nerp_deploy.convert import (
    ConversionResult,
    ParityError,
    convert_checkpoint,
    resolve_checkpoint,
    run_conversion,
    verify_package,
)
from nerp_deploy.convert.core import conversion_settings
from nerp_deploy.convert.export import int8_saturates
from nerp_deploy.convert.optimize import op_counts
from nerp_deploy.convert.reference import TorchRunner, load_model
from nerp_deploy.runtime import bf16_unsupported_reason
from nerp_infra.artifacts import ArtifactIndex, read_manifest
from nerp_infra.config import ConversionConfig, ParityConfig
from nerp_infra.fingerprints import conv_fp
from nerp_infra.model_files import (
    CHECKPOINT_DIR,
    INFERENCE_FILE,
    ONNX_FP32_FILE,
    ONNX_INT8_FILE,
    TOKENIZER_FILE,
    read_inference_settings,
    write_inference_settings,
)
from nerp_infra.paths import backbone_component


def test_package_holds_every_file_and_a_complete_manifest(
    conversion: ConversionResult, toy_artifact: Path
) -> None:
    package = conversion.package_dir
    for name in (ONNX_FP32_FILE, ONNX_INT8_FILE, TOKENIZER_FILE, INFERENCE_FILE, "nerp.json"):
        assert (package / name).is_file(), name
    model_manifest = read_manifest(toy_artifact)
    manifest = read_manifest(package)
    assert manifest.kind == "onnx_package"
    assert manifest.status == "complete"
    assert manifest.lineage == [model_manifest.id]
    settings = conversion_settings(
        opset=18, quantize=True, parity=ParityConfig(), sample_texts=None
    )
    assert manifest.fingerprints["conv_fp"] == conv_fp(
        model_artifact_id=model_manifest.id, settings=settings
    )
    assert manifest.config["opset"] == 18
    assert read_inference_settings(package) == read_inference_settings(
        toy_artifact / CHECKPOINT_DIR
    )


def test_parity_figures_pass_the_default_gate(conversion: ConversionResult) -> None:
    report = conversion.report
    assert report is not None and report.passed
    assert report.fp32_max_abs_diff <= 1e-3
    assert report.int8_tag_agreement is not None and report.int8_tag_agreement >= 0.95
    assert report.int8_entity_f1 is not None and report.int8_entity_f1 >= 0.95
    # 8 default samples hold fewer entities than the gate needs: synthetic resumes were
    # added until PyTorch found 200, so one disagreement moves F1 by half a point at most.
    assert report.n_entities >= 200
    assert report.n_samples > 8
    assert report.int8_n_entities is not None and report.int8_n_entities > 0
    assert report.thresholds["min_entities"] == 200
    assert "PyTorch entities" in report.summary()
    metrics = read_manifest(conversion.package_dir).metrics
    assert metrics["parity_fp32_max_abs_diff"] == pytest.approx(report.fp32_max_abs_diff)
    assert metrics["parity_int8_entity_f1"] == pytest.approx(report.int8_entity_f1)
    assert metrics["parity_n_entities"] == report.n_entities
    assert metrics["parity_int8_tag_agreement"] == pytest.approx(report.int8_tag_agreement)
    if bf16_unsupported_reason() is None:  # the bf16 variant the package offers is gated too
        assert report.bf16_entity_f1 is not None and report.bf16_entity_f1 >= 0.95
        assert report.bf16_tag_agreement is not None and report.bf16_tag_agreement >= 0.95
        assert metrics["parity_bf16_entity_f1"] == pytest.approx(report.bf16_entity_f1)
        assert "bf16 entity F1 vs PyTorch" in report.summary()
    else:  # a CPU without bf16 instructions: no bf16 variant, so nothing of it to gate
        assert report.bf16_entity_f1 is None and "parity_bf16_entity_f1" not in metrics
        assert "bf16" not in report.summary()


def test_the_graph_is_fused_before_quantisation_and_the_fusions_are_recorded(
    conversion: ConversionResult, package_dir: Path
) -> None:
    """fp32: Attention, SkipLayerNorm and BiasGelu contrib ops, no decomposed softmax or
    erf left; int8: the fused Attention quantised to QAttention (QKV GEMM in int8 too),
    every other MatMul an integer one; the manifest counts what was fused."""
    fp32 = op_counts(onnx.load(str(package_dir / ONNX_FP32_FILE)))
    n_layers = 2  # the toy BERT
    assert fp32["Attention"] == n_layers
    assert fp32["SkipLayerNormalization"] == 2 * n_layers
    assert fp32["BiasGelu"] == n_layers
    assert fp32["Softmax"] == fp32["Erf"] == fp32["IsNaN"] == 0
    int8 = op_counts(onnx.load(str(package_dir / ONNX_INT8_FILE)))
    assert int8["QAttention"] == n_layers and int8["Attention"] == 0
    assert int8["MatMul"] == 0 and int8["MatMulInteger"] == 3 * n_layers + 1
    recorded = read_manifest(package_dir).extra["graph_optimization"]
    assert recorded["applied"] is True
    assert recorded["fused_ops"]["Attention"] == n_layers
    assert recorded["fused_ops"]["SkipLayerNormalization"] == 2 * n_layers
    assert recorded["attention_mask_rewired"] == n_layers
    assert recorded["nodes_after"] < recorded["nodes_before"]
    assert conversion.fusion is not None and conversion.fusion.fused_ops == recorded["fused_ops"]
    quantization = read_manifest(package_dir).config["quantization"]
    assert quantization["per_channel"] is True
    # 7-bit weights exactly where this CPU's int8 kernels would saturate (x86 without VNNI)
    assert quantization["reduce_range"] is int8_saturates()


def test_conversion_without_optimisation_keeps_the_exported_graph(
    toy_artifact: Path, tmp_path: Path
) -> None:
    result = convert_checkpoint(toy_artifact, tmp_path / "plain", optimize=False, quantize=False)
    counts = op_counts(onnx.load(str(result.package_dir / ONNX_FP32_FILE)))
    assert counts["Attention"] == 0 and counts["Softmax"] > 0
    assert result.fusion is None and "graph_optimization" not in result.manifest.extra
    assert result.manifest.config["graph_optimization"] is None
    assert result.report is not None and result.report.passed


@pytest.mark.parametrize("file", [ONNX_FP32_FILE, ONNX_INT8_FILE])
def test_onnx_axes_are_dynamic_and_a_ragged_batch_matches_pytorch(
    package_dir: Path, toy_artifact: Path, file: str
) -> None:
    graph = onnx.load(str(package_dir / file)).graph
    for node in graph.input:
        dims = node.type.tensor_type.shape.dim
        assert [bool(d.dim_param) for d in dims] == [True, True], node.name
    model = load_model(toy_artifact / CHECKPOINT_DIR)
    rng = np.random.default_rng(0)
    lengths = [5, 17, 40]  # batch of 3, different lengths, padded to the longest
    ids = np.zeros((3, max(lengths)), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(5, model.config.vocab_size, size=n)
        mask[row, :n] = 1
    session = ort.InferenceSession(str(package_dir / file), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
    torch_logits = TorchRunner(model)(ids, mask)
    assert onnx_logits.shape == (3, 40, 9)
    real = mask.astype(bool)
    diff = np.abs(onnx_logits - torch_logits)[real].max()
    assert diff < (1e-4 if file == ONNX_FP32_FILE else 0.5)
    agree = (onnx_logits.argmax(-1) == torch_logits.argmax(-1))[real].mean()
    assert agree > 0.95


def test_model_dir_and_artifact_dir_resolve_to_the_same_checkpoint(toy_artifact: Path) -> None:
    from_artifact = resolve_checkpoint(toy_artifact)
    from_model = resolve_checkpoint(toy_artifact / CHECKPOINT_DIR)
    assert from_artifact.model_dir == from_model.model_dir
    assert from_artifact.artifact_id == from_model.artifact_id == read_manifest(toy_artifact).id
    assert from_model.lineage == [read_manifest(toy_artifact).id]


def _corrupt_classifier(path: Path) -> None:
    """Shift the classifier bias: a valid graph that no longer computes the model."""
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        value = numpy_helper.to_array(init)
        if value.shape == (9,):  # the token-classification head's bias (9 labels)
            init.CopyFrom(
                numpy_helper.from_array(value + np.linspace(-3, 3, 9, dtype=value.dtype), init.name)
            )
            break
    else:
        raise AssertionError("no classifier bias found in the graph")
    onnx.save(model, str(path))


def test_a_corrupted_onnx_file_fails_the_parity_check_with_figures(
    package_dir: Path, toy_artifact: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(package_dir, damaged)
    _corrupt_classifier(damaged / ONNX_FP32_FILE)
    with pytest.raises(ParityError) as caught:
        verify_package(toy_artifact, damaged)
    report = caught.value.report
    assert not report.passed
    assert report.fp32_max_abs_diff > 1.0
    message = str(caught.value)
    assert "fp32 max absolute logit difference" in message
    assert f"{report.fp32_max_abs_diff:.3e}" in message
    # the untouched package still verifies, so the check measures the file, not chance
    assert verify_package(toy_artifact, package_dir).passed


def test_an_unloadable_onnx_file_is_a_package_error_naming_it(
    package_dir: Path, toy_artifact: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "garbage"
    shutil.copytree(package_dir, damaged)
    (damaged / ONNX_INT8_FILE).write_bytes(b"this is not a protobuf")
    with pytest.raises(PackageError, match=r"model\.int8\.onnx: onnxruntime cannot load"):
        verify_package(toy_artifact, damaged)


def test_failed_gate_fails_the_conversion_and_the_package_is_refused(
    toy_artifact: Path, tmp_path: Path
) -> None:
    out = tmp_path / "strict"
    impossible = {"fp32_max_abs_diff": 1e-12, "n_samples": 2}
    with pytest.raises(ParityError, match="exceeds 1e-12") as caught:
        convert_checkpoint(toy_artifact, out, quantize=False, parity=impossible)
    assert caught.value.report.int8_tag_agreement is None  # quantize=False: no int8 figures
    manifest = read_manifest(out)
    assert manifest.status == "failed"
    assert "parity check failed" in manifest.extra["failure_reason"]
    assert manifest.metrics["parity_fp32_max_abs_diff"] > 1e-12
    assert not (out / ONNX_INT8_FILE).exists()
    with pytest.raises(PackageError, match="status is 'failed'"):
        OnnxEngine.load(out)


def test_conversion_refuses_a_non_empty_output_folder(toy_artifact: Path, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(PackageError, match="not empty"):
        convert_checkpoint(toy_artifact, tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_checkpoint_problems_name_the_file(toy_artifact: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(toy_artifact / CHECKPOINT_DIR, broken)
    (broken / INFERENCE_FILE).unlink()
    with pytest.raises(PackageError, match=r"inference\.json: missing"):
        resolve_checkpoint(broken)
    shutil.copy(toy_artifact / CHECKPOINT_DIR / INFERENCE_FILE, broken / INFERENCE_FILE)
    config = json.loads((broken / "config.json").read_text())
    config["id2label"]["1"], config["id2label"]["3"] = (
        config["id2label"]["3"],
        config["id2label"]["1"],
    )
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(PackageError, match=r"config\.json: field 'id2label'"):
        resolve_checkpoint(broken)
    with pytest.raises(PackageError, match="does not exist"):
        resolve_checkpoint(tmp_path / "nowhere")


def test_run_conversion_registers_the_package_and_reuses_it(
    toy_artifact: Path, tmp_path: Path
) -> None:
    config = ConversionConfig(quantize=False, parity=ParityConfig(n_samples=2))
    first = run_conversion(toy_artifact, output_root=tmp_path, config=config)
    assert first.action == "new" and first.report is not None and first.report.passed
    assert first.package_dir.relative_to(tmp_path).parts[:2] == ("convert", "tiny-bert")
    index = ArtifactIndex(tmp_path)
    found = index.latest("onnx_package")
    assert found is not None and found.id == first.manifest.id
    children = index.children(read_manifest(toy_artifact).id)  # found through its lineage
    assert [a.id for a in children] == [first.manifest.id]
    again = run_conversion(toy_artifact, output_root=tmp_path, config=config)
    assert again.action == "reuse" and again.package_dir == first.package_dir
    assert again.report is None and again.metrics == first.metrics
    engine = OnnxEngine.load(first.package_dir)
    # no int8 file (quantize off); bf16 is the fp32 graph on OpenVINO, installed here
    bf16 = ("bf16",) if bf16_unsupported_reason() is None else ()
    assert engine.variant == "fp32" and engine.package.variants == ("fp32", *bf16)


def test_a_package_is_filed_under_the_backbone_folder_every_stage_uses(
    toy_artifact: Path, tmp_path: Path
) -> None:
    """A model trained from a local folder is filed by the folder's name (as training,
    HPO and selection file it), not by the slug of its whole path."""
    model = tmp_path / "model-artifact"
    shutil.copytree(toy_artifact, model)
    local_backbone = tmp_path / "checkpoints" / "My.MiniLM-L12"
    settings = read_inference_settings(model / CHECKPOINT_DIR)
    write_inference_settings(
        model / CHECKPOINT_DIR, settings.model_copy(update={"backbone": str(local_backbone)})
    )
    config = ConversionConfig(quantize=False, parity=ParityConfig(n_samples=2))
    result = run_conversion(model, output_root=tmp_path / "outputs", config=config)
    assert result.package_dir.relative_to(tmp_path / "outputs").parts[:2] == (
        "convert",
        backbone_component(str(local_backbone)),
    )
    assert result.manifest.backbone == "My.MiniLM-L12"
