"""nerp-eval: test-set evaluation, latency benchmarks, champion selection and reports."""

from importlib.metadata import version as _version

__version__ = _version("nerp-eval")

__all__ = ["__version__"]
