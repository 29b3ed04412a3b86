"""Data assets versioned by data_fp and environments versioned by their spec hash, reused."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nerp_infra.azureml import (
    AzureJobSpecError,
    build_environment,
    data_asset_version,
    ensure_data_asset,
    ensure_environment,
    pip_requirements,
)

pytestmark = pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")

DATA_FP = "3f5a9c0d7e1b2a4c6d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "dataset"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"text": "x", "spans": []}\n', encoding="utf-8")
    return folder


def test_data_asset_is_created_once_then_reused(
    fake_ml_client: Callable[..., Any], dataset: Path
) -> None:
    from azure.ai.ml.entities import Data

    client = fake_ml_client()
    ref = ensure_data_asset(client, name="resumes", path=dataset, data_fp=DATA_FP)
    assert ref == "azureml:resumes:3f5a9c0d7e1b"
    (created,) = client.data.created
    assert isinstance(created, Data)
    assert created.type == "uri_folder"
    assert created.version == DATA_FP[:12]
    assert created.tags == {"nerp.data_fp": DATA_FP}
    assert Path(str(created.path)) == dataset

    again = ensure_data_asset(client, name="resumes", path=dataset, data_fp=DATA_FP)
    assert again == ref
    assert len(client.data.created) == 1

    other_fp = "a" * 64
    assert ensure_data_asset(client, name="resumes", path=dataset, data_fp=other_fp) == (
        "azureml:resumes:aaaaaaaaaaaa"
    )
    assert len(client.data.created) == 2


def test_colliding_version_prefix_is_refused(
    fake_ml_client: Callable[..., Any], dataset: Path
) -> None:
    client = fake_ml_client()
    ensure_data_asset(client, name="resumes", path=dataset, data_fp=DATA_FP)
    colliding = DATA_FP[:12] + "0" * 52
    with pytest.raises(AzureJobSpecError, match="collide"):
        ensure_data_asset(client, name="resumes", path=dataset, data_fp=colliding)


@pytest.mark.parametrize("data_fp", ["abc", "XYZ" * 10, ""])
def test_data_fp_must_be_a_hex_digest(data_fp: str) -> None:
    with pytest.raises(AzureJobSpecError, match="data_fp"):
        data_asset_version(data_fp)


def test_missing_dataset_folder_and_bad_name_are_refused(
    fake_ml_client: Callable[..., Any], tmp_path: Path
) -> None:
    client = fake_ml_client()
    with pytest.raises(AzureJobSpecError, match="not an existing folder"):
        ensure_data_asset(client, name="resumes", path=tmp_path / "missing", data_fp=DATA_FP)
    with pytest.raises(AzureJobSpecError, match="not a valid Azure ML asset name"):
        ensure_data_asset(client, name="bad name!", path=tmp_path, data_fp=DATA_FP)
    assert client.data.created == []


def test_remote_dataset_uri_is_registered_without_local_checks(
    fake_ml_client: Callable[..., Any],
) -> None:
    client = fake_ml_client()
    uri = "azureml://datastores/workspaceblobstore/paths/resumes/"
    ensure_data_asset(client, name="resumes", path=uri, data_fp=DATA_FP)
    assert client.data.created[0].path == uri


def test_pip_requirements_follow_extras_of_installed_metadata() -> None:
    with_azure = pip_requirements({"nerp-infra": "nerp-infra[azure]"})
    names = {line.split(">")[0].split("<")[0].split("=")[0] for line in with_azure}
    assert {"pydantic", "pyyaml", "typer", "azure-ai-ml", "azure-identity"} <= names
    assert "mlflow" not in names
    assert not any(n.startswith("nerp") for n in names)
    plain = pip_requirements({"nerp-infra": "nerp-infra"})
    assert not any(line.startswith("azure") for line in plain)
    assert plain == sorted(plain)


@pytest.fixture
def plugin_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed (metadata-only) nerp distribution depending on nerp-infra with an extra."""
    info = tmp_path / "site" / "nerp_fakeplugin-0.1.0.dist-info"
    info.mkdir(parents=True)
    requires = [
        "nerp-infra[mlflow]>=0.1",
        "numpy>=1.26",
        'numpy<3; python_version >= "3.10"',
        'torch>=2.4; extra == "gpu"',
        'pywin32>=300; sys_platform == "win32"',
        'tomli>=2; python_version < "3.11"',
    ]
    metadata = ["Metadata-Version: 2.1", "Name: nerp-fakeplugin", "Version: 0.1.0"]
    metadata += [f"Requires-Dist: {line}" for line in requires]
    metadata.append("Provides-Extra: gpu")
    (info / "METADATA").write_text("\n".join(metadata) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    return "nerp-fakeplugin"


def test_nerp_dependencies_are_followed_and_markers_target_the_image(
    plugin_distribution: str,
) -> None:
    lines = pip_requirements({plugin_distribution: f"{plugin_distribution}[gpu]"}, python="3.11")
    assert "numpy<3,>=1.26" in lines
    assert "torch>=2.4" in lines
    assert any(line.startswith("mlflow") for line in lines)  # via nerp-infra[mlflow]
    assert any(line.startswith("pydantic") for line in lines)
    assert not any(line.startswith(("pywin32", "tomli", "nerp")) for line in lines)
    without_gpu = pip_requirements({plugin_distribution: plugin_distribution}, python="3.11")
    assert not any(line.startswith("torch") for line in without_gpu)
    old_python = pip_requirements({plugin_distribution: plugin_distribution}, python="3.9")
    assert "tomli>=2" in old_python


def test_unknown_or_mismatched_distributions_are_named() -> None:
    with pytest.raises(AzureJobSpecError, match="'nerp-nonexistent' is not installed"):
        pip_requirements({"nerp-nonexistent": "nerp-nonexistent"})
    with pytest.raises(AzureJobSpecError, match="names another distribution"):
        pip_requirements({"nerp-infra": "nerp-deploy"})
    with pytest.raises(AzureJobSpecError, match="invalid requirement"):
        pip_requirements({"nerp-infra": "nerp-infra[azure"})


def test_environment_version_is_the_hash_of_its_spec() -> None:
    from azure.ai.ml.entities import Environment

    env = build_environment(name="nerp-infra-env", distributions={"nerp-infra": "nerp-infra"})
    assert isinstance(env, Environment)
    assert env.image == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
    conda: Any = env.conda_file
    assert conda["dependencies"][0] == "python=3.11"
    pip = conda["dependencies"][2]["pip"]
    assert pip == pip_requirements({"nerp-infra": "nerp-infra"})
    assert env.version is not None
    assert len(env.version) == 12
    assert env.tags is not None
    assert env.tags["nerp.spec_hash"].startswith(env.version)

    same = build_environment(name="nerp-infra-env", distributions={"nerp-infra": "nerp-infra"})
    assert same.version == env.version
    other_image = build_environment(
        name="nerp-infra-env", distributions={"nerp-infra": "nerp-infra"}, image="python:3.11"
    )
    more_deps = build_environment(
        name="nerp-infra-env", distributions={"nerp-infra": "nerp-infra[azure]"}
    )
    assert len({env.version, other_image.version, more_deps.version}) == 3


def test_environment_is_registered_once_then_reused(fake_ml_client: Callable[..., Any]) -> None:
    client = fake_ml_client()
    env = build_environment(name="nerp-infra-env", distributions={"nerp-infra": "nerp-infra"})
    ref = ensure_environment(client, env)
    assert ref == f"azureml:nerp-infra-env:{env.version}"
    rebuilt = build_environment(name="nerp-infra-env", distributions={"nerp-infra": "nerp-infra"})
    assert ensure_environment(client, rebuilt) == ref
    assert client.environments.created == [env]


def test_environment_without_version_is_refused(fake_ml_client: Callable[..., Any]) -> None:
    from azure.ai.ml.entities import Environment

    with pytest.raises(AzureJobSpecError, match="name and a version"):
        ensure_environment(fake_ml_client(), Environment(name="x", image="python:3.11"))


def test_pin_installed_adds_each_distribution_at_its_installed_version() -> None:
    from importlib.metadata import version

    from nerp_infra.azureml import build_environment

    env = build_environment(
        name="nerp-pin-test", distributions={"nerp-infra": "nerp-infra[mlflow]"}, pin_installed=True
    )
    pip = env.conda_file["dependencies"][-1]["pip"]
    assert f"nerp-infra[mlflow]=={version('nerp-infra')}" in pip
