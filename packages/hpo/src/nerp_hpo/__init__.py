"""nerp-hpo: Optuna studies with k-fold CV, pruning, refit, resumable and distributed workers, and study reports."""

from importlib.metadata import version as _version

__version__ = _version("nerp-hpo")

__all__ = ["__version__"]
