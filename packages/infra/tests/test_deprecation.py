"""Shims keep old imports working, warn with the replacement and removal release."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

from nerp_infra.deprecation import (
    NerpDeprecationWarning,
    deprecated_names,
    moved_module,
    registered_shims,
)


def test_warning_is_a_future_warning_so_users_see_it() -> None:
    assert issubclass(NerpDeprecationWarning, FutureWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warnings.warn("x", NerpDeprecationWarning, stacklevel=1)
    assert caught, "FutureWarning subclasses are shown by default filters"


def test_deprecated_names_resolves_old_name_with_warning() -> None:
    getter = deprecated_names(
        "nerp_infra.legacy_example",
        since="0.1.0",
        removed_in="0.3.0",
        names={"detect": "nerp_infra.platform:detect_platform"},
    )
    with pytest.warns(NerpDeprecationWarning) as record:
        detect = getter("detect")
    from nerp_infra.platform import detect_platform

    assert detect is detect_platform
    message = str(record[0].message)
    assert "nerp_infra.legacy_example.detect" in message
    assert "nerp_infra.platform.detect_platform" in message
    assert "0.3.0" in message
    assert any(s.old == "nerp_infra.legacy_example.detect" for s in registered_shims())
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        getter("missing")


def test_moved_module_keeps_old_import_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "nerp_old_place.py").write_text(
        "from nerp_infra.deprecation import moved_module\n"
        'moved_module(__name__, "nerp_infra.platform", since="0.1.0", removed_in="0.2.0")\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(NerpDeprecationWarning, match="use nerp_infra.platform instead"):
        import nerp_old_place  # type: ignore[import-not-found]
    with pytest.warns(NerpDeprecationWarning):
        assert nerp_old_place.PLATFORMS[0] == "local"
    shim = next(s for s in registered_shims() if s.old == "nerp_old_place")
    assert shim.kind == "module"
    assert shim.is_due("0.2.0") and not shim.is_due("0.1.5")
    sys.modules.pop("nerp_old_place", None)


def test_removed_in_must_follow_since() -> None:
    with pytest.raises(ValueError, match="must be later than since"):
        moved_module("nerp_x", "nerp_infra", since="0.2.0", removed_in="0.2.0")


def test_project_turns_nerp_deprecations_into_errors() -> None:
    with pytest.raises(NerpDeprecationWarning):
        warnings.warn("old API", NerpDeprecationWarning, stacklevel=1)
