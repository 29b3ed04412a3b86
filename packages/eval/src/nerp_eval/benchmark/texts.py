"""The texts latency is measured on: the dataset's test documents, else synthetic resumes.

Real test documents give realistic lengths (and so window counts); without a dataset
(a model from elsewhere), deterministic synthetic resumes keep timings comparable from
run to run. Either way every backend and every candidate gets the very same list.
"""

from __future__ import annotations

from collections.abc import Sequence

from nerp_infra.documents import Document

__all__ = ["SYNTHETIC_SEED", "benchmark_texts"]

SYNTHETIC_SEED = 0


def benchmark_texts(n_texts: int, documents: Sequence[Document] | None = None) -> list[str]:
    """Up to ``n_texts`` non-empty texts from ``documents`` (in order), else synthetic."""
    if n_texts < 1:
        raise ValueError(f"n_texts must be >= 1, got {n_texts}")
    texts = [doc.text for doc in documents or () if doc.text.strip()][:n_texts]
    if texts:
        return texts
    from nerp_training.data import synthesize_resumes

    return [doc.text for doc in synthesize_resumes(n_texts, seed=SYNTHETIC_SEED)]
