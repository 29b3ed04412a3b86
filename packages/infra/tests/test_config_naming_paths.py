"""Run-name patterns and output paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from nerp_infra.config import NamingConfig, PathsConfig
from nerp_infra.paths import resolve_output_root


def test_default_patterns_render() -> None:
    naming = NamingConfig()
    assert naming.render("trial", study="resume", backbone="tiny", trial=3) == "hpo-resume-tiny-t3"
    assert (
        naming.render(
            "final_training", backbone="minilm", spec8="81710c33", exec8="8d244347", variant=2
        )
        == "train-minilm-81710c33-8d244347-v2"
    )


@pytest.mark.parametrize(
    ("patterns", "reason"),
    [
        ({"trial": "t-{fold}"}, "unknown placeholder {fold}; trial may use"),
        ({"selection": "sel-{backbone}"}, "unknown placeholder {backbone}"),
        ({"fold": "f {fold}"}, "contains ' '"),
        ({"refit": "a/b-{trial}"}, "contains '/'"),
        ({"benchmark": "b:{version}"}, "contains ':'"),
        ({"conversion": "c-{variant"}, "invalid pattern"),
        ({"evaluation": ""}, "pattern is empty"),
        ({"hpo_parent": "p-{study:d}"}, "cannot render"),
        ({"max_length": 5}, "greater than or equal to 16"),
    ],
)
def test_bad_patterns_are_rejected_per_key(patterns: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        NamingConfig.model_validate(patterns)
    assert reason in str(info.value)
    key = next(iter(patterns))
    if key != "max_length":
        assert f"{key}:" in str(info.value)  # the message names the pattern's key


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"study": "s", "backbone": "tiny"}, "needs trial"),
        ({"study": "s", "backbone": "tiny", "trial": 1, "fold": 2}, "has no placeholder fold"),
        ({"study": "s", "backbone": "org/model", "trial": 1}, "contains '/'"),
        ({"study": "s" * 300, "backbone": "tiny", "trial": 1}, "longer than naming.max_length 250"),
    ],
)
def test_render_checks_fields_and_result(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        NamingConfig().render("trial", **fields)


def test_render_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown run kind 'train'"):
        NamingConfig().render("train", backbone="tiny")  # type: ignore[arg-type]


def test_resolve_root_per_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    paths = PathsConfig()
    assert paths.resolve_root("local") == tmp_path / "outputs"
    assert paths.resolve_root("colab") == Path("/content/drive/MyDrive/nerp")
    assert paths.resolve_root("kaggle") == Path("/kaggle/working/nerp")
    assert paths.resolve_root("azureml") == tmp_path / "outputs"
    assert PathsConfig(root=Path("/data/o")).resolve_root("local") == Path("/data/o")
    only_colab = PathsConfig(platform_roots={"colab": Path("/c")})
    assert only_colab.resolve_root("colab") == Path("/c")
    # A platform the config leaves out keeps its default root, as for resolve_output_root.
    assert only_colab.resolve_root("kaggle") == Path("/kaggle/working/nerp")
    with pytest.raises(ValueError, match="unknown platform 'aws'"):
        paths.resolve_root("aws")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"layout": "{stage}/{model}/{key}/v{variant}"}, "unknown placeholder {model}"),
        ({"layout": "{stage}/{backbone}/{key}"}, "must contain {variant}"),
        ({"layout": "/{stage}/{key}/v{variant}"}, "must be a relative path"),
        ({"layout": "../{stage}/{key}/v{variant}"}, "must be a relative path"),
        ({"layout": "{stage/{key}"}, "invalid layout"),
        ({"platform_roots": {"aws": "/x"}}, "unknown platform(s) 'aws' in platform_roots"),
        ({"platform_roots": {"local": "/x"}}, "unknown platform(s) 'local'"),
    ],
)
def test_bad_paths_are_rejected(data: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        PathsConfig.model_validate(data)
    assert reason in str(info.value)


def test_resolve_root_expands_home_and_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config's resolver is the one in nerp_infra.paths: ``~`` and ``$VARS`` expand on
    every platform, and an unset variable is an error rather than a folder named ``$X``."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NERP_OUT", str(tmp_path / "mnt"))
    assert PathsConfig(root=Path("~/runs")).resolve_root("local") == tmp_path / "home" / "runs"
    assert PathsConfig(root=Path("$NERP_OUT/o")).resolve_root("local") == tmp_path / "mnt" / "o"
    on_azure = PathsConfig(platform_roots={"azureml": Path("${NERP_OUT}/nerp")})
    assert on_azure.resolve_root("azureml") == tmp_path / "mnt" / "nerp"
    assert on_azure.resolve_root("azureml") == resolve_output_root(
        "outputs", {"azureml": "${NERP_OUT}/nerp"}, platform="azureml"
    )
    monkeypatch.delenv("NERP_OUT")
    with pytest.raises(ValueError, match="names an environment variable that is not set"):
        on_azure.resolve_root("azureml")


def test_layout_placeholders_moved_to_paths_with_a_warning() -> None:
    import nerp_infra.config.paths as config_paths
    from nerp_infra.deprecation import NerpDeprecationWarning
    from nerp_infra.paths import LAYOUT_FIELDS

    with pytest.warns(NerpDeprecationWarning, match=r"use nerp_infra\.paths\.LAYOUT_FIELDS"):
        assert config_paths.LAYOUT_PLACEHOLDERS is LAYOUT_FIELDS
