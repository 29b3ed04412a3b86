"""nerp-eval: Test-set evaluation, latency benchmarks across backends, champion selection and reports."""

from importlib.metadata import version as _version

__version__ = _version("nerp-eval")

__all__ = ["__version__"]
