"""Module ``__getattr__`` for names imported on first use.

The package ``__init__`` modules re-export names whose modules pull in heavy libraries
(torch, transformers, Optuna, onnxruntime, plotly). Importing them lazily keeps
``import nerp_<package>`` cheap, e.g. for the CLI host listing commands.
"""

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
    """Build a module ``__getattr__`` that imports each name from its module on first use.

    ``names`` maps a public name to the module that defines it. A name not in it goes to
    ``fallback`` (e.g. a :func:`nerp_infra.deprecation.deprecated_names` getter) or raises
    the usual :class:`AttributeError`::

        __getattr__ = lazy_names(__name__, {"run_study": "nerp_hpo.study"})
    """

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is not None:
            return getattr(importlib.import_module(module), name)
        if fallback is not None:
            return fallback(name)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__
