"""Mentions of a gold entity's text that the annotators left unmarked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transformers import TrainerCallback

from nerp_infra.config import ModelConfig, TrainConfig
from nerp_infra.documents import Document, Span
from nerp_infra.labels import LabelScheme
from nerp_training.backbones import build_tokenizer, resolve_backbone
from nerp_training.data.alignment import encode_documents, unmarked_mentions
from nerp_training.trainer.train import train_model

TYPES = ("COMPANY", "LOCATION")
SCHEME = LabelScheme(list(TYPES))


def _doc(doc_id: str, text: str, marks: list[tuple[str, str, int]]) -> Document:
    """Spans by (text, label, occurrence): the n-th occurrence of text in the document."""
    spans = []
    for piece, label, nth in marks:
        start = -1
        for _ in range(nth + 1):
            start = text.index(piece, start + 1)
        spans.append(Span(start=start, end=start + len(piece), label=label))
    return Document(id=doc_id, text=text, spans=spans)


A = _doc(
    "a",
    "Engineer at Infosys Limited, Pune.\nLead at Infosys Limited, Pune.",
    [("Infosys Limited", "COMPANY", 0), ("Pune", "LOCATION", 0), ("Pune", "LOCATION", 1)],
)
B = _doc("b", "Analyst, Tata Consultancy Services - Chennai", [
    ("Tata Consultancy Services", "COMPANY", 0), ("Chennai", "LOCATION", 0)])  # fmt: skip


def test_unmarked_mentions_are_the_repeats_annotators_left_out() -> None:
    ranges = unmarked_mentions(A, TYPES)
    assert [A.text[s:e] for s, e in ranges] == ["Infosys Limited"]
    assert ranges[0][0] == A.text.index("Infosys Limited", 20)
    assert unmarked_mentions(B, TYPES) == []
    assert unmarked_mentions(A, ["LOCATION"]) == []  # only the types asked for


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return build_tokenizer(
        resolve_backbone("tiny"), texts=[A.text, B.text] * 20, vocab_size=200, max_length=64
    )


def test_ignoring_unmarked_mentions_removes_only_their_loss(tokenizer: Any) -> None:
    (plain,) = encode_documents([A], tokenizer, SCHEME, label_all_subtokens=True)
    (ignored,) = encode_documents(
        [A], tokenizer, SCHEME, label_all_subtokens=True, ignore_unmarked=TYPES
    )
    assert plain.tags is not None and ignored.tags is not None
    start, end = unmarked_mentions(A, TYPES)[0]
    inside = [i for i, (a, b) in enumerate(plain.offsets) if a < end and b > start]
    assert inside and all(plain.tags[i] == "O" for i in inside)
    assert all(ignored.tags[i] is None for i in inside)
    outside = [i for i in range(len(plain.tags)) if i not in inside]
    assert [plain.tags[i] for i in outside] == [ignored.tags[i] for i in outside]
    assert any(str(plain.tags[i]).startswith("B-COMPANY") for i in outside)


class _Labels(TrainerCallback):
    """Records the label ids the Trainer trains and validates on."""

    def __init__(self) -> None:
        self.seen: dict[str, list[int]] = {}

    def _record(self, name: str, loader: Any) -> None:
        self.seen[name] = [label for row in loader.dataset for label in row["labels"]]

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._record("train", kwargs["train_dataloader"])

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._record("validation", kwargs["eval_dataloader"])


def test_train_ignore_unmarked_reaches_the_loss_not_validation(
    tmp_path: Path, tiny_model_config: ModelConfig
) -> None:
    runs = {}
    for types in ([], list(TYPES)):
        probe = _Labels()
        train_model(
            train_docs=[A, B],
            eval_docs=[A],
            entity_types=TYPES,
            model_config=tiny_model_config,
            train_config=TrainConfig(epochs=1, ignore_unmarked=types),
            output_dir=tmp_path / str(len(types)),
            save_model=False,
            progress=False,
            callbacks=[probe],
        )
        runs[len(types)] = probe.seen
    plain, ignored = runs[0], runs[len(TYPES)]
    ignored_ids = [i for i, (a, b) in enumerate(zip(plain["train"],
                   ignored["train"], strict=True)) if a != b]  # fmt: skip
    assert ignored_ids and all(ignored["train"][i] == -100 for i in ignored_ids)
    assert plain["validation"] == ignored["validation"]
