"""nerp-deploy: ONNX conversion, a torch-free inference engine, and the HTTP API.

The base install (onnxruntime, tokenizers, numpy) gives :class:`OnnxEngine`. The HTTP
app needs the ``[serve]`` extra and conversion the ``[convert]`` extra; neither is
imported here, so ``import nerp_deploy`` never pulls in FastAPI or torch. ``create_app``
is resolved on first use.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from nerp_deploy.engine import OnnxEngine
from nerp_deploy.errors import DeployError, InputError, PackageError
from nerp_deploy.package import OnnxPackage
from nerp_deploy.serve.settings import ServeSettings
from nerp_infra.deprecation import lazy_names

if TYPE_CHECKING:
    from nerp_deploy.serve.app import create_app

__version__ = _version("nerp-deploy")

__all__ = [
    "DeployError",
    "InputError",
    "OnnxEngine",
    "OnnxPackage",
    "PackageError",
    "ServeSettings",
    "__version__",
    "create_app",
]

__getattr__ = lazy_names(__name__, {"create_app": "nerp_deploy.serve.app"})
