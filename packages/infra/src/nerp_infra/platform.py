"""Detect where nerp runs, so paths and tracking pick persistent storage.

One name is used everywhere (paths, tags, doctor) so a run's records say where it ran.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

PlatformName = Literal["local", "colab", "kaggle", "azureml"]

PLATFORMS: tuple[PlatformName, ...] = ("local", "colab", "kaggle", "azureml")


def detect_platform(environ: Mapping[str, str] | None = None) -> PlatformName:
    """Return the platform from its tell-tale environment variables.

    ``NERP_PLATFORM`` overrides detection (useful to test a platform's layout locally).
    """
    env = os.environ if environ is None else environ
    forced = env.get("NERP_PLATFORM")
    if forced:
        if forced not in PLATFORMS:
            raise ValueError(
                f"environment variable NERP_PLATFORM={forced!r} "
                f"is not one of {', '.join(PLATFORMS)}"
            )
        return forced
    if "AZUREML_RUN_ID" in env or "AZUREML_ARM_WORKSPACE_NAME" in env:
        return "azureml"
    if "COLAB_RELEASE_TAG" in env or "COLAB_GPU" in env:
        return "colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in env or "KAGGLE_URL_BASE" in env:
        return "kaggle"
    return "local"
