"""A quiet console: nerp's own lines on the terminal, library messages in the run's log file.

The ``nerp`` host calls :func:`setup_console` once per process. From then on:

- log records of every logger, and Python warnings (``logging.captureWarnings``), go to a
  log file in the run's folder, ``<output root>/logs/<time>-<command>.log``, opened by
  :func:`log_to` as soon as a command knows its output root (records logged earlier are
  kept and written first);
- the console shows only nerp's own warnings and errors (loggers ``nerp*``) and nerp's
  deprecation warnings, unless ``verbose`` (``nerp --verbose``), which shows every record
  the log file gets;
- the libraries are quietened through their own switches: ``HF_HUB_DISABLE_PROGRESS_BARS``
  (Hugging Face Hub and transformers progress bars), ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR``
  (MLflow's download bars), ``MLFLOW_CONFIGURE_LOGGING=false`` (MLflow adds no stderr
  handler of its own), and the ``disable_default_handler`` / ``enable_propagation``
  switches of ``transformers.utils.logging`` and ``optuna.logging``, applied when those
  modules are imported (nerp-infra never imports them itself). MLflow's direct prints
  (``Successfully registered model``, ``Created version``) become records of the
  ``mlflow`` logger.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import io
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import TextIO

__all__ = [
    "LIBRARY_LOGGERS",
    "LOGS_DIR",
    "current_log_file",
    "log_to",
    "setup_console",
]

LOGS_DIR = "logs"
"""Folder of the log files, under the output root."""

LIBRARY_LOGGERS = (
    "transformers",
    "huggingface_hub",
    "mlflow",
    "alembic",
    "optuna",
    "torch",
    "onnxruntime",
    "urllib3",
    "py.warnings",
)
"""The libraries whose messages go to the log file rather than the console."""

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"
_MAX_PENDING = 10_000
_DEPRECATION_CATEGORY = "NerpDeprecationWarning"

# Environment switches the libraries read when they are imported; a value the user set wins.
_QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
_ALWAYS_ENV = {"MLFLOW_CONFIGURE_LOGGING": "false"}

# Logging modules of libraries that attach their own stderr handler or print to stderr;
# once imported, nerp routes them to the root logger (and so to the log file).
_LIBRARY_LOGGING_MODULES = (
    "transformers.utils.logging",
    "optuna.logging",
    "mlflow.utils.logging_utils",
)


class _ConsoleFilter(logging.Filter):
    """Quiet mode: nerp's own warnings and errors, and nerp's deprecation warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "py.warnings":
            return _DEPRECATION_CATEGORY in record.getMessage()
        return record.name.split(".")[0].startswith("nerp") and record.levelno >= logging.WARNING


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _RunLog(logging.Handler):
    """Holds records until the run's output root is known, then writes them to its log file."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter(_FORMAT))
        self.pending: list[logging.LogRecord] = []
        self.file: logging.FileHandler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.file is not None:
            self.file.handle(record)
        elif len(self.pending) < _MAX_PENDING:
            self.pending.append(record)

    def open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        handler.setFormatter(self.formatter)
        for record in self.pending:
            handler.handle(record)
        self.pending.clear()
        self.file = handler

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        super().close()


class _RouteOnImport(importlib.abc.MetaPathFinder):
    """Applies a library's own logging switches right after its logging module is imported."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _LIBRARY_LOGGING_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _RoutingLoader(fullname, spec.loader.path)
        return spec


class _RoutingLoader(importlib.machinery.SourceFileLoader):
    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        _route_library(module)


class _State:
    verbose = False
    command = "nerp"
    run_log: _RunLog | None = None
    console: logging.Handler | None = None
    finder: _RouteOnImport | None = None


class _LoggerStream(io.TextIOBase):
    """A text stream whose lines become INFO records of a logger."""

    def __init__(self, logger: str) -> None:
        self.logger = logging.getLogger(logger)

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.logger.info(line)
        return len(text)


def _route_library(module: ModuleType) -> None:
    """Send a library's records to the root logger instead of its own stderr handler."""
    if module.__name__ == "mlflow.utils.logging_utils":
        # eprint() writes to this stream (registration messages): make them records too.
        module.MLFLOW_LOGGING_STREAM = _LoggerStream("mlflow")  # type: ignore[attr-defined]
        return
    module.disable_default_handler()
    module.enable_propagation()
    if not _State.verbose and hasattr(module, "disable_progress_bar"):
        module.disable_progress_bar()


def setup_console(*, verbose: bool = False, command: str | None = None) -> None:
    """Route library logs and warnings to the run's log file (see the module docstring);
    ``command`` (``pipeline``, ``train``) names the log file.

    Safe to call again (a later call replaces the earlier handlers and keeps their records).
    """
    _State.verbose = verbose
    _State.command = command or "nerp"
    for name, value in {**_ALWAYS_ENV, **({} if verbose else _QUIET_ENV)}.items():
        os.environ.setdefault(name, value)
    root = logging.getLogger()
    pending: list[logging.LogRecord] = []
    if _State.run_log is not None:
        root.removeHandler(_State.run_log)
        pending = _State.run_log.pending
        _State.run_log.close()
    if _State.console is not None:
        root.removeHandler(_State.console)
    run_log = _RunLog()
    run_log.pending = pending
    console = _StderrHandler()
    console.setFormatter(logging.Formatter(_CONSOLE_FORMAT))
    if verbose:
        console.setLevel(logging.INFO)
    else:
        console.addFilter(_ConsoleFilter())
    root.addHandler(run_log)
    root.addHandler(console)
    root.setLevel(logging.INFO)
    _State.run_log, _State.console = run_log, console
    logging.captureWarnings(True)
    if _State.finder is None:
        _State.finder = _RouteOnImport()
        sys.meta_path.insert(0, _State.finder)
    for name in _LIBRARY_LOGGING_MODULES:
        if name in sys.modules:
            _route_library(sys.modules[name])


def log_to(output_root: Path | str) -> Path | None:
    """Open the log file of this run under ``output_root`` (once per process) and return it;
    ``None`` when :func:`setup_console` was not called (nerp used as a library)."""
    run_log = _State.run_log
    if run_log is None:
        return None
    if run_log.file is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"{stamp}-{_State.command}.log"
        run_log.open(Path(output_root).absolute() / LOGS_DIR / name)
    return current_log_file()


def current_log_file() -> Path | None:
    """The log file records go to, once :func:`log_to` opened it."""
    run_log = _State.run_log
    if run_log is None or run_log.file is None:
        return None
    return Path(run_log.file.baseFilename)
