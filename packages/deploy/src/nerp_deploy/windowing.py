"""Tokenise texts with offsets and cut them into the model's overlapping windows.

The window plan comes from ``nerp_infra.labels.plan_windows``, the function training
uses, so serving sees the same cuts the model was trained on. Windows of many documents
are then sorted by length and padded per batch: padding to the longest window in a batch
of similar lengths wastes far less compute than padding every document to ``max_length``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from nerp_deploy.errors import PackageError
from nerp_infra.labels import plan_windows, special_template
from nerp_infra.model_files import InferenceSettings

__all__ = ["EncodedText", "Window", "WindowBatch", "WindowTokenizer"]

_PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>")


@dataclass(frozen=True)
class EncodedText:
    """A whole text's content tokens (no special tokens) with character offsets and word ids."""

    text: str
    ids: np.ndarray
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]

    @property
    def n_tokens(self) -> int:
        return len(self.offsets)


@dataclass(frozen=True)
class Window:
    """Content tokens ``[start, end)`` of text number ``doc`` that one model row sees."""

    doc: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class WindowBatch:
    """Padded model inputs for some windows; each row's content starts at ``content_start``."""

    windows: list[Window]
    input_ids: np.ndarray
    attention_mask: np.ndarray
    content_start: int


class WindowTokenizer:
    """A fast tokenizer plus the window settings of one model."""

    def __init__(self, tokenizer: Tokenizer, settings: InferenceSettings) -> None:
        self._pad_id = self._find_pad_id(tokenizer)
        tokenizer.no_truncation()  # windows do the cutting; a saved truncation would drop text
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self.settings = settings
        self._prefix, self._suffix = special_template(tokenizer)
        self.max_tokens = settings.max_length - len(self._prefix) - len(self._suffix)
        if self.max_tokens <= settings.stride:
            raise PackageError(
                f"max_length {settings.max_length} leaves {self.max_tokens} content tokens after "
                f"{len(self._prefix) + len(self._suffix)} special tokens, not more than stride "
                f"{settings.stride}; windows would not advance"
            )

    @classmethod
    def from_file(cls, path: Path, settings: InferenceSettings) -> WindowTokenizer:
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception for bad files
            raise PackageError(f"{path}: cannot load the tokenizer: {exc}") from exc
        return cls(tokenizer, settings)

    @staticmethod
    def _find_pad_id(tokenizer: Tokenizer) -> int:
        # Padded positions are masked out, so the id only has to be a valid one.
        if tokenizer.padding is not None:
            return int(tokenizer.padding["pad_id"])
        for token in _PAD_TOKENS:
            token_id = tokenizer.token_to_id(token)
            if token_id is not None:
                return token_id
        return 0

    @property
    def n_special(self) -> int:
        return len(self._prefix) + len(self._suffix)

    def encode(self, texts: Sequence[str]) -> list[EncodedText]:
        """Tokenise many texts at once (the Rust side runs them in parallel)."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [
            EncodedText(
                text=text,
                ids=np.asarray(enc.ids, dtype=np.int64),
                offsets=enc.offsets,  # already a fresh list of (int, int) per call
                word_ids=enc.word_ids,
            )
            for text, enc in zip(texts, encodings, strict=True)
        ]

    def windows(self, encoded: Sequence[EncodedText]) -> list[Window]:
        """Every window of every text, in text order; a text without tokens has none."""
        return [
            Window(doc, start, end)
            for doc, enc in enumerate(encoded)
            for start, end in plan_windows(enc.n_tokens, self.max_tokens, self.settings.stride)
        ]

    def batches(
        self, encoded: Sequence[EncodedText], windows: Sequence[Window], batch_size: int
    ) -> Iterator[WindowBatch]:
        """Padded batches of windows, longest first, each padded only to its own longest row."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ordered = sorted(windows, key=lambda w: -w.size)
        prefix = np.asarray(self._prefix, dtype=np.int64)
        suffix = np.asarray(self._suffix, dtype=np.int64)
        for first in range(0, len(ordered), batch_size):
            chunk = ordered[first : first + batch_size]
            width = chunk[0].size + self.n_special
            input_ids = np.full((len(chunk), width), self._pad_id, dtype=np.int64)
            attention_mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, window in enumerate(chunk):
                ids = encoded[window.doc].ids[window.start : window.end]
                full = np.concatenate([prefix, ids, suffix])
                input_ids[row, : full.size] = full
                attention_mask[row, : full.size] = 1
            yield WindowBatch(chunk, input_ids, attention_mask, content_start=len(self._prefix))
