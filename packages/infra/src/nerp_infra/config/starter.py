"""``nerp init``: copy the commented default config folder into a user's project."""

from __future__ import annotations

import shutil
from pathlib import Path

from nerp_infra.config.experiment import SECTIONS
from nerp_infra.config.loader import DEFAULTS_DIR

__all__ = ["starter_files", "write_starter"]


def starter_files() -> list[Path]:
    """The shipped default files: experiment.yaml first, then one file per section."""
    return [DEFAULTS_DIR / "experiment.yaml", *(DEFAULTS_DIR / f"{s}.yaml" for s in SECTIONS)]


def write_starter(dir: Path, *, force: bool = False) -> list[Path]:
    """Write the starter config folder into ``dir`` and return the files written.

    The files are the embedded default experiment, so a fresh folder validates and runs
    as is. Without ``force``, if any of the files exists nothing is written.
    """
    target = Path(dir).expanduser()
    sources = starter_files()
    destinations = [target / source.name for source in sources]
    existing = [path for path in destinations if path.exists()]
    if existing and not force:
        names = ", ".join(path.name for path in existing)
        raise FileExistsError(
            f"{target}: {names} already exist{'s' if len(existing) == 1 else ''}; "
            "pass --force to overwrite"
        )
    target.mkdir(parents=True, exist_ok=True)
    for source, destination in zip(sources, destinations, strict=True):
        shutil.copyfile(source, destination)
    return destinations
