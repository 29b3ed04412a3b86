"""``nerp init`` and ``nerp config show|validate``, through typer and the installed script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from nerp_infra.commands.config_cmd import app as config_app
from nerp_infra.commands.init_cmd import init
from nerp_infra.config import ConfigError, ExperimentConfig, load_experiment

runner = CliRunner()


def _init_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(init)
    return app


def test_nerp_script_init_then_validate_and_misspelt_key(tmp_path: Path) -> None:
    # End to end through the installed console script, as a user runs it.
    nerp = shutil.which("nerp", path=str(Path(sys.executable).parent))
    assert nerp is not None, "the nerp console script is not installed next to this Python"
    folder = tmp_path / "x"

    init_run = subprocess.run(
        [nerp, "init", str(folder)], capture_output=True, text=True, check=False
    )
    assert init_run.returncode == 0, init_run.stderr
    experiment = folder / "experiment.yaml"
    ok = subprocess.run(
        [nerp, "config", "validate", str(experiment)], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"ok: {experiment}"

    hpo = folder / "hpo.yaml"
    hpo.write_text(hpo.read_text().replace("n_trials:", "n_trails:"))
    bad = subprocess.run(
        [nerp, "config", "validate", str(experiment)], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr.strip() == f"{hpo}: hpo.n_trails: unknown key; did you mean 'n_trials'?"


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    first = runner.invoke(_init_app(), [str(tmp_path)])
    assert first.exit_code == 0, first.output
    train = tmp_path / "train.yaml"
    train.write_text("epochs: 1\n")

    again = runner.invoke(_init_app(), [str(tmp_path)])
    assert again.exit_code == 1
    assert "already exist" in again.stderr
    assert "--force" in again.stderr
    assert train.read_text() == "epochs: 1\n"

    forced = runner.invoke(_init_app(), [str(tmp_path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "epochs: 8" in train.read_text()


def test_init_writes_nothing_when_one_file_exists(tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text("backbone: minilm\n")
    result = runner.invoke(_init_app(), [str(tmp_path)])
    assert result.exit_code == 1
    assert "model.yaml already exists" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.yaml"]


def test_show_prints_the_resolved_config_with_overrides(tmp_path: Path) -> None:
    result = runner.invoke(
        config_app, ["show", "--set", "train.epochs=2", "--set", "hpo.n_trials=3"]
    )
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown["train"]["epochs"] == 2
    assert shown["hpo"]["n_trials"] == 3
    dumped = tmp_path / "shown.yaml"
    dumped.write_text(result.stdout)
    assert load_experiment(dumped) == ExperimentConfig.model_validate(shown)


def test_validate_default_and_bad_override() -> None:
    ok = runner.invoke(config_app, ["validate"])
    assert ok.exit_code == 0
    assert ok.stdout.startswith("ok: ")

    bad = runner.invoke(config_app, ["validate", "--set", "train.epochs=0"])
    assert bad.exit_code == 1
    assert bad.stderr.strip() == (
        "--set train.epochs=0: train.epochs: Input should be greater than or equal to 1 (got 0)"
    )


def test_show_reports_errors_like_validate(tmp_path: Path) -> None:
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("model: missing.yaml\n")
    result = runner.invoke(config_app, ["show", str(experiment)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"{experiment}: model: refers to 'missing.yaml', which does not exist" in result.stderr


def test_validate_fails_for_a_missing_data_file(tmp_path: Path) -> None:
    (tmp_path / "there.jsonl").write_text('{"text": "Jane"}\n', encoding="utf-8")
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(
        yaml.safe_dump({"data": {"source": "files", "files": ["there.jsonl", "gone.jsonl"]}}),
        encoding="utf-8",
    )
    result = runner.invoke(config_app, ["validate", str(experiment)])
    assert result.exit_code == 1
    assert "ok:" not in result.output
    assert f"{experiment}: data.files[1]: {tmp_path / 'gone.jsonl'} does not exist" in (
        result.output
    )
    assert "there.jsonl" not in result.output


def test_an_empty_experiment_file_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    for text in ("", "# only a comment\n", "{}\n"):
        experiment = tmp_path / "experiment.yaml"
        experiment.write_text(text, encoding="utf-8")
        result = runner.invoke(config_app, ["validate", str(experiment)])
        assert result.exit_code == 1, text
        assert f"{experiment}: is empty" in result.output
        with pytest.raises(ConfigError, match="is empty"):
            load_experiment(experiment)
