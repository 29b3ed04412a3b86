"""Schemathesis against a live `nerp serve`: every check, generated requests, no failure.

The request limits are in the OpenAPI schema, so requests generated as valid fit them.
Two statuses are configured rather than defaults, each for a reason a schema cannot hold:
413 is how this API rejects a text, batch or body over its limit (schema-invalid by
``maxLength``/``maxItems``), and an upload's bytes (any ``format: binary`` string is
schema-valid) are only accepted when they are a readable .txt, .pdf or .docx.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Server

ST = str(Path(sys.executable).parent / "st")

CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "404", "405", "406", "413", "415", "422"]

[[operations]]
include-path = "/predict/file"
checks.positive_data_acceptance.expected-statuses = ["200", "413", "415", "422"]
"""


def test_schemathesis_finds_no_failure_with_all_checks(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    result = subprocess.run(
        [
            ST, "--config-file", str(config), "--no-color", "run",
            f"{server.url}/openapi.json",
            "--checks", "all",
            "--max-examples", "100",
            "--seed", "16",
            "--continue-on-failure",
            "--request-timeout", "30",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )  # fmt: skip
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    counts = re.search(r"(\d+) generated, (\d+) passed", report)
    assert counts is not None, report
    assert int(counts[1]) == int(counts[2]) >= 100, report  # every generated case passed
