"""Render a report page in headless Chromium and return the DOM it built.

Used by ``nerp report --check`` and the tests: a report whose figures do not draw (a
broken inline script, a missing plotly.js) looks fine as HTML text but is blank in a
browser; the rendered DOM shows plotly's SVGs only when they were really drawn.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from nerp_eval.errors import EvalError

__all__ = ["CHROMIUM_NAMES", "find_chromium", "render_dom"]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The first Chromium-like browser on PATH, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def render_dom(page: Path, *, timeout_s: float = 120.0, browser: str | None = None) -> str:
    """The DOM of ``page`` after its scripts ran (``--dump-dom``), offline and sandboxed
    from the user's profile (a throw-away ``--user-data-dir``)."""
    executable = browser or find_chromium()
    if executable is None:
        raise EvalError(
            "no Chromium found on PATH (looked for " + ", ".join(CHROMIUM_NAMES) + "); install "
            "it (Debian: apt-get install chromium) to check the report renders"
        )
    with tempfile.TemporaryDirectory(prefix="nerp-chromium-") as profile:
        command = [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=10000",
            f"--user-data-dir={profile}",
            "--dump-dom",
            Path(page).absolute().as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise EvalError(
                f"{page}: Chromium did not finish rendering in {timeout_s:.0f}s"
            ) from exc
    if done.returncode != 0 or not done.stdout.strip():
        raise EvalError(
            f"{page}: Chromium failed (exit {done.returncode}): {done.stderr.strip()[-500:]}"
        )
    return done.stdout
