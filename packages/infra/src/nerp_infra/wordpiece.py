"""A reproducible WordPiece tokenizer trained on the fly from texts (``tokenizers`` only).

The ``tiny`` backbone of nerp-training and nerp-deploy's toy checkpoint (tests, the slim
nox session, benchmarks) both build their vocabulary here, so a tiny BERT tokenizes the
same way whichever package made it, and deploy gets it without importing nerp-training.

Why the vocabulary is chosen here instead of by ``tokenizers.trainers.WordPieceTrainer``:
that trainer breaks ties between equally frequent merges in hash-map order, which
changes from one process to the next (huggingface/tokenizers#1794), so the same texts
gave different vocabularies, token ids and therefore different fingerprinted runs. The
vocabulary below is a plain, reproducible WordPiece vocabulary (special tokens, the
character alphabet with its ``##`` continuations, then whole words by frequency); the
normaliser, pre-tokeniser, WordPiece model and post-processor are the tokenizers
library's own, exactly as a BERT tokenizer uses them.

``tokenizers`` is not a dependency of nerp-infra (install ``nerp-infra[tokenizers]``);
nothing else in nerp_infra imports this module, and its users depend on it anyway.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tokenizers import (
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
)

__all__ = ["SPECIAL_TOKENS", "TOKEN_ROLES", "resume_pre_tokenizer", "tiny_wordpiece"]

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
TOKEN_ROLES: dict[str, str] = {
    "unk_token": "[UNK]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}
"""The special tokens by role, as keyword arguments of transformers'
``PreTrainedTokenizerFast(tokenizer_object=tiny_wordpiece(...), **TOKEN_ROLES)``."""
_CONTINUATION = "##"


_ISOLATED = r"[^\w@.+\-/]|[.\-/]\z|\A[.\-/]"
"""Characters that become words of their own: punctuation, except ``@ . + - /`` inside a
word, so an email, a phone number, a URL or "B.Tech" stays one word."""


def resume_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Whitespace words, with punctuation split off except inside emails, phones and URLs.

    BERT's pre-tokeniser cuts ``jane@example.com`` into five words and ``433-2131`` into
    three; with labels on first sub-tokens each piece needs its own correct tag, and a
    small model predicted fragments ("@" as an email). Kept whole, such an entity is one
    word with one tag, while "Flowers," and "Engineer." still lose their punctuation.
    """
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(_ISOLATED), behavior="isolated"),
        ]
    )


def _word_counts(texts: Iterable[str]) -> Counter[str]:
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = resume_pre_tokenizer()
    counts: Counter[str] = Counter()
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] is {type(text).__name__}, expected str")
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            counts[word] += 1
    return counts


def _vocabulary(counts: Counter[str], vocab_size: int) -> dict[str, int]:
    """Special tokens, every seen character (alone and as ``##`` piece), frequent words.

    The alphabet is always kept, even past ``vocab_size``, so no character seen in
    training becomes ``[UNK]``; whole words fill what is left, most frequent first with
    ties broken alphabetically so the result depends only on the texts' content.
    """
    alphabet = sorted({char for word in counts for char in word})
    tokens = [*SPECIAL_TOKENS, *alphabet, *(_CONTINUATION + char for char in alphabet)]
    budget = max(vocab_size - len(tokens), 0)
    ranked = sorted(
        (word for word in counts if len(word) > 1), key=lambda word: (-counts[word], word)
    )
    tokens.extend(ranked[:budget])
    return {token: index for index, token in enumerate(tokens)}


def tiny_wordpiece(texts: Iterable[str], *, vocab_size: int) -> Tokenizer:
    """The ``tokenizers`` backend of the tiny tokenizer: uncased BERT WordPiece.

    Deterministic: the same texts (in any order) give the same vocabulary and ids.
    """
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"vocab_size {vocab_size} is too small: it must exceed the special tokens")
    counts = _word_counts(texts)
    if not counts:
        raise ValueError(
            "the tiny backbone trains its tokenizer on the training texts, but the texts "
            "given hold no words"
        )
    vocab = _vocabulary(counts, vocab_size)
    backend = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = resume_pre_tokenizer()
    backend.decoder = decoders.WordPiece(prefix=_CONTINUATION)
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return backend
