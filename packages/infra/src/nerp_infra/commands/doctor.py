"""``nerp doctor``: what a bug report needs, in one screen."""

from __future__ import annotations

import platform as _platform
import sys

from rich.console import Console
from rich.table import Table

from nerp_infra.platform import detect_platform
from nerp_infra.plugins import (
    DOCTOR_GROUP,
    installed_nerp_distributions,
    installed_version,
    load_group,
)

KEY_LIBRARIES = (
    "torch",
    "transformers",
    "tokenizers",
    "onnxruntime",
    "onnx",
    "optuna",
    "mlflow",
    "pydantic",
    "fastapi",
    "azure-ai-ml",
)


def library_versions() -> dict[str, str | None]:
    """Versions from installed metadata, without importing the (heavy) libraries."""
    return {name: installed_version(name) for name in KEY_LIBRARIES}


def doctor() -> None:
    """Print platform, Python, devices, installed nerp distributions and key library versions."""
    console = Console()
    table = Table(title="nerp doctor", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("platform", detect_platform())
    table.add_row("os", f"{_platform.system()} {_platform.release()} ({_platform.machine()})")
    table.add_row("python", f"{sys.version.split()[0]} ({sys.executable})")
    probes, errors = load_group(DOCTOR_GROUP)
    for name, probe in probes.items():
        try:
            report = probe() if callable(probe) else probe
        except Exception as exc:
            report = {"error": f"{type(exc).__name__}: {exc}"}
        if isinstance(report, dict):
            for key, value in report.items():
                table.add_row(f"{name}.{key}", str(value))
    for error in errors:
        table.add_row("probe error", error.describe())
    for dist, dist_version in installed_nerp_distributions().items():
        table.add_row(dist, dist_version)
    for lib, lib_version in library_versions().items():
        table.add_row(lib, lib_version or "[dim]not installed[/]")
    console.print(table)
