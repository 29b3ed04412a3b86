"""nerp-infra.

Configs, documents and BIO labels, fingerprints, artifact manifests and index,
tracking, and the `nerp` CLI host.
"""

from importlib.metadata import version as _version

__version__ = _version("nerp-infra")

__all__ = ["__version__"]
