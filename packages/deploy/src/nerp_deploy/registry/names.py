"""``models:/NAME@ALIAS`` and ``models:/NAME/VERSION``: parsing and the registry's errors."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nerp_deploy.errors import DeployError

__all__ = [
    "CHAMPION_ALIAS",
    "MODEL_URI_SCHEME",
    "PACKAGE_ARTIFACT",
    "ModelRef",
    "RegistryError",
    "is_model_uri",
    "parse_model_uri",
]

MODEL_URI_SCHEME = "models:/"
CHAMPION_ALIAS = "champion"
PACKAGE_ARTIFACT = "package"
"""Name of the ONNX package inside a registered model (``artifacts/package/``)."""

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_URI = re.compile(rf"^models:/(?P<name>{_NAME})(?:@(?P<alias>{_NAME})|/(?P<version>[0-9]+))$")


class RegistryError(DeployError):
    """A ``models:/`` URI that cannot be resolved, or a registry that refuses a write."""


@dataclass(frozen=True)
class ModelRef:
    """One registered model version, by alias or by number."""

    name: str
    alias: str | None = None
    version: str | None = None

    @property
    def uri(self) -> str:
        tail = f"@{self.alias}" if self.alias is not None else f"/{self.version}"
        return f"{MODEL_URI_SCHEME}{self.name}{tail}"


def is_model_uri(value: str | object) -> bool:
    """Whether ``value`` names a registry model (``models:/…``) rather than a folder."""
    return str(value).startswith(MODEL_URI_SCHEME) or str(value).startswith("models:")


def parse_model_uri(uri: str) -> ModelRef:
    """``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``; a clear error for anything else."""
    match = _URI.match(uri)
    if match is None:
        raise RegistryError(
            f"{uri}: not a registry model URI; expected models:/NAME@ALIAS "
            "(e.g. models:/resume-ner@champion) or models:/NAME/VERSION"
        )
    return ModelRef(match["name"], alias=match["alias"], version=match["version"])
