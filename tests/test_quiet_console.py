"""``nerp`` keeps library chatter off the console: a real ``nerp train`` prints nerp's own
lines only and its library messages land in ``<output root>/logs/``; ``nerp --verbose``
shows them too. A real transformers LOAD REPORT (a token-classification head put on a
saved backbone) goes to the log file as well."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

NERP = shutil.which("nerp") or str(Path(sys.executable).with_name("nerp"))
TINY = [
    "--set", "data.synthetic.n_documents=24",
    "--set", "model.max_length=64",
    "--set", "model.stride=8",
    "--set", "model.tiny.hidden_size=32",
    "--set", "model.tiny.intermediate_size=64",
    "--set", "model.tiny.vocab_size=800",
    "--set", "train.epochs=1",
    "--set", "train.batch_size=8",
    "--set", "final_training.source=scratch",
    "--set", "final_training.train_on_validation=false",
]  # fmt: skip
NOISE = (
    "LOAD REPORT",
    "Writing model shards",
    "Loading weights",
    "EarlyStoppingCallback",
    "INFO mlflow",
    "alembic",
    "{'loss'",
)


def _nerp(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([NERP, *args], capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def test_train_prints_only_nerp_lines_and_logs_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    quiet = _nerp("train", *TINY, "--output-root", str(root))
    console = quiet.stdout + quiet.stderr
    for noise in NOISE:
        assert noise not in console, console
    assert "epoch 1/1" in quiet.stderr  # the progress display's epoch line
    assert "trained model-" in quiet.stdout
    [log_file] = (root / "logs").glob("*-train.log")
    logged = log_file.read_text()
    assert "INFO mlflow.store.db.utils: Creating initial MLflow database tables" in logged
    assert "alembic.runtime.migration" in logged

    loud = _nerp("--verbose", "train", *TINY, "--output-root", str(root), "--run-mode", "force_new")
    assert "alembic.runtime.migration" in loud.stderr
    assert len(list((root / "logs").glob("*-train.log"))) == 2


QUIET_SWITCHES = ("HF_HUB_DISABLE_PROGRESS_BARS", "MLFLOW_CONFIGURE_LOGGING")

LOAD_REPORT = """
import logging, sys
from pathlib import Path
from nerp_infra.console import log_to, setup_console

setup_console(verbose={verbose}, command="load")
log_file = log_to(Path(sys.argv[1]))
from transformers import AutoModelForTokenClassification, BertConfig, BertModel

config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=32)
BertModel(config).save_pretrained(sys.argv[1] + "/backbone")
AutoModelForTokenClassification.from_pretrained(sys.argv[1] + "/backbone", num_labels=3)
print(log_file)
"""


def test_a_transformers_load_report_goes_to_the_log_file(tmp_path: Path) -> None:
    # An in-process ``setup_console`` of an earlier test sets the quiet switches in this
    # process's environment; the child must start from the user's environment instead.
    env = {key: value for key, value in os.environ.items() if key not in QUIET_SWITCHES}
    for verbose in (False, True):
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                textwrap.dedent(LOAD_REPORT.format(verbose=verbose)),
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=env,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        log_file = Path(result.stdout.strip().splitlines()[-1])
        assert "LOAD REPORT" in log_file.read_text()
        assert ("LOAD REPORT" in result.stderr) is verbose, result.stderr
        assert ("Writing model shards" in result.stderr) is verbose
        log_file.unlink()
