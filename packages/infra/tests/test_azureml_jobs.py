"""command_job built with the real SDK, and the dump → load_job round trip of --dry-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from nerp_infra.azureml import (
    AzureJobSpecError,
    WorkspaceSettings,
    as_job,
    build_environment,
    command_job,
    dump_job_yaml,
    validate_job_yaml,
    write_job_yamls,
)

pytestmark = pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")

ENV_REF = "azureml:nerp-training:0123456789ab"


def _train_job(tmp_path: Path) -> object:
    code = tmp_path / "src"
    code.mkdir(exist_ok=True)
    config = tmp_path / "experiment.yaml"
    config.write_text("stages: [train]\n", encoding="utf-8")
    return command_job(
        command="nerp train --config ${{inputs.config}} --data ${{inputs.data}} "
        "--epochs ${{inputs.epochs}} --out ${{outputs.model}}",
        environment=ENV_REF,
        code=code,
        display_name="final-training minilm",
        inputs={"data": "azureml:resumes:3f5a9c0d7e1b", "config": config, "epochs": 3},
        outputs={"model": None},
        tags={"nerp.stage": "final_training"},
        environment_variables={"NERP_LOG": "debug"},
    )


def test_command_job_carries_nerp_defaults(tmp_path: Path) -> None:
    data = as_job(_train_job(tmp_path))._to_dict()
    assert data["type"] == "command"
    assert data["environment"] == ENV_REF
    assert data["compute"] == "azureml:cpu-cluster"
    assert data["experiment_name"] == "nerp"
    assert data["display_name"] == "final-training minilm"
    assert data["inputs"]["data"] == {"type": "uri_folder", "path": "azureml:resumes:3f5a9c0d7e1b"}
    assert data["inputs"]["config"]["type"] == "uri_file"
    assert data["inputs"]["epochs"] == 3
    assert data["outputs"]["model"] == {"type": "uri_folder"}
    assert data["environment_variables"] == {"PYTHONUNBUFFERED": "1", "NERP_LOG": "debug"}
    assert data["tags"] == {"nerp.stage": "final_training"}
    assert "${{outputs.model}}" in data["command"]


def test_settings_choose_compute_and_experiment() -> None:
    settings = WorkspaceSettings(
        subscription_id="s",
        resource_group="r",
        workspace_name="w",
        compute="gpu-a100",
        experiment_name="nerp-convert",
    )
    job = command_job(command="nerp convert", environment=ENV_REF, settings=settings)
    data = as_job(job)._to_dict()
    assert data["compute"] == "azureml:gpu-a100"
    assert data["experiment_name"] == "nerp-convert"
    explicit = command_job(
        command="nerp convert", environment=ENV_REF, settings=settings, compute="cpu-small"
    )
    assert as_job(explicit)._to_dict()["compute"] == "azureml:cpu-small"


def test_dump_then_load_job_round_trips(tmp_path: Path) -> None:
    job = _train_job(tmp_path)
    path = dump_job_yaml(job, tmp_path / "out" / "final_training.yml")
    assert path.is_file()
    text = path.read_text(encoding="utf-8")
    assert "type: command" in text
    assert ENV_REF in text
    loaded = validate_job_yaml(path)
    assert loaded._to_dict() == as_job(job)._to_dict()
    # Dumping over an existing file replaces it.
    assert dump_job_yaml(job, path) == path


def test_inline_environment_round_trips_as_an_anonymous_environment(tmp_path: Path) -> None:
    env = build_environment(name="nerp-infra-env", distributions={"nerp-infra": "nerp-infra"})
    job = command_job(command="nerp doctor", environment=env)
    loaded = validate_job_yaml(dump_job_yaml(job, tmp_path / "doctor.yml"))
    environment = loaded._to_dict()["environment"]
    assert environment["image"] == env.image
    assert environment["conda_file"] == env.conda_file
    # Azure ML registers inline environments anonymously: reuse needs ensure_environment.
    assert environment["name"] == "CliV2AnonymousEnvironment"


def test_write_job_yamls_writes_and_validates_every_job(tmp_path: Path) -> None:
    jobs = {
        "final_training": _train_job(tmp_path),
        "convert": command_job(command="nerp convert", environment=ENV_REF),
    }
    written = write_job_yamls(jobs, tmp_path / "dry-run")
    assert sorted(written) == ["convert", "final_training"]
    assert written["convert"] == tmp_path / "dry-run" / "convert.yml"
    assert all(p.is_file() for p in written.values())


def test_invalid_job_yaml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("type: command\ncommand: 1\nenvironment: {foo: 1}\n", encoding="utf-8")
    with pytest.raises(AzureJobSpecError) as info:
        validate_job_yaml(bad)
    assert str(bad) in str(info.value)
    assert "not a valid Azure ML job" in str(info.value)
    with pytest.raises(AzureJobSpecError, match="does not exist"):
        validate_job_yaml(tmp_path / "missing.yml")


def test_command_job_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(AzureJobSpecError, match="command is empty"):
        command_job(command="  ", environment=ENV_REF)
    with pytest.raises(AzureJobSpecError, match="input 'data'.*does not exist"):
        command_job(command="x", environment=ENV_REF, inputs={"data": tmp_path / "nope"})
    with pytest.raises(AzureJobSpecError, match="code folder"):
        command_job(command="x", environment=ENV_REF, code=tmp_path / "nope")
