"""What is evaluated or timed: a PyTorch checkpoint or one variant of an ONNX package.

Every backend runs through nerp-deploy's :class:`~nerp_deploy.predictor.Predictor`
(same tokenizer file, windows, merging and BIO decoding), so when torch, ONNX fp32 and
ONNX int8 differ in scores or speed the difference is the model backend and nothing else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from nerp_deploy.errors import DeployError
from nerp_deploy.package import VARIANT_FILES, OnnxPackage, Variant
from nerp_eval.errors import EvalError
from nerp_infra.artifacts import Manifest
from nerp_infra.config import Backend
from nerp_infra.deprecation import deprecated_names
from nerp_infra.model_files import CHECKPOINT_DIR, InferenceSettings
from nerp_infra.paths import backbone_component as _backbone_component

if TYPE_CHECKING:
    from nerp_deploy.predictor import Predictor

__all__ = [
    "BACKENDS",
    "InferenceTarget",
    "open_predictor",
    "resolve_target",
    "resolve_targets",
    "torch_threads",
]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={"backbone_component": "nerp_infra.paths:backbone_component"},
)

BACKENDS: tuple[Backend, ...] = get_args(Backend)
_ONNX_VARIANT: dict[Backend, Variant] = {
    "onnx_fp32": "fp32",
    "onnx_int8": "int8",
    "openvino_bf16": "bf16",
}
_BACKEND_OF: dict[Variant, Backend] = {v: b for b, v in _ONNX_VARIANT.items()}


@dataclass(frozen=True)
class InferenceTarget:
    """One model on one backend, with the artifact it came from (for lineage and names)."""

    backend: Backend
    path: Path
    """The HF checkpoint folder (torch) or the package folder (onnx)."""
    artifact_id: str
    backbone: str
    settings: InferenceSettings
    manifest: Manifest | None = None
    artifact_dir: Path | None = None

    @property
    def label(self) -> str:
        return f"{self.backbone}/{self.backend}"

    def spec_fp(self) -> str | None:
        """The trained model's spec fingerprint when the manifests say it (for run names)."""
        if self.manifest is None:
            return None
        return self.manifest.fingerprints.get("spec_fp")


def _is_package(path: Path) -> bool:
    return any((path / name).is_file() for name in VARIANT_FILES.values())


def _backbone_name(settings: InferenceSettings, manifest: Manifest | None) -> str:
    name = (manifest.backbone if manifest is not None else "") or settings.backbone
    return _backbone_component(name) if name else "unknown"


def _package_targets(path: Path, backends: tuple[Backend, ...]) -> list[InferenceTarget]:
    try:
        package = OnnxPackage.open(path)
    except DeployError as exc:
        raise EvalError(str(exc)) from exc
    manifest = package.manifest
    targets = []
    for backend in backends:
        variant = _ONNX_VARIANT.get(backend)
        if variant is None:
            raise EvalError(
                f"{path}: is an ONNX package; backend {backend!r} needs a PyTorch checkpoint "
                "(pass the model artifact instead)"
            )
        try:  # the package's own check: a missing file, or bf16 where it cannot run
            package.model_path(variant)
        except DeployError as exc:
            raise EvalError(str(exc)) from exc
        targets.append(
            InferenceTarget(
                backend=backend,
                path=path,
                artifact_id=manifest.id if manifest else f"package:{path.resolve()}",
                backbone=_backbone_name(package.settings, manifest),
                settings=package.settings,
                manifest=manifest,
                artifact_dir=path,
            )
        )
    return targets


def _checkpoint_target(path: Path) -> InferenceTarget:
    from nerp_deploy.convert import resolve_checkpoint

    try:
        checkpoint = resolve_checkpoint(path)
    except DeployError as exc:
        raise EvalError(str(exc)) from exc
    artifact_dir = checkpoint.model_dir.parent if path != checkpoint.model_dir else None
    return InferenceTarget(
        backend="torch",
        path=checkpoint.model_dir,
        artifact_id=checkpoint.artifact_id,
        backbone=_backbone_name(checkpoint.settings, checkpoint.manifest),
        settings=checkpoint.settings,
        manifest=checkpoint.manifest,
        artifact_dir=artifact_dir,
    )


def resolve_targets(path: str | Path, backends: tuple[Backend, ...] = ()) -> list[InferenceTarget]:
    """The targets a folder offers: a model artifact (or its ``model/`` folder) gives
    ``torch``; an ONNX package gives ``onnx_fp32`` / ``onnx_int8`` / ``openvino_bf16``.

    ``backends`` empty means the folder's natural choice: torch for a checkpoint, the
    package's default variant (int8 when present) for a package.
    """
    path = Path(path)
    if not path.is_dir():
        raise EvalError(f"{path}: no such folder; pass a model artifact or an ONNX package")
    if _is_package(path):
        if not backends:
            try:
                variant = OnnxPackage.open(path).default_variant
            except DeployError as exc:
                raise EvalError(str(exc)) from exc
            backends = (_BACKEND_OF[variant],)
        return _package_targets(path, backends)
    if not (path / CHECKPOINT_DIR).is_dir() and not (path / "config.json").is_file():
        raise EvalError(
            f"{path}: neither an ONNX package (model.onnx / model.int8.onnx) nor a model "
            f"artifact ({CHECKPOINT_DIR}/ with config.json, weights and tokenizer.json)"
        )
    bad = [b for b in backends if b != "torch"]
    if bad:
        raise EvalError(
            f"{path}: is a PyTorch checkpoint; backend {bad[0]!r} needs an ONNX package "
            "(make one with `nerp convert`)"
        )
    return [_checkpoint_target(path)]


def resolve_target(path: str | Path, backend: Backend | None = None) -> InferenceTarget:
    """One target from a folder (see :func:`resolve_targets`)."""
    return resolve_targets(path, (backend,) if backend else ())[0]


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run a block with torch's intra-op threads set, restoring the previous count after."""
    if threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def open_predictor(target: InferenceTarget, *, threads: int | None = None) -> Predictor:
    """A predictor for the target; ONNX sessions get ``threads`` intra-op threads (torch
    threads are set around the calls with :func:`torch_threads`)."""
    from nerp_deploy.predictor import Predictor
    from nerp_deploy.runtime import open_runner
    from nerp_deploy.windowing import WindowTokenizer

    try:
        if target.backend == "torch":
            from nerp_deploy.convert import torch_predictor

            return torch_predictor(target.path, target.settings)
        package = OnnxPackage.open(target.path)
        variant = _ONNX_VARIANT[target.backend]
        runner = open_runner(package.model_path(variant), variant, threads=threads)
        tokenizer = WindowTokenizer.from_file(package.tokenizer_path, package.settings)
        return Predictor(tokenizer, package.settings, runner)
    except DeployError as exc:
        raise EvalError(str(exc)) from exc
