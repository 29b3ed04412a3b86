"""Workspace settings from config, environment and config.json, and the MLClient built from them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nerp_infra.azureml import (
    AzureMLSettingsError,
    WorkspaceSettings,
    create_ml_client,
    find_config_json,
    load_workspace_settings,
)

pytestmark = pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")


def _config_json(tmp_path: Path, **values: object) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def test_each_setting_takes_the_highest_precedence_source(tmp_path: Path) -> None:
    config_json = _config_json(
        tmp_path, subscription_id="sub-file", resource_group="rg-file", workspace_name="ws-file"
    )
    environ = {"AZURE_RESOURCE_GROUP": "rg-env", "AZUREML_WORKSPACE_NAME": "ws-env"}
    settings = load_workspace_settings(
        {"workspace_name": "ws-config", "compute": "gpu-cluster"},
        environ=environ,
        config_json=config_json,
    )
    assert settings.subscription_id == "sub-file"
    assert settings.resource_group == "rg-env"
    assert settings.workspace_name == "ws-config"
    assert settings.compute == "gpu-cluster"
    assert settings.experiment_name is None
    assert settings.uses_service_principal is False


def test_environment_alone_is_enough_and_defaults_apply() -> None:
    environ = {
        "AZURE_SUBSCRIPTION_ID": "sub",
        "AZURE_RESOURCE_GROUP": "rg",
        "AZUREML_WORKSPACE_NAME": "ws",
        "AZUREML_EXPERIMENT_NAME": "nerp-final",
    }
    settings = load_workspace_settings(environ=environ)
    assert (settings.subscription_id, settings.resource_group, settings.workspace_name) == (
        "sub",
        "rg",
        "ws",
    )
    assert settings.compute == "cpu-cluster"
    assert settings.experiment_name == "nerp-final"


def test_inside_an_azureml_job_the_run_environment_is_used() -> None:
    environ = {
        "AZUREML_ARM_SUBSCRIPTION": "sub-run",
        "AZUREML_ARM_RESOURCEGROUP": "rg-run",
        "AZUREML_ARM_WORKSPACE_NAME": "ws-run",
        "AZURE_SUBSCRIPTION_ID": "sub-explicit",
    }
    settings = load_workspace_settings(environ=environ)
    assert settings.subscription_id == "sub-explicit"
    assert settings.resource_group == "rg-run"
    assert settings.workspace_name == "ws-run"


def test_missing_settings_are_all_named_with_their_sources(tmp_path: Path) -> None:
    config_json = _config_json(tmp_path, resource_group="rg")
    with pytest.raises(AzureMLSettingsError) as info:
        load_workspace_settings(environ={"AZURE_CLIENT_ID": "x"}, config_json=config_json)
    message = str(info.value)
    assert "resource_group" not in message
    for needle in (
        "subscription_id",
        "AZURE_SUBSCRIPTION_ID",
        "workspace_name",
        "AZUREML_WORKSPACE_NAME",
        str(config_json),
        "config key 'workspace_name'",
    ):
        assert needle in message


def test_no_config_json_given_is_said_so() -> None:
    with pytest.raises(AzureMLSettingsError, match=r"config.json \(none given\)"):
        load_workspace_settings(environ={})


def test_unknown_config_key_is_rejected() -> None:
    with pytest.raises(AzureMLSettingsError, match="'workspace'"):
        load_workspace_settings({"workspace": "ws"}, environ={})


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"subscription_id": 42}', "'subscription_id' must be a string"),
    ],
)
def test_bad_config_json_names_the_file(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AzureMLSettingsError) as info:
        load_workspace_settings(environ={}, config_json=path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_missing_config_json_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AzureMLSettingsError, match="does not exist"):
        load_workspace_settings(environ={}, config_json=tmp_path / "nope.json")


def test_incomplete_service_principal_names_what_is_missing() -> None:
    environ = {
        "AZURE_SUBSCRIPTION_ID": "sub",
        "AZURE_RESOURCE_GROUP": "rg",
        "AZUREML_WORKSPACE_NAME": "ws",
        "AZURE_CLIENT_SECRET": "s3cret",
        "AZURE_CLIENT_ID": "app",
    }
    with pytest.raises(AzureMLSettingsError) as info:
        load_workspace_settings(environ=environ)
    assert "tenant_id" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_secret_never_shows_in_repr() -> None:
    settings = WorkspaceSettings(
        subscription_id="sub",
        resource_group="rg",
        workspace_name="ws",
        tenant_id="t",
        client_id="c",
        client_secret="s3cret",  # type: ignore[arg-type]
    )
    assert "s3cret" not in repr(settings)
    assert settings.uses_service_principal


def test_find_config_json_looks_in_parents_and_dot_azureml(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    target = tmp_path / ".azureml" / "config.json"
    target.parent.mkdir()
    target.write_text("{}", encoding="utf-8")
    assert find_config_json(deep) == target


def test_client_uses_default_credential_without_service_principal() -> None:
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    settings = WorkspaceSettings(subscription_id="sub", resource_group="rg", workspace_name="ws")
    client = create_ml_client(settings)
    assert isinstance(client, MLClient)
    assert (client.subscription_id, client.resource_group_name, client.workspace_name) == (
        "sub",
        "rg",
        "ws",
    )
    assert isinstance(client._credential, DefaultAzureCredential)


def test_client_uses_service_principal_when_configured() -> None:
    from azure.identity import ClientSecretCredential

    settings = load_workspace_settings(
        {"tenant_id": "tenant", "client_id": "app", "workspace_name": "ws"},
        environ={
            "AZURE_SUBSCRIPTION_ID": "sub",
            "AZURE_RESOURCE_GROUP": "rg",
            "AZURE_CLIENT_SECRET": "s3cret",
        },
    )
    assert settings.uses_service_principal
    client = create_ml_client(settings)
    assert isinstance(client._credential, ClientSecretCredential)
    assert client.workspace_name == "ws"


def test_importing_nerp_infra_does_not_import_the_azure_sdk() -> None:
    code = (
        "import sys, nerp_infra, nerp_infra.azureml, nerp_infra.backup;"
        "bad = sorted(m for m in sys.modules if m.startswith('azure'));"
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
