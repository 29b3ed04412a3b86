"""``--set key.path=value``: YAML parsing, coercion by the models, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from nerp_infra.config import ConfigError, load_experiment, parse_overrides


def test_values_follow_yaml_then_the_models_coerce() -> None:
    cfg = load_experiment(
        overrides=[
            "train.epochs=2",
            "hpo.n_trials=3",
            "data.synthetic.n_documents=40",
            "paths.root=/tmp/o",
            "train.learning_rate=1e-3",
            "train.early_stopping_patience=null",
            "benchmark.batch_sizes=[1, 2]",
            "conversion.quantize=false",
            "hpo.timeout_s=90",
            "train.dropout='0.2'",
        ]
    )
    assert cfg.train.epochs == 2
    assert cfg.hpo.n_trials == 3
    assert cfg.data.synthetic.n_documents == 40
    assert cfg.paths.root == Path("/tmp/o")
    assert cfg.train.learning_rate == pytest.approx(1e-3)
    assert cfg.train.early_stopping_patience is None
    assert cfg.benchmark.batch_sizes == [1, 2]
    assert cfg.conversion.quantize is False
    assert cfg.hpo.timeout_s == 90.0
    assert cfg.train.dropout == pytest.approx(0.2)  # a quoted string, coerced to float


def test_override_adds_a_new_search_dimension() -> None:
    cfg = load_experiment(overrides=["hpo.search_space.epochs={type: int, low: 1, high: 3}"])
    assert cfg.hpo.search_space["epochs"].type == "int"


def test_later_override_wins() -> None:
    assert load_experiment(overrides=["train.epochs=2", "train.epochs=5"]).train.epochs == 5


def test_unknown_key_path_suggests_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(overrides=["train.epoch=2"])
    assert info.value.file == "--set train.epoch=2"
    assert info.value.key_path == "train.epoch"
    assert info.value.reason == "train has no key 'epoch'; did you mean 'epochs'?"


def test_unknown_section_suggests_the_section() -> None:
    with pytest.raises(ConfigError, match=r"experiment has no key 'trian'; did you mean 'train'"):
        load_experiment(overrides=["trian.epochs=2"])


def test_invalid_value_names_the_flag() -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(overrides=["train.epochs=zero"])
    assert str(info.value) == (
        "--set train.epochs=zero: train.epochs: Input should be a valid integer, "
        "unable to parse string as an integer (got 'zero')"
    )


def test_model_level_error_mentions_the_override_that_caused_it() -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(overrides=["data.split.train=0.5"])
    assert info.value.key_path == "data.split"
    assert info.value.file.endswith("data.yaml")
    assert info.value.reason.endswith("(after --set data.split.train=0.5)")


def test_errors_in_a_mapping_created_by_an_override_name_the_flag() -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(overrides=["hpo.search_space.epochs.type=choice"])
    assert info.value.file == "--set hpo.search_space.epochs.type=choice"
    assert info.value.key_path == "hpo.search_space.epochs.values"
    assert info.value.reason == "required key is missing"


@pytest.mark.parametrize(
    ("flag", "reason"),
    [
        ("train.epochs", "expected KEY.PATH=VALUE"),
        ("=3", "expected KEY.PATH=VALUE"),
        ("train..epochs=3", "key part '' must be a non-empty name"),
        ("train.epochs=[1", "is not valid YAML"),
        ("stages.0=data", "stages is not a mapping; set it as a whole, e.g. --set stages=[...]"),
        ("train.epochs.max=3", "train.epochs is not a mapping"),
    ],
)
def test_malformed_overrides(flag: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(overrides=[flag])
    assert info.value.file == f"--set {flag}"
    assert reason in info.value.reason


def test_relative_file_override_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_experiment(overrides=["data.source=files", "data.files=[corpus/a.json]"])
    assert cfg.data.files == [tmp_path / "corpus" / "a.json"]


def test_parse_overrides_keeps_flag_text_and_yaml_value() -> None:
    (override,) = parse_overrides(["model.max_length=64"])
    assert override.path == ("model", "max_length")
    assert override.value == 64
    assert override.label == "--set model.max_length=64"
    assert parse_overrides(None) == []


def test_train_overrides_of_final_training_are_validated_like_train() -> None:
    cfg = load_experiment(overrides=["final_training.overrides.epochs=6"])
    assert cfg.final_training.overrides.as_dict() == {"epochs": 6}
    assert cfg.final_training.train_config(cfg.train).epochs == 6
    assert cfg.final_training.train_config(cfg.train).batch_size == cfg.train.batch_size
    with pytest.raises(ConfigError, match=r"final_training\.overrides\.epochs: .*greater than"):
        load_experiment(overrides=["final_training.overrides.epochs=0"])
    with pytest.raises(ConfigError, match=r"did you mean 'batch_size'"):
        load_experiment(overrides=["final_training.overrides.batchsize=4"])
