"""Versioned Azure ML assets (datasets and environments) that are reused instead of re-uploaded.

Versions are derived from content: a data asset's version is the prefix of its data_fp, an
environment's the hash of its image and conda spec. Asking twice for the same content finds the
existing asset, so resubmitting a job neither uploads the dataset nor rebuilds the image.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from nerp_infra.azureml.errors import AzureJobSpecError
from nerp_infra.azureml.jobs import is_remote

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import Environment

DEFAULT_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
DEFAULT_PYTHON = "3.11"
VERSION_LENGTH = 12
DATA_FP_TAG = "nerp.data_fp"
SPEC_HASH_TAG = "nerp.spec_hash"

# Azure ML asset names: letters, digits, '-', '_' and '.', starting with a letter or digit.
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_HEX = re.compile(r"^[0-9a-f]+$")


def asset_ref(name: str, version: str) -> str:
    """How jobs reference a registered asset."""
    return f"azureml:{name}:{version}"


def _check_name(name: str, what: str) -> None:
    if not _ASSET_NAME.match(name):
        raise AzureJobSpecError(
            f"{what} name {name!r} is not a valid Azure ML asset name (letters, digits, "
            "'-', '_', '.', starting with a letter or digit, at most 255 characters)"
        )


def data_asset_version(data_fp: str) -> str:
    """The asset version for a dataset fingerprint (its first 12 hex digits)."""
    if len(data_fp) < VERSION_LENGTH or not _HEX.match(data_fp):
        raise AzureJobSpecError(
            f"data_fp {data_fp!r} must be a lowercase hex digest of at least "
            f"{VERSION_LENGTH} characters (the dataset fingerprint)"
        )
    return data_fp[:VERSION_LENGTH]


def ensure_data_asset(
    ml_client: MLClient,
    *,
    name: str,
    path: str | Path,
    data_fp: str,
    description: str | None = None,
) -> str:
    """Register ``path`` as a ``uri_folder`` data asset versioned by ``data_fp``, or reuse it.

    Returns ``azureml:<name>:<version>``. A local folder is uploaded by the SDK on creation only.
    """
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Data
    from azure.core.exceptions import ResourceNotFoundError

    _check_name(name, "data asset")
    version = data_asset_version(data_fp)
    try:
        existing = ml_client.data.get(name=name, version=version)
    except ResourceNotFoundError:
        existing = None
    if existing is not None:
        recorded = (existing.tags or {}).get(DATA_FP_TAG)
        if recorded and recorded != data_fp:
            raise AzureJobSpecError(
                f"data asset {asset_ref(name, version)} was registered for data_fp {recorded}, "
                f"not {data_fp}; the 12-digit prefixes collide, use another asset name"
            )
        return asset_ref(name, version)

    location = str(path)
    if not is_remote(location) and not Path(location).is_dir():
        raise AzureJobSpecError(
            f"dataset path {location} for data asset {name!r} is not an existing folder"
        )
    data = Data(
        name=name,
        version=version,
        path=location,
        type=AssetTypes.URI_FOLDER,
        description=description,
        tags={DATA_FP_TAG: data_fp},
    )
    created = ml_client.data.create_or_update(data)
    return asset_ref(created.name or name, created.version or version)


def _target_environment(python: str) -> dict[str, str]:
    """Marker environment of the job's image (Linux, CPython ``python``), not of this machine."""
    env = {key: str(value) for key, value in default_environment().items()}
    full = python if python.count(".") >= 2 else f"{python}.0"
    env.update(
        python_version=".".join(python.split(".")[:2]),
        python_full_version=full,
        sys_platform="linux",
        platform_system="Linux",
        os_name="posix",
        platform_machine="x86_64",
        implementation_name="cpython",
        platform_python_implementation="CPython",
    )
    return env


def _is_nerp(name: str) -> bool:
    return canonicalize_name(name).startswith("nerp-")


def _parse(requirement: str, where: str) -> Requirement:
    try:
        return Requirement(requirement)
    except InvalidRequirement as exc:
        raise AzureJobSpecError(f"invalid requirement {requirement!r} in {where}: {exc}") from exc


def _merge(into: dict[str, Requirement], req: Requirement) -> None:
    key = canonicalize_name(req.name)
    if key not in into:
        into[key] = Requirement(str(req))
        into[key].marker = None
        return
    kept = into[key]
    kept.extras |= req.extras
    kept.specifier &= req.specifier
    kept.url = kept.url or req.url


def pip_requirements(
    distributions: Mapping[str, str],
    *,
    python: str = DEFAULT_PYTHON,
    extra: Iterable[str] = (),
) -> list[str]:
    """Third-party requirements of the given nerp distributions, read from installed metadata.

    ``distributions`` maps a distribution to the requirement it is installed with, whose extras
    select optional dependencies (``{"nerp-training": "nerp-training[minilm]"}``). nerp-*
    dependencies are followed (with their extras) but not listed: the job installs them from
    wheels or source. Other entries and ``extra`` are listed as given. Sorted, merged per name.
    """
    marker_env = _target_environment(python)
    merged: dict[str, Requirement] = {}
    queue: list[Requirement] = []
    for dist, requirement in distributions.items():
        req = _parse(requirement or dist, f"distributions[{dist!r}]")
        if canonicalize_name(req.name) != canonicalize_name(dist):
            raise AzureJobSpecError(
                f"distributions[{dist!r}] = {requirement!r} names another distribution "
                f"({req.name!r})"
            )
        if _is_nerp(dist):
            queue.append(req)
        else:
            _merge(merged, req)
    for line in extra:
        _merge(merged, _parse(line, "extra requirements"))

    seen: set[tuple[str, frozenset[str]]] = set()
    while queue:
        req = queue.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            lines = requires(req.name) or []
        except PackageNotFoundError as exc:
            raise AzureJobSpecError(
                f"distribution {req.name!r} is not installed here; its dependencies are read "
                "from installed metadata to build the Azure ML environment"
            ) from exc
        extras = sorted(req.extras) or [""]
        for line in lines:
            dep = _parse(line, f"the metadata of {req.name}")
            if dep.marker is not None and not any(
                dep.marker.evaluate({**marker_env, "extra": e}) for e in extras
            ):
                continue
            dep.marker = None
            if _is_nerp(dep.name):
                queue.append(dep)
            else:
                _merge(merged, dep)
    return [str(merged[key]) for key in sorted(merged)]


def spec_hash(spec: Mapping[str, object]) -> str:
    """sha256 of canonical JSON, so the same spec always gets the same environment version."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_environment(
    *,
    name: str,
    distributions: Mapping[str, str],
    image: str = DEFAULT_IMAGE,
    python: str = DEFAULT_PYTHON,
    extra_pip: Iterable[str] = (),
    description: str | None = None,
    pin_installed: bool = False,
) -> Environment:
    """An environment (docker image + conda file) for running the given nerp distributions.

    The conda file pins Python and pip-installs the distributions' own dependencies (see
    :func:`pip_requirements`); the version is the hash of image + conda spec.
    ``pin_installed`` also installs each distribution itself (its requirement string, extras
    included) at the version installed here, so the job runs the code that built it.
    """
    from importlib.metadata import version as installed_version

    from azure.ai.ml.entities import Environment

    _check_name(name, "environment")
    if pin_installed:
        pinned = [f"{req}=={installed_version(dist)}" for dist, req in distributions.items()]
        extra_pip = [*extra_pip, *pinned]
    pip = pip_requirements(distributions, python=python, extra=extra_pip)
    conda = {
        "name": name,
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", "pip", {"pip": pip}],
    }
    digest = spec_hash({"image": image, "conda": conda})
    return Environment(
        name=name,
        version=digest[:VERSION_LENGTH],
        image=image,
        conda_file=conda,
        description=description,
        tags={SPEC_HASH_TAG: digest},
    )


def ensure_environment(ml_client: MLClient, env: Environment) -> str:
    """Register ``env`` unless its name and version exist already; returns its reference."""
    from azure.core.exceptions import ResourceNotFoundError

    if not env.name or not env.version:
        raise AzureJobSpecError(
            "environment needs a name and a version to be reused; build it with build_environment"
        )
    try:
        ml_client.environments.get(name=env.name, version=env.version)
    except ResourceNotFoundError:
        created = ml_client.environments.create_or_update(env)
        return asset_ref(created.name or env.name, created.version or env.version)
    return asset_ref(env.name, env.version)
