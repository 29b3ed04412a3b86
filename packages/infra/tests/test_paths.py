from __future__ import annotations

from pathlib import Path

import pytest

from nerp_infra.fingerprints import fingerprint
from nerp_infra.paths import (
    DEFAULT_PLATFORM_ROOTS,
    OutputLayout,
    backbone_component,
    check_component,
    fingerprint_key,
    resolve_output_root,
    slug,
)


def test_default_layout(tmp_path: Path) -> None:
    layout = OutputLayout(tmp_path)
    got = layout.artifact_dir("final_training", "minilm", "spec-81710c33_exec-8d244347", 2)
    assert got == tmp_path / "final_training" / "minilm" / "spec-81710c33_exec-8d244347" / "v2"


def test_custom_layout(tmp_path: Path) -> None:
    layout = OutputLayout(tmp_path, "{backbone}/{stage}-{key}/{variant:03d}")
    assert layout.artifact_dir("hpo", "bert", "k1", 7) == tmp_path / "bert" / "hpo-k1" / "007"


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("{stage}/{model}/{key}/v{variant}", r"unknown placeholder \{model\}"),
        ("{stage}/{backbone}/{key}", "must contain {variant}"),
        ("{backbone}/v{variant}", "must contain {stage}, {key}"),
        ("/abs/{stage}/{key}/v{variant}", "relative path"),
        ("{stage}/../{key}/v{variant}", "relative path"),
        ("{stage}\\{key}/v{variant}", "relative path"),
        ("{stage/{key}", "invalid layout"),
    ],
)
def test_bad_layouts_are_rejected(tmp_path: Path, layout: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OutputLayout(tmp_path, layout)


@pytest.mark.parametrize(
    ("field", "args", "message"),
    [
        ("backbone", ("hpo", "microsoft/deberta", "k", 1), r"backbone 'microsoft/deberta'.*slug"),
        ("key", ("hpo", "bert", "..", 1), r"key '\.\.' is not a safe path component"),
        ("stage", ("", "bert", "k", 1), "stage must be a non-empty string"),
        ("key", ("hpo", "bert", "a\\b", 1), r"key 'a\\\\b' must be a single path component"),
        ("variant", ("hpo", "bert", "k", 0), "variant must be an integer >= 1"),
    ],
)
def test_components_are_validated_and_errors_name_the_field(
    tmp_path: Path, field: str, args: tuple[str, str, str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        OutputLayout(tmp_path).artifact_dir(*args)
    assert str(info.value).startswith(field)


def test_slug_and_check_component() -> None:
    assert slug("microsoft/deberta-v3-small") == "microsoft-deberta-v3-small"
    assert slug(" my model! ") == "my-model"
    assert check_component("key", slug("a/../b")) == "a-..-b"
    with pytest.raises(ValueError, match="nothing usable"):
        slug("///")


def test_fingerprint_key() -> None:
    spec, exec_ = fingerprint("spec"), fingerprint("exec")
    key = fingerprint_key({"spec_fp": spec, "exec_fp": exec_})
    assert key == f"spec-{spec[:8]}_exec-{exec_[:8]}"
    with pytest.raises(ValueError, match="at least one"):
        fingerprint_key({})


def test_local_root_is_the_configured_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_output_root("outputs", {}, platform="local") == tmp_path / "outputs"
    monkeypatch.setenv("NERP_PLATFORM", "local")
    assert resolve_output_root("outputs", {"colab": "/content/x"}) == tmp_path / "outputs"


def test_platform_roots_from_defaults_overrides_and_detection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_output_root("outputs", {}, platform="colab") == Path(
        DEFAULT_PLATFORM_ROOTS["colab"]
    )
    kaggle = tmp_path / "kaggle-out"
    assert resolve_output_root("outputs", {"kaggle": str(kaggle)}, platform="kaggle") == kaggle
    assert resolve_output_root("outputs", {"kaggle": kaggle}, platform="kaggle") == kaggle
    monkeypatch.setenv("NERP_PLATFORM", "kaggle")
    assert resolve_output_root("outputs", {"kaggle": str(kaggle)}) == kaggle


def test_azureml_root_from_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roots = {"azureml": "${AZURE_ML_OUTPUT_outputs}/nerp"}
    monkeypatch.setenv("AZURE_ML_OUTPUT_outputs", str(tmp_path / "mnt"))
    assert resolve_output_root("o", roots, platform="azureml") == tmp_path / "mnt" / "nerp"
    monkeypatch.delenv("AZURE_ML_OUTPUT_outputs")
    with pytest.raises(ValueError, match="names an environment variable that is not set"):
        resolve_output_root("o", roots, platform="azureml")


def test_unknown_platforms_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown platform.*sagemaker"):
        resolve_output_root("o", {"sagemaker": "/x"}, platform="local")
    with pytest.raises(ValueError, match=r"unknown platform\(s\) 'local'.*local uses root"):
        resolve_output_root("o", {"local": "/x"}, platform="local")
    with pytest.raises(ValueError, match="unknown platform 'mars'; one of"):
        resolve_output_root("o", {}, platform="mars")


def test_backbone_component(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert backbone_component("minilm") == "minilm"
    assert backbone_component("microsoft/deberta-v3-small") == "microsoft-deberta-v3-small"
    folder = tmp_path / "models" / "my-bert"
    folder.mkdir(parents=True)
    assert backbone_component(str(folder)) == "my-bert"  # a folder by its name, not its path
    monkeypatch.chdir(tmp_path / "models")
    assert backbone_component("./my-bert") == "my-bert"
    assert backbone_component("my-bert") == "my-bert"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert backbone_component("~/models/my-bert/") == "my-bert"
