"""nerp-training.

Data importers and alignment, splits, synthetic resumes, backbones, trainer, metrics
and the final-training workflow.
"""

from importlib.metadata import version as _version

__version__ = _version("nerp-training")

__all__ = ["__version__"]
