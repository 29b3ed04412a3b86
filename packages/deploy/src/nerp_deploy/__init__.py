"""nerp-deploy: PyTorch to ONNX conversion with int8 and parity checks, a torch-free inference engine, and the HTTP API."""

from importlib.metadata import version as _version

__version__ = _version("nerp-deploy")

__all__ = ["__version__"]
