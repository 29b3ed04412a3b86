"""The import contracts of ARCHITECTURE.md §1 hold, and they bite when broken."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

LINT_IMPORTS = shutil.which("lint-imports")
pytestmark = pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter is not installed")


def _lint(repo: Path) -> subprocess.CompletedProcess[str]:
    src_paths = [str(p) for p in sorted((repo / "packages").glob("*/src"))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(src_paths)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(repo / "pyproject.toml"), "--no-cache"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_contracts_hold_on_an_untouched_copy(workspace_copy: Path) -> None:
    result = _lint(workspace_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        ("nerp_infra/leak.py", "import torch\n", "nerp_infra imports no heavy ML libraries"),
        ("nerp_deploy/leak.py", "import nerp_training\n", "nerp_deploy never imports"),
        ("nerp_deploy/leak.py", "import transformers\n", "only in nerp_deploy.convert"),
        ("nerp_hpo/leak.py", "import nerp_eval\n", "nerp_hpo and nerp_eval are independent"),
        ("nerp_infra/leak.py", "import nerp_training\n", "Layers"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    workspace_copy: Path, module: str, statement: str, contract: str
) -> None:
    package = module.split("/")[0].removeprefix("nerp_")
    (workspace_copy / "packages" / package / "src" / module).write_text(statement)
    result = _lint(workspace_copy)
    assert result.returncode != 0
    assert contract in result.stdout
    assert "BROKEN" in result.stdout
