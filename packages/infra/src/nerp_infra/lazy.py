"""Module ``__getattr__`` for names imported on first use: package ``__init__`` modules
re-export names of modules that load torch, Optuna, onnxruntime or plotly, and importing
the package (e.g. for the CLI host listing commands) must not pay for that."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

__all__ = ["lazy_names"]


def lazy_names(
    module_name: str,
    names: Mapping[str, str],
    *,
    fallback: Callable[[str], object] | None = None,
) -> Callable[[str], object]:
    """A module ``__getattr__`` importing each of ``names`` (name -> defining module) on
    first use; other names go to ``fallback`` (e.g. :func:`deprecated_names`'s getter) or
    raise the usual :class:`AttributeError`."""

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is not None:
            return getattr(importlib.import_module(module), name)
        if fallback is not None:
            return fallback(name)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__
