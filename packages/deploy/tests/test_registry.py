"""The MLflow model registry on SQLite: register a real package, alias it, load it back by
``models:/NAME@champion`` through the engine, MLflow's pyfunc and onnx flavours, and the
``nerp predict`` / ``nerp serve`` commands."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from nerp_deploy import OnnxEngine
from nerp_deploy.convert import ConversionResult
from nerp_deploy.convert.tracking import log_package
from nerp_deploy.registry import (
    CHAMPION_ALIAS,
    RegistryError,
    parse_model_uri,
    resolve_model_uri,
    set_alias,
)
from nerp_infra.config import TrackingConfig

if TYPE_CHECKING:
    from conftest import Server

RunServer = Callable[[list[str]], contextlib.AbstractContextManager["Server"]]
NERP = str(Path(sys.executable).parent / "nerp")

pytestmark = pytest.mark.slow
TEXT = "Name: Dana Nguyen\nSkills: python, docker\nData Engineer based in Oslo."
NAME = "resume-ner"
CHAMPION = f"models:/{NAME}@{CHAMPION_ALIAS}"


@pytest.fixture(scope="module")
def registry(
    conversion: ConversionResult, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A SQLite tracking store holding the toy package as version 1, aliased @champion."""
    import mlflow

    root = tmp_path_factory.mktemp("registry-root")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MLFLOW_TRACKING_URI", raising=False)  # the store is this one, not the user's
        logged = log_package(
            conversion,
            output_root=root,
            tracking=TrackingConfig(uri=uri),
            register_as=NAME,
            log_files=False,
            ancestors=[("model", "m-1"), ("dataset", "d-1")],
        )
    assert logged.version is not None and logged.version.created
    assert logged.version.version == "1"
    set_alias(NAME, "1", CHAMPION_ALIAS)
    yield uri
    mlflow.set_tracking_uri("")


def test_registered_version_carries_lineage_tags_and_both_flavours(
    registry: str, conversion: ConversionResult
) -> None:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=registry)
    version = client.get_model_version_by_alias(NAME, CHAMPION_ALIAS)
    tags = version.tags
    assert tags["nerp.artifact_id"] == conversion.manifest.id
    assert tags["nerp.artifact_kind"] == "onnx_package"
    assert tags["nerp.conv_fp"] == conversion.conv_fp
    assert tags["nerp.ancestors"] == "model:m-1,dataset:d-1"
    run = client.get_run(version.run_id)
    assert run.data.tags["nerp.registered_model"] == f"{NAME}@1"
    mlflow.set_tracking_uri(registry)
    onnx_model = mlflow.onnx.load_model(CHAMPION)  # the onnx flavour
    assert [i.name for i in onnx_model.graph.input] == ["input_ids", "attention_mask"]
    pyfunc = mlflow.pyfunc.load_model(CHAMPION)  # nerp's engine behind MLflow's API
    (predicted,) = pyfunc.predict([TEXT])
    engine = OnnxEngine.load(conversion.package_dir, threads=1)
    assert predicted == [e.model_dump() for e in engine.predict(TEXT)]
    assert any(e["label"] == "NAME" for e in predicted)


def test_registering_the_same_package_again_returns_its_version(
    registry: str, conversion: ConversionResult, tmp_path: Path
) -> None:
    again = log_package(
        conversion, output_root=tmp_path, tracking=TrackingConfig(uri=registry), register_as=NAME
    )
    assert again.run_id is None
    assert again.version is not None and (again.version.version, again.version.created) == (
        "1",
        False,
    )


def test_resolve_downloads_once_and_loads_the_same_package(
    registry: str, conversion: ConversionResult, tmp_path: Path
) -> None:
    first = resolve_model_uri(CHAMPION, tracking_uri=registry, cache_dir=tmp_path)
    assert (first / "nerp.json").read_bytes() == (conversion.package_dir / "nerp.json").read_bytes()
    again = resolve_model_uri(f"models:/{NAME}/1", tracking_uri=registry, cache_dir=tmp_path)
    assert again == first
    engine = OnnxEngine.load(first, threads=1)
    assert engine.package.manifest is not None
    assert engine.package.manifest.id == conversion.manifest.id


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (f"models:/{NAME}@prod", f"models:/{NAME}@prod .*has no alias 'prod' .*@champion"),
        (f"models:/{NAME}/9", "has no version 9"),
        ("models:/cv-ner@champion", "no registered model 'cv-ner'; registered models: resume-ner"),
        ("models:/resume ner", "not a registry model URI"),
    ],
)
def test_bad_model_uris_name_the_uri_and_the_reason(
    registry: str, tmp_path: Path, uri: str, message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        resolve_model_uri(uri, tracking_uri=registry, cache_dir=tmp_path)


def test_parse_model_uri() -> None:
    assert parse_model_uri("models:/resume-ner@champion").alias == "champion"
    assert parse_model_uri("models:/resume-ner/3").version == "3"
    assert parse_model_uri("models:/resume-ner/3").uri == "models:/resume-ner/3"


def test_predict_and_serve_from_the_registry(
    registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_server: RunServer
) -> None:
    monkeypatch.setenv("NERP_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = subprocess.run(
        [NERP, "predict", CHAMPION, "--tracking-uri", registry, "--text", TEXT],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    predicted = json.loads(out.stdout)["entities"]
    assert any(e["label"] == "NAME" for e in predicted)

    bad = subprocess.run(
        [NERP, "predict", f"models:/{NAME}@staging", "--tracking-uri", registry, "--text", TEXT],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1
    assert f"models:/{NAME}@staging" in bad.stderr and "no alias 'staging'" in bad.stderr

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry)  # the server finds the store by env
    args = [CHAMPION, "--workers", "1", "--threads", "1"]
    with run_server(args) as server:
        answer = httpx.post(f"{server.url}/predict", json={"text": TEXT}, timeout=30)
        assert answer.status_code == 200
        assert answer.json()["entities"] == predicted
