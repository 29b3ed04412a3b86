"""Smoke check run inside the slim (serving-only) virtual environment.

Proves that `pip install nerp-deploy[serve]` gives a working `nerp` without torch or
transformers installed.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

FORBIDDEN = ("torch", "transformers", "nerp_training", "nerp_hpo", "nerp_eval")


def main() -> int:
    present = [name for name in FORBIDDEN if importlib.util.find_spec(name) is not None]
    if present:
        print(f"slim check: these must not be installed in a serving image: {present}")
        return 1
    nerp = shutil.which("nerp")
    if nerp is None:
        print("slim check: the `nerp` command is not on PATH")
        return 1
    out = subprocess.run([nerp, "--version"], check=True, capture_output=True, text=True).stdout
    print(out)
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    if names != {"nerp-infra", "nerp-deploy"}:
        print(f"slim check: expected exactly nerp-infra and nerp-deploy, got {sorted(names)}")
        return 1
    print(f"slim check passed on Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
