from __future__ import annotations

import pytest

from nerp_infra.deprecation import lazy_names


def test_lazy_names_imports_on_first_use() -> None:
    getattr_ = lazy_names("pkg", {"dumps": "json"})
    import json

    assert getattr_("dumps") is json.dumps


def test_lazy_names_unknown_name_raises_attribute_error() -> None:
    getattr_ = lazy_names("pkg", {})
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'nope'"):
        getattr_("nope")


def test_lazy_names_falls_back() -> None:
    getattr_ = lazy_names("pkg", {}, fallback=lambda name: f"old {name}")
    assert getattr_("x") == "old x"
