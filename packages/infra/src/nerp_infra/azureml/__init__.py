"""Azure ML runtime for nerp: workspace client, assets, command jobs, submit-and-wait.

Needs the ``nerp-infra[azure]`` extra; the Azure SDK is imported inside the functions only, so
importing this package (and ``nerp_infra``) works without it.
"""

from nerp_infra.azureml.assets import (
    DEFAULT_IMAGE,
    asset_ref,
    build_environment,
    data_asset_version,
    ensure_data_asset,
    ensure_environment,
    pip_requirements,
)
from nerp_infra.azureml.errors import (
    AzureJobError,
    AzureJobSpecError,
    AzureJobTimeout,
    AzureMLError,
    AzureMLSettingsError,
)
from nerp_infra.azureml.jobs import (
    as_job,
    command_job,
    dump_job_yaml,
    stage_job,
    validate_job_yaml,
    write_job_yamls,
    write_resolved_experiment,
)
from nerp_infra.azureml.outputs import (
    AZUREML_JOB_EXTRA,
    JobProvenance,
    download_job_output,
    import_artifacts,
    record_job_outputs,
)
from nerp_infra.azureml.runtime import TERMINAL_STATUSES, submit_and_wait
from nerp_infra.azureml.workspace import (
    DEFAULT_COMPUTE,
    Workspace,
    WorkspaceSettings,
    connect_workspace,
    create_credential,
    create_ml_client,
    find_config_json,
    load_workspace_settings,
)

__all__ = [
    "AZUREML_JOB_EXTRA",
    "DEFAULT_COMPUTE",
    "DEFAULT_IMAGE",
    "TERMINAL_STATUSES",
    "AzureJobError",
    "AzureJobSpecError",
    "AzureJobTimeout",
    "AzureMLError",
    "AzureMLSettingsError",
    "JobProvenance",
    "Workspace",
    "WorkspaceSettings",
    "as_job",
    "asset_ref",
    "build_environment",
    "command_job",
    "connect_workspace",
    "create_credential",
    "create_ml_client",
    "data_asset_version",
    "download_job_output",
    "dump_job_yaml",
    "ensure_data_asset",
    "ensure_environment",
    "find_config_json",
    "import_artifacts",
    "load_workspace_settings",
    "pip_requirements",
    "record_job_outputs",
    "stage_job",
    "submit_and_wait",
    "validate_job_yaml",
    "write_job_yamls",
    "write_resolved_experiment",
]
