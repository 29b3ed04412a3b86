"""Loading experiments: shipped defaults, section files, references and error reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from nerp_infra.config import (
    ConfigError,
    DataConfig,
    ExperimentConfig,
    default_experiment_path,
    dump_config,
    load_experiment,
    write_starter,
)
from nerp_infra.config.keys import keys_at


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_default_experiment_is_the_code_defaults() -> None:
    # The shipped YAML and the model defaults must never disagree.
    cfg = load_experiment()
    assert cfg == ExperimentConfig()
    assert default_experiment_path().is_file()
    assert cfg.data.source == "synthetic"
    assert cfg.model.backbone == "tiny"
    assert cfg.stages == [
        "data",
        "hpo",
        "select",
        "train",
        "convert",
        "evaluate",
        "benchmark",
        "report",
    ]


def _assert_every_key_written(model: type[BaseModel], data: dict[str, Any], where: str) -> None:
    assert set(data) == set(model.model_fields), where
    for name, value in data.items():
        nested = keys_at(model.model_fields[name].annotation)
        if nested and isinstance(value, dict) and name != "overrides":
            _assert_every_key_written(model.model_fields[name].annotation, value, f"{where}.{name}")  # type: ignore[arg-type]


def test_starter_files_show_every_key(tmp_path: Path) -> None:
    # Users learn the settings from the starter files, so none may be missing from them.
    write_starter(tmp_path)
    experiment = yaml.safe_load((tmp_path / "experiment.yaml").read_text())
    for section, ref in experiment.items():
        if section in ("name", "stages"):
            continue
        data = yaml.safe_load((tmp_path / ref).read_text())
        annotation = ExperimentConfig.model_fields[section].annotation
        assert isinstance(annotation, type)
        _assert_every_key_written(annotation, data, section)
    assert set(experiment) == set(ExperimentConfig.model_fields)


def test_dump_loads_back_to_the_same_config(tmp_path: Path) -> None:
    cfg = load_experiment(overrides=["train.epochs=5", "final_training.overrides.epochs=7"])
    dumped = _write(tmp_path / "resolved.yaml", dump_config(cfg))
    assert load_experiment(dumped) == cfg
    assert "epochs: 7" in dumped.read_text()


def test_inline_sections_and_defaults_for_missing_or_empty_ones(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "exp.yaml",
        "name: inline\nstages: [data, train]\ntrain: {epochs: 1, batch_size: 2}\ntracking:\n",
    )
    cfg = load_experiment(path)
    assert cfg.train.epochs == 1
    assert cfg.train.batch_size == 2
    assert cfg.tracking.enabled is True
    assert cfg.hpo.n_trials == 2


def test_section_reference_resolves_relative_to_the_referring_file(tmp_path: Path) -> None:
    _write(tmp_path / "cfg" / "sections" / "train.yaml", "epochs: 9\n")
    path = _write(tmp_path / "cfg" / "exp.yaml", "train: sections/train.yaml\n")
    assert load_experiment(path).train.epochs == 9


def test_data_files_resolve_relative_to_the_data_file(tmp_path: Path) -> None:
    _write(
        tmp_path / "cfg" / "data" / "data.yaml",
        "source: files\nfiles: [../../corpus/a.jsonl, /abs/b.json]\n",
    )
    path = _write(tmp_path / "cfg" / "exp.yaml", "data: data/data.yaml\n")
    cfg = load_experiment(path)
    assert cfg.data.files == [tmp_path / "corpus" / "a.jsonl", Path("/abs/b.json")]


def test_inline_data_files_resolve_relative_to_the_experiment(tmp_path: Path) -> None:
    path = _write(tmp_path / "exp.yaml", "data: {source: files, files: [a.json]}\n")
    assert load_experiment(path).data.files == [tmp_path / "a.json"]


def test_misspelt_key_gives_one_error_with_file_key_and_suggestion(tmp_path: Path) -> None:
    write_starter(tmp_path)
    train = tmp_path / "train.yaml"
    train.write_text(train.read_text().replace("epochs: 8", "epoch: 8"))
    with pytest.raises(ConfigError) as info:
        load_experiment(tmp_path / "experiment.yaml")
    error = info.value
    assert error.file == str(train)
    assert error.key_path == "train.epoch"
    assert "did you mean 'epochs'?" in error.reason
    assert str(error) == f"{train}: train.epoch: unknown key; did you mean 'epochs'?"
    assert len(error.problems) == 1


def test_unknown_section_name_suggests_the_section(tmp_path: Path) -> None:
    path = _write(tmp_path / "exp.yaml", "tarin: {epochs: 1}\n")
    with pytest.raises(ConfigError, match=r"tarin: unknown key; did you mean 'train'\?"):
        load_experiment(path)


def test_missing_reference_names_the_referring_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "exp.yaml", "model: models/model.yaml\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert info.value.file == str(path)
    assert info.value.key_path == "model"
    assert "models/model.yaml" in info.value.reason
    assert "does not exist" in info.value.reason


def test_error_inside_a_referenced_file_names_that_file(tmp_path: Path) -> None:
    data = _write(
        tmp_path / "sub" / "data.yaml", "split: {train: 0.5, validation: 0.1, test: 0.1}\n"
    )
    path = _write(tmp_path / "exp.yaml", "data: sub/data.yaml\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert info.value.file == str(data)
    assert info.value.key_path == "data.split"
    assert "sum to 1" in info.value.reason


def test_several_problems_come_in_one_error_each_with_file_and_key(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.yaml", "epochs: 0\nbatch_sise: 4\n")
    path = _write(tmp_path / "exp.yaml", "train: train.yaml\nmodel: {stride: 200}\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert f"{train}: train.epochs: Input should be greater than or equal to 1 (got 0)" in lines
    assert f"{train}: train.batch_sise: unknown key; did you mean 'batch_size'?" in lines
    assert any(line.startswith(f"{path}: model: stride 200 must be smaller") for line in lines)


def test_search_space_errors_name_the_dimension(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "exp.yaml",
        "hpo:\n  search_space:\n    lerning_rate: {type: loguniform, low: 1.0e-4, high: 1.0e-3}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert info.value.key_path == "hpo.search_space.lerning_rate"
    assert "did you mean 'learning_rate'?" in info.value.reason


def test_discriminator_tag_is_not_reported_as_a_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "exp.yaml",
        "hpo:\n  search_space:\n    learning_rate: {type: loguniform, low: 0, high: 1.0e-3}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert info.value.key_path == "hpo.search_space.learning_rate"
    assert info.value.reason == "loguniform low must be > 0, got 0.0"


def test_literal_typo_suggests_the_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "exp.yaml", "stages: [data, trian]\n")
    with pytest.raises(ConfigError, match=r"stages\.1: .*got 'trian'\); did you mean 'train'\?"):
        load_experiment(path)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("train: {epochs: [1\n", "invalid YAML at line 2"),
        ("train: {epochs: 1}\ntrain: {epochs: 2}\n", "duplicate key 'train'"),
        ("- a\n- b\n", "expected a mapping of keys at the top, got list"),
        ("1: x\n", "keys must be strings"),
    ],
)
def test_unreadable_files_are_reported_with_the_file(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = _write(tmp_path / "exp.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert info.value.file == str(path)
    assert reason in info.value.reason


def test_missing_experiment_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file does not exist"):
        load_experiment(tmp_path / "nope.yaml")


def test_yaml_exponent_floats_are_floats(tmp_path: Path) -> None:
    # YAML 1.1 would read 3e-4 as a string; configs are full of such learning rates.
    path = _write(tmp_path / "exp.yaml", "train: {learning_rate: 3e-4}\n")
    assert load_experiment(path).train.learning_rate == pytest.approx(3e-4)


def test_config_error_is_a_value_error_with_parts() -> None:
    error = ConfigError("a.yaml", "train.epochs", "too small")
    assert isinstance(error, ValueError)
    assert str(error) == "a.yaml: train.epochs: too small"
    assert (error.file, error.key_path, error.reason) == ("a.yaml", "train.epochs", "too small")


def test_models_are_frozen() -> None:
    cfg = DataConfig()
    with pytest.raises(ValueError, match="frozen"):
        cfg.source = "files"
