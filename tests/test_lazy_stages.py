"""Running one stage imports only that stage's module: ``nerp pipeline --only report`` on a
machine with every distribution installed loads no torch, transformers or optuna."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("torch", "transformers", "optuna")


def _heavy_modules_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; the heavy modules it left in sys.modules."""
    probe = textwrap.dedent(
        f"""
        import atexit, json, sys
        atexit.register(
            lambda: print("HEAVY=" + json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
        )
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("HEAVY="))
    return list(json.loads(line.removeprefix("HEAVY=")))


def test_the_cli_and_the_report_stage_load_no_heavy_library() -> None:
    assert (
        _heavy_modules_after(
            """
            from nerp_infra.cli import build_app
            from nerp_infra.pipeline.runner import load_stage_functions

            build_app()
            assert callable(load_stage_functions(["report"])["report"])
            """
        )
        == []
    )


def test_pipeline_only_report_runs_without_heavy_libraries(tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    code = f"""
        import sys
        from nerp_infra.cli import main

        sys.argv = ["nerp", "pipeline", "--only", "report", "--output-root", {str(root)!r}]
        try:
            main()
        except SystemExit as exit:
            assert not exit.code, exit.code
        """
    assert _heavy_modules_after(code) == []
    assert list((root / "report").rglob("report.html"))


def test_a_stage_that_needs_optuna_does_load_it() -> None:
    """The probe sees what a stage imports: the hpo stage brings optuna."""
    loaded = _heavy_modules_after(
        """
        from nerp_infra.pipeline.runner import load_stage_functions

        load_stage_functions(["hpo"])
        """
    )
    assert "optuna" in loaded
