"""A few evaluated documents with their gold spans and predicted entities, for reports.

``examples.json`` in an ``evaluation`` artifact holds up to :data:`MAX_EXAMPLES` documents
of the evaluated data, chosen as a fixed seeded sample of their positions
(``random.Random(EXAMPLES_SEED)``), shown in data order:

- representative: a sample of the documents, not the shortest ones (on real resumes the
  shortest are the atypical ones) and not chosen by how well the model did on them;
- stable: the choice depends only on the number of documents, so every backend and every
  re-run evaluated on the same data shows the same documents side by side.

Spans are end-exclusive character offsets into ``text``; predicted entities are the
served ones (after window merging and decoding) with their confidence.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from nerp_infra.documents import Document, Entity

__all__ = ["EXAMPLES_FILE", "EXAMPLES_FORMAT", "EXAMPLES_SEED", "MAX_EXAMPLES", "examples_payload"]

EXAMPLES_FILE = "examples.json"
EXAMPLES_FORMAT = 1
EXAMPLES_SEED = 0
MAX_EXAMPLES = 5


def sample_positions(
    n_documents: int, k: int = MAX_EXAMPLES, seed: int = EXAMPLES_SEED
) -> list[int]:
    """Positions of the documents shown: a seeded sample of ``k`` of ``n_documents``, sorted."""
    return sorted(random.Random(seed).sample(range(n_documents), min(k, n_documents)))


def examples_payload(
    docs: Sequence[Document], predicted: Sequence[Sequence[Entity]]
) -> dict[str, Any]:
    """The ``examples.json`` content for documents and their predicted entities."""
    positions = sample_positions(len(docs))
    return {
        "format": EXAMPLES_FORMAT,
        "choice": {
            "method": "seeded_sample",
            "seed": EXAMPLES_SEED,
            "max_documents": MAX_EXAMPLES,
            "of_documents": len(docs),
        },
        "documents": [
            {
                "id": docs[i].id,
                "position": i,
                "text": docs[i].text,
                "gold": [s.model_dump(mode="json") for s in docs[i].spans],
                "predicted": [
                    {"start": e.start, "end": e.end, "label": e.label, "confidence": e.confidence}
                    for e in predicted[i]
                ],
            }
            for i in positions
        ],
    }
