"""The quiet console: library records and warnings go to the run's log file, nerp's own
warnings (and ``--verbose``: everything) to the console. Each case runs in a fresh
interpreter, since the setup is process-wide."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = """
import logging, sys, warnings
from pathlib import Path
from nerp_infra.console import current_log_file, log_to, setup_console

setup_console(verbose={verbose}, command="demo")
logging.getLogger("mlflow.store.db.utils").info("Creating initial MLflow database tables...")
warnings.warn("a library warning", UserWarning)
logging.getLogger("nerp_training.final").warning("a nerp warning")
logging.getLogger("nerp_training.final").info("a nerp info line")
assert current_log_file() is None
path = log_to(Path(sys.argv[1]))
logging.getLogger("optuna.trial").warning("Trial 3 failed")
from mlflow.utils.logging_utils import eprint
eprint("Successfully registered model 'resume-ner'.")
print(path)
"""


def _run(root: Path, *, verbose: bool) -> tuple[str, Path]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT.format(verbose=verbose)), str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr, Path(result.stdout.strip())


def test_library_messages_go_to_the_log_file_only(tmp_path: Path) -> None:
    stderr, log_file = _run(tmp_path, verbose=False)
    assert log_file.parent == (tmp_path / "logs").absolute()
    assert log_file.name.endswith("-demo.log")
    assert stderr.strip() == "WARNING nerp_training.final: a nerp warning"
    logged = log_file.read_text()
    for line in (
        "INFO mlflow.store.db.utils: Creating initial MLflow database tables...",
        "WARNING py.warnings:",
        "a library warning",
        "WARNING nerp_training.final: a nerp warning",
        "INFO nerp_training.final: a nerp info line",  # logged before the file was opened
        "WARNING optuna.trial: Trial 3 failed",
        "INFO mlflow: Successfully registered model 'resume-ner'.",  # MLflow's own print
    ):
        assert line in logged


def test_verbose_shows_library_messages_on_the_console_too(tmp_path: Path) -> None:
    stderr, log_file = _run(tmp_path, verbose=True)
    for line in (
        "Creating initial MLflow database tables",
        "a library warning",
        "Trial 3 failed",
        "Successfully registered model",
    ):
        assert line in stderr
        assert line in log_file.read_text()


def test_without_setup_nothing_is_redirected(tmp_path: Path) -> None:
    """nerp used as a library (no ``nerp`` host) leaves logging alone."""
    code = "import sys; from nerp_infra.console import log_to; print(log_to(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "None"
    assert not (tmp_path / "logs").exists()
