"""Under CI=true a missing PostgreSQL fails the run; elsewhere its tests are skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TEST = "test_storage_workers.py::test_postgresql_url_without_driver_uses_psycopg3"


@pytest.mark.parametrize(("ci", "code", "says"), [("true", 1, "CI=true needs it"), ("", 0, "")])
def test_missing_postgresql_fails_under_ci_and_skips_elsewhere(
    ci: str, code: int, says: str
) -> None:
    env = {
        **os.environ,
        "CI": ci,
        "NERP_TEST_POSTGRES_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", TEST],
        cwd=Path(__file__).parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == code, result.stdout + result.stderr
    assert says in result.stdout
    assert ("1 skipped" in result.stdout) == (ci != "true"), result.stdout
