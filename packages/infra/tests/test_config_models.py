"""Every validator of the section models rejects what it should, with a clear reason."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from nerp_infra.config import (
    BenchmarkConfig,
    ChoiceParam,
    ConversionConfig,
    DataConfig,
    ExperimentConfig,
    FinalTrainingConfig,
    HpoConfig,
    IntParam,
    ModelConfig,
    PrunerConfig,
    SelectionConfig,
    SplitConfig,
    SyntheticDataConfig,
    TinyBackboneConfig,
    TrackingConfig,
    TrainConfig,
    UniformParam,
)

INVALID: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (SplitConfig, {"train": 0.5}, "split fractions must sum to 1"),
    (SplitConfig, {"train": 0.0, "validation": 0.5, "test": 0.5}, "greater than 0"),
    (SyntheticDataConfig, {"locale": "english"}, "is not a faker locale"),
    (SyntheticDataConfig, {"n_documents": 0}, "greater than or equal to 1"),
    (DataConfig, {"source": "files"}, "no files are listed"),
    (DataConfig, {"files": ["a.json"]}, "source is 'synthetic'"),
    (DataConfig, {"labels": []}, "at least 1 item"),
    (DataConfig, {"labels": ["NAME", "NAME"]}, "duplicate labels: NAME"),
    (DataConfig, {"labels": ["O"]}, "'O' is the outside tag"),
    (DataConfig, {"labels": ["JOB TITLE"]}, "must start with a letter"),
    (DataConfig, {"label_mapping": {"Org": "ORG"}}, "maps onto ORG, which is not in labels"),
    (
        DataConfig,
        {"format": "xml"},
        "'auto', 'native', 'dataturks', 'doccano', 'label-studio' or 'conll'",
    ),
    (DataConfig, {"overlap_policy": "merge"}, "'keep_longest', 'keep_first' or 'error'"),
    (ModelConfig, {"stride": 128}, "stride 128 must be smaller than max_length 128"),
    (ModelConfig, {"backbone": " "}, "backbone ' ' must be one of tiny"),
    (TinyBackboneConfig, {"hidden_size": 65}, "must be a multiple of num_heads"),
    (TrainConfig, {"learning_rate": 0}, "greater than 0"),
    (TrainConfig, {"warmup_ratio": 1.0}, "less than 1"),
    (TrainConfig, {"early_stopping_patience": 0}, "greater than or equal to 1"),
    (TrainConfig, {"metric_for_best": "accuracy"}, "'f1_macro'"),
    (TrainConfig, {"precision": "fp8"}, "'fp32', 'bf16', 'fp16' or 'auto'"),
    (UniformParam, {"low": 1, "high": 1}, "low 1.0 must be smaller than high 1.0"),
    (UniformParam, {"low": 0, "high": 1, "step": 2}, "step 2.0 is larger than high - low"),
    (IntParam, {"low": 0, "high": 4, "log": True}, "log: true needs low >= 1"),
    (IntParam, {"low": 1, "high": 8, "step": 2, "log": True}, "log: true needs step 1"),
    (IntParam, {"low": 3, "high": 2}, "low 3 must be smaller than high 2"),
    (ChoiceParam, {"values": []}, "at least 1 item"),
    (ChoiceParam, {"values": [8, 8]}, "value 8 is listed twice"),
    (HpoConfig, {"search_space": {"lr": {"type": "choice", "values": [1]}}}, "not a train setting"),
    (
        HpoConfig,
        {"search_space": {"learning_rate": {"type": "loguniform", "low": 0, "high": 1}}},
        "loguniform low must be > 0",
    ),
    (
        HpoConfig,
        {"search_space": {"batch_size": {"type": "uniform", "low": 8, "high": 16}}},
        "draws floats but train.batch_size is not a float",
    ),
    (
        HpoConfig,
        {"search_space": {"precision": {"type": "int", "low": 1, "high": 2}}},
        "needs a numeric train.precision",
    ),
    (
        HpoConfig,
        {"search_space": {"batch_size": {"type": "choice", "values": [8, 0]}}},
        "0 is not a valid train.batch_size",
    ),
    (
        HpoConfig,
        {"search_space": {"warmup_ratio": {"type": "uniform", "low": 0, "high": 2}}},
        "2.0 is not a valid train.warmup_ratio",
    ),
    (HpoConfig, {"search_space": {"x": {"type": "normal"}}}, "does not match any of the expected"),
    (HpoConfig, {"search_space": {}}, "search_space is empty"),
    (HpoConfig, {"n_trials": None, "timeout_s": None}, "set n_trials or timeout_s"),
    (HpoConfig, {"backbones": ["tiny", "tiny"]}, "backbones listed twice: tiny"),
    (HpoConfig, {"k_folds": 0}, "greater than or equal to 1"),
    (HpoConfig, {"storage": "redis://localhost"}, "is not a sqlite:///, postgresql://"),
    (HpoConfig, {"sampler": {"type": "grid"}}, "sampler 'grid' needs finite dimensions"),
    (PrunerConfig, {"type": "bandit"}, "needs exactly one of slack_factor or slack_amount"),
    (
        PrunerConfig,
        {"type": "bandit", "slack_factor": 0.1, "slack_amount": 0.1},
        "needs exactly one of slack_factor or slack_amount",
    ),
    (PrunerConfig, {"slack_factor": 0.1}, "only used by the 'bandit' pruner, not 'median'"),
    (SelectionConfig, {"f1_weight": 0.5}, "must sum to 1"),
    (
        SelectionConfig,
        {"tolerance_mode": "relative", "accuracy_tolerance": 1.5},
        "relative accuracy_tolerance",
    ),
    (
        SelectionConfig,
        {"latency_backend": "tensorrt"},
        "'torch', 'onnx_fp32', 'onnx_int8' or 'openvino_bf16'",
    ),
    (BenchmarkConfig, {"backends": []}, "at least 1 item"),
    (BenchmarkConfig, {"backends": ["torch", "torch"]}, "backends listed twice: torch"),
    (BenchmarkConfig, {"batch_sizes": [1, 0]}, "batch sizes must be >= 1"),
    (BenchmarkConfig, {"batch_sizes": [4, 4]}, "batch sizes listed twice: 4"),
    (BenchmarkConfig, {"threads": 0}, "greater than or equal to 1"),
    (ConversionConfig, {"opset": 9}, "greater than or equal to 14"),
    (ConversionConfig, {"parity": {"int8_min_tag_agreement": 1.5}}, "less than or equal to 1"),
    (FinalTrainingConfig, {"source": "latest"}, "'scratch', 'best_selected' or 'final_training'"),
    (FinalTrainingConfig, {"overrides": {"epochs": 0}}, "greater than or equal to 1"),
    (FinalTrainingConfig, {"overrides": {"epoch": 2}}, "Extra inputs are not permitted"),
    (FinalTrainingConfig, {"variant": 0}, "greater than or equal to 1"),
    (FinalTrainingConfig, {"run_mode": "reuse"}, "'reuse_if_exists', 'force_new' or"),
    (TrackingConfig, {"experiment_prefix": "my runs"}, "may hold only letters"),
    (ExperimentConfig, {"stages": ["train", "train"]}, "stage 'train' is listed twice"),
    (ExperimentConfig, {"stages": ["train", "hpo"]}, "stage 'hpo' must come before 'train'"),
    (ExperimentConfig, {"stages": []}, "at least 1 item"),
    (ExperimentConfig, {"name": "my experiment"}, "may hold only letters"),
    (ExperimentConfig, {"serve": {"port": 8000}}, "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(
    ("model", "data", "reason"), INVALID, ids=[f"{m.__name__}-{r[:30]}" for m, _, r in INVALID]
)
def test_invalid_values_are_rejected_with_a_reason(
    model: type[BaseModel], data: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    assert reason in str(info.value)


def test_unknown_keys_are_rejected_in_every_model() -> None:
    for model in (DataConfig, ModelConfig, TrainConfig, HpoConfig, SelectionConfig, TrackingConfig):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            model.model_validate({"surprise": 1})


def test_choice_values_are_coerced_to_the_train_field_type() -> None:
    hpo = HpoConfig.model_validate(
        {"search_space": {"batch_size": {"type": "choice", "values": ["8", 16]}}}
    )
    assert hpo.search_space["batch_size"] == ChoiceParam(values=[8, 16])


def test_grid_sampler_accepts_finite_dimensions_and_lists_points() -> None:
    hpo = HpoConfig.model_validate(
        {
            "sampler": {"type": "grid"},
            "search_space": {
                "batch_size": {"type": "choice", "values": [8, 16]},
                "epochs": {"type": "int", "low": 1, "high": 5, "step": 2},
                "dropout": {"type": "uniform", "low": 0.0, "high": 0.2, "step": 0.1},
            },
        }
    )
    points = hpo.grid_points()
    assert points["batch_size"] == [8, 16]
    assert points["epochs"] == [1, 3, 5]
    assert points["dropout"] == pytest.approx([0.0, 0.1, 0.2])


def test_bandit_pruner_with_one_slack_is_valid() -> None:
    assert PrunerConfig(type="bandit", slack_factor=0.2).slack_factor == 0.2


def test_stage_subsets_in_order_are_valid() -> None:
    assert ExperimentConfig(stages=["hpo", "select", "report"]).stages == [
        "hpo",
        "select",
        "report",
    ]


def test_valid_storage_urls() -> None:
    for url in ("sqlite:///x.db", "postgresql://u@127.0.0.1/test", "journal:///tmp/j.log"):
        assert HpoConfig(storage=url).storage == url


def test_repeat_types_must_be_labels_of_the_data() -> None:
    config = ExperimentConfig.model_validate({"model": {"repeat_types": ["LOCATION"]}})
    assert config.model.repeat_types == ["LOCATION"]
    with pytest.raises(ValidationError, match=r"model.repeat_types: \['CITY'\] are not among"):
        ExperimentConfig.model_validate({"model": {"repeat_types": ["CITY"]}})


def test_join_types_must_be_labels_of_the_data() -> None:
    config = ExperimentConfig.model_validate({"model": {"join_types": ["NAME"]}})
    assert config.model.join_types == ["NAME"]
    with pytest.raises(ValidationError, match=r"model.join_types: \['TITLE'\] are not among"):
        ExperimentConfig.model_validate({"model": {"join_types": ["TITLE"]}})


def test_merge_types_must_be_labels_of_the_data() -> None:
    config = ExperimentConfig.model_validate({"model": {"merge_types": ["SKILL"]}})
    assert config.model.merge_types == ["SKILL"]
    with pytest.raises(ValidationError, match=r"model.merge_types: \['TOOLS'\] are not among"):
        ExperimentConfig.model_validate({"model": {"merge_types": ["TOOLS"]}})


def test_ignore_unmarked_must_be_labels_of_the_data() -> None:
    config = ExperimentConfig.model_validate({"train": {"ignore_unmarked": ["LOCATION"]}})
    assert config.train.ignore_unmarked == ["LOCATION"]
    with pytest.raises(ValidationError, match=r"train.ignore_unmarked: \['CITY'\] are not among"):
        ExperimentConfig.model_validate({"train": {"ignore_unmarked": ["CITY"]}})


def test_min_confidence_is_a_probability_per_label_of_the_data() -> None:
    config = ExperimentConfig.model_validate({"model": {"min_confidence": {"SKILL": 0.8}}})
    assert config.model.min_confidence == {"SKILL": 0.8}
    with pytest.raises(ValidationError, match=r"model.min_confidence: \['TOOLS'\] are not among"):
        ExperimentConfig.model_validate({"model": {"min_confidence": {"TOOLS": 0.5}}})
    with pytest.raises(ValidationError, match=r"SKILL: 1.5 is not a probability"):
        ExperimentConfig.model_validate({"model": {"min_confidence": {"SKILL": 1.5}}})


def test_entity_filter_weights_must_name_labels_of_the_data() -> None:
    rule = {"weights": {"confidence:SKILL": 2.0, "line_start": 1.0}, "bias": -1.0}
    config = ExperimentConfig.model_validate({"model": {"entity_filter": rule}})
    assert config.model.entity_filter is not None
    assert config.model.entity_filter.threshold == 0.5
    unknown_type = {"weights": {"type:TOOLS": 1.0}}
    with pytest.raises(ValidationError, match=r"model.entity_filter: \['TOOLS'\] are not among"):
        ExperimentConfig.model_validate({"model": {"entity_filter": unknown_type}})
    with pytest.raises(ValidationError, match="unknown feature 'shape'"):
        ExperimentConfig.model_validate({"model": {"entity_filter": {"weights": {"shape": 1}}}})


def test_section_types_must_be_labels_of_the_data_with_named_headings() -> None:
    config = ExperimentConfig.model_validate({"model": {"section_types": {"SKILL": ["SKILLS"]}}})
    assert config.model.section_types == {"SKILL": ["SKILLS"]}
    with pytest.raises(ValidationError, match=r"model.section_types: \['TOOLS'\] are not among"):
        ExperimentConfig.model_validate({"model": {"section_types": {"TOOLS": ["TOOLS"]}}})
    with pytest.raises(ValidationError, match="SKILL: name one or more non-blank section"):
        ExperimentConfig.model_validate({"model": {"section_types": {"SKILL": [" "]}}})
