"""Register an ONNX package as an MLflow model version; set aliases such as ``@champion``.

A registered version holds two flavours in one MLmodel: ``python_function`` (nerp's engine,
:class:`~nerp_deploy.registry.pyfunc.NerpOnnxModel`) and ``onnx`` (the fused fp32 graph, for
``mlflow.onnx.load_model``), with the whole package under ``artifacts/package/``. Its tags
are nerp's lineage tags (artifact id, fingerprints, input ids, every ancestor), so a served
model walks back to the HPO trial and the dataset. Registering the same package twice
returns the version it already has. Needs full MLflow and onnx (``[convert,mlflow]``); MLflow
must already point at the tracking URI (``nerp_infra.tracking.setup_mlflow``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from nerp_deploy.registry.names import CHAMPION_ALIAS, PACKAGE_ARTIFACT, RegistryError
from nerp_infra.artifacts import read_manifest
from nerp_infra.artifacts.payloads import OnnxPackagePayload
from nerp_infra.model_files import ONNX_FP32_FILE
from nerp_infra.tags import build_tags, register_tag, tag_name

__all__ = [
    "MODEL_NAME",
    "RegisteredVersion",
    "find_version",
    "lineage_tags",
    "log_package_model",
    "register_package",
    "set_alias",
]

MODEL_NAME = "model"
"""Name of the logged model within its run (``runs:/<run id>/model``)."""

register_tag("ancestors", "every ancestor artifact of a registered package, as kind:id")
register_tag("registered_model", "registered model name@version a run's package became")


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version in the registry that holds one ONNX package."""

    name: str
    version: str
    artifact_id: str
    created: bool
    """False when the package was registered before and that version was returned."""

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def lineage_tags(package_dir: Path, ancestors: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """``nerp.*`` tags of a package from its manifest; ``ancestors`` as (kind, id) pairs."""
    manifest = read_manifest(package_dir)
    values: dict[str, Any] = {
        "artifact_id": manifest.id,
        "artifact_kind": manifest.kind,
        "backbone": manifest.backbone,
        "variant": manifest.variant,
        "lineage": ",".join(manifest.lineage),
        **{k: v for k, v in manifest.fingerprints.items() if k in ("conv_fp", "data_fp")},
    }
    spec = OnnxPackagePayload.of(manifest, package_dir).model_spec_fp
    if spec:
        values["spec_fp"] = spec
    if ancestors:
        values["ancestors"] = ",".join(f"{kind}:{ident}" for kind, ident in ancestors)
    return build_tags(**values)


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def find_version(name: str, artifact_id: str) -> str | None:
    """The version of ``name`` that holds the package ``artifact_id``, if registered."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None
    key = tag_name("artifact_id")
    for found in versions:
        if found.tags.get(key) == artifact_id:
            return str(found.version)
    return None


def _requirements() -> list[str]:
    """What loading the pyfunc needs: nerp-deploy and MLflow at the versions that logged it."""
    pins = []
    for dist in ("nerp-deploy", "nerp-infra"):
        try:
            pins.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:  # pragma: no cover - a source checkout without metadata
            pins.append(dist)
    return pins


class _NerpFlavor:
    """A flavour module for ``mlflow.models.Model.log``: pyfunc via nerp's engine + onnx."""

    __name__ = "nerp_deploy"

    @staticmethod
    def save_model(path: str, mlflow_model: Any, package_dir: Path) -> None:
        import mlflow.pyfunc
        import onnx

        from nerp_deploy.registry.pyfunc import NerpOnnxModel

        mlflow.pyfunc.save_model(
            path=path,
            python_model=NerpOnnxModel(),
            artifacts={PACKAGE_ARTIFACT: str(package_dir)},
            mlflow_model=mlflow_model,
            pip_requirements=_requirements(),
        )
        graph = next(Path(path, "artifacts").rglob(ONNX_FP32_FILE))
        mlflow_model.add_flavor(
            "onnx",
            onnx_version=onnx.__version__,
            data=graph.relative_to(path).as_posix(),
            providers=["CPUExecutionProvider"],
            code=None,
        )
        mlflow_model.save(str(Path(path, "MLmodel")))


def log_package_model(
    package_dir: str | Path, *, tags: Mapping[str, str], registered_name: str | None = None
) -> str | None:
    """Log the package as the active run's model ``runs:/<run>/model`` (both flavours);
    with ``registered_name`` also register it. Returns the new version number, if any."""
    from mlflow.models import Model

    # Copied first: what is logged is exactly the package's files, under artifacts/package/.
    with tempfile.TemporaryDirectory(prefix="nerp-register-") as tmp:
        staged = Path(tmp) / PACKAGE_ARTIFACT
        shutil.copytree(package_dir, staged)
        info = Model.log(
            artifact_path=None,  # deprecated for name= but still a required argument
            name=MODEL_NAME,
            flavor=_NerpFlavor,
            registered_model_name=registered_name,
            package_dir=staged,
            tags=dict(tags),
        )
    number = info.registered_model_version
    return None if number is None else str(number)


def register_package(
    package_dir: str | Path,
    name: str,
    *,
    ancestors: Sequence[tuple[str, str]] = (),
) -> RegisteredVersion:
    """Log the package as the active run's model and register it as a new version of
    ``name``, or return the version that already holds this package (by artifact id).

    Call inside an active MLflow run (the ``convert`` run) unless the package may already
    be registered; a new version needs the run.
    """
    import mlflow

    package_dir = Path(package_dir)
    tags = lineage_tags(package_dir, ancestors)
    artifact_id = tags[tag_name("artifact_id")]
    existing = find_version(name, artifact_id)
    if existing is not None:
        return RegisteredVersion(name, existing, artifact_id, created=False)
    if mlflow.active_run() is None:
        raise RegistryError(f"registering {package_dir} as {name!r} needs an active MLflow run")
    number = log_package_model(package_dir, tags=tags, registered_name=name)
    if number is None:  # pragma: no cover - MLflow returns it when a name is given
        raise RegistryError(f"MLflow did not register {package_dir} as {name!r}")
    client = _client()
    for key, value in tags.items():
        client.set_model_version_tag(name, number, key, value)
    mlflow.set_tag(tag_name("registered_model"), f"{name}@{number}")
    return RegisteredVersion(name, number, artifact_id, created=True)


def set_alias(name: str, version: str, alias: str = CHAMPION_ALIAS) -> None:
    """Point ``models:/<name>@<alias>`` at ``version`` (MLflow aliases, not stages)."""
    from mlflow.exceptions import MlflowException

    try:
        _client().set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        reason = f"models:/{name}/{version}: cannot set alias {alias!r}: {exc}"
        raise RegistryError(reason) from None
