"""Windows as a torch dataset, and the collator that pads each batch only as far as needed.

Windows are stored unpadded; ``DataCollatorForTokenClassification`` pads a batch to its
longest row (dynamic padding) and pads labels with ``-100`` so padding never counts in
the loss. With length grouping the Trainer's sampler reads ``input_ids`` lengths from
the items, so batches hold windows of similar length and padding nearly vanishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset
from transformers import DataCollatorForTokenClassification

from nerp_training.data.alignment import WindowFeatures

__all__ = ["WindowDataset", "make_collator"]


class WindowDataset(Dataset[dict[str, list[int]]]):
    """Model inputs of windows, in order; the windows keep their document bookkeeping."""

    def __init__(self, windows: Sequence[WindowFeatures]) -> None:
        self.windows = list(windows)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.windows[index].model_inputs()


def make_collator(tokenizer: Any, *, precision: str = "fp32") -> DataCollatorForTokenClassification:
    """Dynamic padding; to a multiple of 8 in half precision, where tensor cores want it."""
    return DataCollatorForTokenClassification(
        tokenizer,
        padding="longest",
        pad_to_multiple_of=8 if precision in ("bf16", "fp16") else None,
        label_pad_token_id=-100,
    )
