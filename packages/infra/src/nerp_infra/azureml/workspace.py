"""Azure ML workspace settings and the ``MLClient`` built from them.

Settings come from three places, so the same job builders work from a laptop (``config.json``
downloaded from the portal), from CI (environment variables, service principal) and from a
nerp config section. A missing setting is reported with every place it could have come from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator

from nerp_infra.azureml.errors import AzureMLSettingsError

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential

DEFAULT_COMPUTE = "cpu-cluster"

# Environment variables per setting, in precedence order. The AZUREML_ARM_* names are set by
# Azure ML inside a running job, so a job can submit follow-up jobs without extra settings.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "subscription_id": ("AZURE_SUBSCRIPTION_ID", "AZUREML_ARM_SUBSCRIPTION"),
    "resource_group": ("AZURE_RESOURCE_GROUP", "AZUREML_ARM_RESOURCEGROUP"),
    "workspace_name": ("AZUREML_WORKSPACE_NAME", "AZUREML_ARM_WORKSPACE_NAME"),
    "tenant_id": ("AZURE_TENANT_ID",),
    "client_id": ("AZURE_CLIENT_ID",),
    "client_secret": ("AZURE_CLIENT_SECRET",),
    "compute": ("AZUREML_COMPUTE",),
    "experiment_name": ("AZUREML_EXPERIMENT_NAME",),
}

# Keys of Azure ML's own config.json ("Download config file" in the portal).
CONFIG_JSON_KEYS = ("subscription_id", "resource_group", "workspace_name")

REQUIRED = ("subscription_id", "resource_group", "workspace_name")


class WorkspaceSettings(BaseModel):
    """Where Azure ML jobs go and how nerp authenticates.

    A service principal is used when ``client_secret`` is set (then ``tenant_id`` and
    ``client_id`` are required); otherwise ``DefaultAzureCredential`` (Azure CLI login,
    managed identity — ``client_id`` then selects a user-assigned identity — and so on).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    subscription_id: str
    resource_group: str
    workspace_name: str
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    compute: str = DEFAULT_COMPUTE
    experiment_name: str | None = None

    @model_validator(mode="after")
    def _service_principal_complete(self) -> WorkspaceSettings:
        if self.client_secret is not None:
            missing = [f for f in ("tenant_id", "client_id") if not getattr(self, f)]
            if missing:
                raise ValueError(
                    "client_secret is set (service principal login) but "
                    + " and ".join(missing)
                    + " is missing"
                )
        return self

    @property
    def uses_service_principal(self) -> bool:
        return self.client_secret is not None


def find_config_json(start: Path | None = None) -> Path | None:
    """Find Azure ML's ``config.json`` the way the SDK does: ``start`` and its parents,
    directly or under ``.azureml/``. Returns None when there is none."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for candidate in (folder / "config.json", folder / ".azureml" / "config.json"):
            if candidate.is_file():
                return candidate
    return None


def _read_config_json(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AzureMLSettingsError(f"Azure ML config file {path} does not exist") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise AzureMLSettingsError(f"Azure ML config file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AzureMLSettingsError(
            f"Azure ML config file {path} must hold a JSON object with "
            f"{', '.join(CONFIG_JSON_KEYS)}, got {type(data).__name__}"
        )
    found: dict[str, str] = {}
    for key in CONFIG_JSON_KEYS:
        value = data.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise AzureMLSettingsError(
                f"Azure ML config file {path}: key {key!r} must be a string, "
                f"got {type(value).__name__}"
            )
        found[key] = value
    return found


def _describe_sources(field: str, config_json: Path | None) -> str:
    sources = [f"config key {field!r}"]
    sources += [f"environment variable {name}" for name in ENV_VARS[field]]
    if field in CONFIG_JSON_KEYS:
        where = str(config_json) if config_json is not None else "none given"
        sources.append(f"{field!r} in Azure ML config.json ({where})")
    return ", ".join(sources[:-1]) + " or " + sources[-1]


def load_workspace_settings(
    config: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] = os.environ,
    config_json: Path | None = None,
) -> WorkspaceSettings:
    """Merge workspace settings per field: explicit ``config`` > environment > ``config.json``.

    ``config_json`` is read only when given (see :func:`find_config_json` to locate one), so an
    unrelated ``config.json`` in the working directory is never picked up by accident.
    """
    explicit = dict(config or {})
    unknown = sorted(set(explicit) - set(WorkspaceSettings.model_fields))
    if unknown:
        raise AzureMLSettingsError(
            f"unknown Azure ML setting(s) {', '.join(map(repr, unknown))} in config; "
            f"expected some of {', '.join(WorkspaceSettings.model_fields)}"
        )
    from_file = _read_config_json(config_json) if config_json is not None else {}

    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for field, env_names in ENV_VARS.items():
        if explicit.get(field) not in (None, ""):
            merged[field], origin[field] = explicit[field], f"config key {field!r}"
            continue
        env_name = next((n for n in env_names if environ.get(n)), None)
        if env_name is not None:
            merged[field], origin[field] = environ[env_name], f"environment variable {env_name}"
        elif field in from_file:
            merged[field], origin[field] = from_file[field], f"{config_json}"

    missing = [f for f in REQUIRED if f not in merged]
    if missing:
        lines = [f"  - {f}: set {_describe_sources(f, config_json)}" for f in missing]
        raise AzureMLSettingsError("Azure ML workspace settings are missing:\n" + "\n".join(lines))
    try:
        return WorkspaceSettings(**merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            source = f" (from {origin[field]})" if field in origin else ""
            label = field or "settings"
            problems.append(f"  - {label}{source}: {err['msg']}")
        raise AzureMLSettingsError(
            "Azure ML workspace settings are invalid:\n" + "\n".join(problems)
        ) from exc


def create_credential(settings: WorkspaceSettings) -> TokenCredential:
    """A service principal credential when one is configured, else ``DefaultAzureCredential``."""
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    if settings.client_secret is not None:
        return ClientSecretCredential(
            tenant_id=settings.tenant_id or "",  # both required by the model validator
            client_id=settings.client_id or "",
            client_secret=settings.client_secret.get_secret_value(),
        )
    if settings.client_id:
        return DefaultAzureCredential(managed_identity_client_id=settings.client_id)
    return DefaultAzureCredential()


def create_ml_client(
    settings: WorkspaceSettings,
    *,
    credential: TokenCredential | None = None,
    **client_kwargs: Any,
) -> MLClient:
    """Build an ``MLClient`` for the workspace; nothing is contacted until it is used."""
    from azure.ai.ml import MLClient

    return MLClient(
        credential=credential if credential is not None else create_credential(settings),
        subscription_id=settings.subscription_id,
        resource_group_name=settings.resource_group,
        workspace_name=settings.workspace_name,
        **client_kwargs,
    )


@dataclass(frozen=True)
class Workspace:
    """The settings a job is built with and the client it is submitted through."""

    settings: WorkspaceSettings
    ml_client: MLClient  # or a stand-in with the same surface (tests/support/azureml_local.py)


def connect_workspace() -> Workspace:
    """Settings from the environment or the nearest ``config.json``, and a client for them.

    Every ``--target azureml`` submission goes through here, so one place decides where
    the workspace comes from (and tests can stand in a local client for it).
    """
    settings = load_workspace_settings(config_json=find_config_json())
    return Workspace(settings=settings, ml_client=create_ml_client(settings))
