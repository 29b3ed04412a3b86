from __future__ import annotations

import pytest

from nerp_infra.platform import detect_platform


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "local"),
        ({"COLAB_RELEASE_TAG": "release-colab"}, "colab"),
        ({"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, "kaggle"),
        ({"AZUREML_RUN_ID": "abc"}, "azureml"),
        ({"NERP_PLATFORM": "kaggle", "AZUREML_RUN_ID": "abc"}, "kaggle"),
    ],
)
def test_detect_platform(environ: dict[str, str], expected: str) -> None:
    assert detect_platform(environ) == expected


def test_unknown_forced_platform_is_an_error() -> None:
    with pytest.raises(ValueError, match="NERP_PLATFORM='mars'"):
        detect_platform({"NERP_PLATFORM": "mars"})
