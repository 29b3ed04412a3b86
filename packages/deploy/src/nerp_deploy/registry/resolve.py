"""Resolve ``models:/NAME@ALIAS`` (or ``/VERSION``) to a local ONNX package directory.

Needs only the MLflow client (``nerp-deploy[mlflow-skinny]``: no pandas, no torch). The
version is downloaded once into a cache folder (``NERP_MODEL_CACHE``, else
``~/.cache/nerp/models``) keyed by tracking URI, name and version, written to a temporary
folder and renamed into place, so concurrent workers never see half a download.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from nerp_deploy.registry.names import PACKAGE_ARTIFACT, ModelRef, RegistryError, parse_model_uri

__all__ = ["CACHE_ENV", "default_cache_dir", "resolve_model_uri"]

CACHE_ENV = "NERP_MODEL_CACHE"


def default_cache_dir() -> Path:
    """``$NERP_MODEL_CACHE``, else ``$XDG_CACHE_HOME/nerp/models`` (``~/.cache``)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nerp" / "models"


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise RegistryError(
            "loading models:/ URIs needs the MLflow client: "
            "pip install 'nerp-deploy[serve,mlflow-skinny]'"
        ) from None
    return mlflow


def _version_of(ref: ModelRef, tracking_uri: str) -> tuple[str, str]:
    """(version number, run id) of the reference, or a RegistryError naming what is missing."""
    mlflow = _mlflow()
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    where = f"{ref.uri} (tracking URI {tracking_uri})"
    try:
        model = client.get_registered_model(ref.name)
    except MlflowException:
        names = sorted(m.name for m in client.search_registered_models(max_results=50))
        known = ", ".join(names) if names else "none"
        raise RegistryError(
            f"{where}: no registered model {ref.name!r}; registered models: {known}"
        ) from None
    try:
        if ref.alias is not None:
            found = client.get_model_version_by_alias(ref.name, ref.alias)
        else:
            found = client.get_model_version(ref.name, str(ref.version))
    except MlflowException:
        aliases = sorted(getattr(model, "aliases", {}) or {})
        if ref.alias is not None:
            known = ", ".join(f"@{a}" for a in aliases) if aliases else "none"
            reason = f"model {ref.name!r} has no alias {ref.alias!r} (its aliases: {known})"
        else:
            reason = f"model {ref.name!r} has no version {ref.version}"
        raise RegistryError(f"{where}: {reason}") from None
    return str(found.version), str(found.run_id or "")


def _package_in(model_dir: Path) -> Path:
    package = model_dir / "artifacts" / PACKAGE_ARTIFACT
    if not (package / "inference.json").is_file():
        raise RegistryError(
            f"{model_dir}: the registered model holds no nerp ONNX package "
            f"(artifacts/{PACKAGE_ARTIFACT}/inference.json); was it registered by `nerp convert`?"
        )
    return package


def resolve_model_uri(uri: str, *, tracking_uri: str, cache_dir: str | Path | None = None) -> Path:
    """The local package directory of a registered version, downloaded when not cached."""
    ref = parse_model_uri(uri)
    number, _ = _version_of(ref, tracking_uri)
    key = hashlib.sha256(tracking_uri.encode()).hexdigest()[:12]
    target = Path(cache_dir or default_cache_dir()) / key / ref.name / f"v{number}"
    if (target / "MLmodel").is_file():
        return _package_in(target)
    mlflow = _mlflow()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".v{number}-", dir=target.parent))
    try:
        # The store is passed, never set: MLflow's setters are process-wide (and exported to
        # the environment), so a later registration in this process would land in this
        # store. The version's artifact location is asked directly, since MLflow resolves a
        # models:/ URI through the global registry URI whatever download_artifacts is given.
        client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(ref.name, number),
            dst_path=str(staging),
            tracking_uri=tracking_uri,
        )  # the model folder (MLmodel at its top), inside staging
        try:
            Path(local).rename(target)
        except OSError:  # another process finished first: use its copy
            if not (target / "MLmodel").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _package_in(target)
