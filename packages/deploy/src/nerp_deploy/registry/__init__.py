"""The MLflow model registry: register ONNX packages, mark the champion, load ``models:/`` URIs.

Writing (``register_package``, ``set_alias``) needs full MLflow (``nerp-deploy[mlflow]``) and
runs where ``nerp convert`` runs. Reading (``resolve_model_uri``) needs only the registry
client (``nerp-deploy[mlflow-skinny]``), so a slim serving image can serve
``models:/resume-ner@champion`` without torch or pandas. MLflow is imported lazily, inside
the functions; ``import nerp_deploy.registry`` never imports it.
"""

from __future__ import annotations

from nerp_deploy.registry.names import (
    CHAMPION_ALIAS,
    PACKAGE_ARTIFACT,
    ModelRef,
    RegistryError,
    is_model_uri,
    parse_model_uri,
)
from nerp_deploy.registry.register import RegisteredVersion, register_package, set_alias
from nerp_deploy.registry.resolve import resolve_model_uri

__all__ = [
    "CHAMPION_ALIAS",
    "PACKAGE_ARTIFACT",
    "ModelRef",
    "RegisteredVersion",
    "RegistryError",
    "is_model_uri",
    "parse_model_uri",
    "register_package",
    "resolve_model_uri",
    "set_alias",
]
