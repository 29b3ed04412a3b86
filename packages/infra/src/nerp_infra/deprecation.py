"""Deprecation shims for moved modules and renamed public names.

A shim keeps old imports working for a while and tells users, with a warning they see by
default (a FutureWarning subclass), what replaces the name and which release removes it.
Shims are declared with literal arguments so the release tooling can find them by reading
the source (``tools/release.py`` refuses a release that is due to drop one).
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from packaging.version import Version

__all__ = [
    "NerpDeprecationWarning",
    "Shim",
    "deprecated_names",
    "deprecated_option",
    "lazy_names",
    "moved_module",
    "registered_shims",
    "warn_deprecated",
]


class NerpDeprecationWarning(FutureWarning):
    """Warns about nerp public API that moved or was renamed; shown to users by default."""


@dataclass(frozen=True)
class Shim:
    """One deprecated public name or module and where it went."""

    old: str
    new: str
    since: str
    removed_in: str
    kind: Literal["name", "module", "option"]

    def message(self) -> str:
        return (
            f"{self.old} is deprecated since {self.since} and will be removed in "
            f"{self.removed_in}; use {self.new} instead"
        )

    def is_due(self, version: str) -> bool:
        """True when ``version`` is the release (or later) that must drop this shim."""
        return Version(version) >= Version(self.removed_in)


_REGISTRY: dict[str, Shim] = {}


def _register(shim: Shim) -> Shim:
    if Version(shim.removed_in) <= Version(shim.since):
        raise ValueError(
            f"shim for {shim.old}: removed_in {shim.removed_in} "
            f"must be later than since {shim.since}"
        )
    _REGISTRY[shim.old] = shim
    return shim


def registered_shims() -> tuple[Shim, ...]:
    """Shims registered by the modules imported so far."""
    return tuple(_REGISTRY.values())


def warn_deprecated(shim: Shim, stacklevel: int = 3) -> None:
    warnings.warn(shim.message(), NerpDeprecationWarning, stacklevel=stacklevel)


def deprecated_option(old: str, new: str, *, since: str, removed_in: str) -> Shim:
    """Register a renamed command-line option; the command calls :func:`warn_deprecated`
    with it when the old spelling is used (the release tool finds it like other shims)."""
    return _register(Shim(old=old, new=new, since=since, removed_in=removed_in, kind="option"))


def _resolve(target: str) -> object:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def deprecated_names(
    module_name: str, *, since: str, removed_in: str, names: Mapping[str, str]
) -> Callable[[str], object]:
    """Build a module ``__getattr__`` that serves renamed names with a warning.

    ``names`` maps each old name to its replacement as ``"package.module:Name"``::

        __getattr__ = deprecated_names(
            __name__, since="0.2.0", removed_in="0.3.0",
            names={"OldName": "nerp_infra.fingerprints:NewName"},
        )
    """
    shims = {
        old: _register(
            Shim(
                old=f"{module_name}.{old}",
                new=new.replace(":", "."),
                since=since,
                removed_in=removed_in,
                kind="name",
            )
        )
        for old, new in names.items()
    }

    def __getattr__(name: str) -> object:
        shim = shims.get(name)
        if shim is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        warn_deprecated(shim)
        return _resolve(names[name])

    return __getattr__


def lazy_names(
    module_name: str, names: Mapping[str, str], *, fallback: Callable[[str], object] | None = None
) -> Callable[[str], object]:
    """A module ``__getattr__`` importing each of ``names`` (name -> defining module) on
    first use, so importing a package does not load torch, Optuna or onnxruntime for the
    names it re-exports; other names go to ``fallback`` (a :func:`deprecated_names` getter)."""

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is not None:
            return getattr(importlib.import_module(module), name)
        if fallback is not None:
            return fallback(name)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__


class _MovedModule(types.ModuleType):
    """Stands in for a moved module: every attribute read warns and delegates."""

    def __init__(self, shim: Shim) -> None:
        super().__init__(shim.old)
        self.__dict__["_nerp_shim"] = shim

    def __getattr__(self, name: str) -> object:
        shim: Shim = self.__dict__["_nerp_shim"]
        warn_deprecated(shim)
        return getattr(importlib.import_module(shim.new), name)


def moved_module(old: str, new: str, *, since: str, removed_in: str) -> None:
    """Turn module ``old`` into a warning alias of ``new``; call it from the old module.

    ``old`` is normally ``__name__`` of the calling module, whose body then holds only
    this call.
    """
    shim = _register(Shim(old=old, new=new, since=since, removed_in=removed_in, kind="module"))
    warn_deprecated(shim, stacklevel=3)
    sys.modules[old] = _MovedModule(shim)
