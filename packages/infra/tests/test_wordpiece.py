"""The tiny tokenizer trained on the fly: reproducible, tokenizers only."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

from nerp_infra.wordpiece import SPECIAL_TOKENS, tiny_wordpiece

TEXTS = [
    "John Smith is a Senior Python Developer at Acme Corp in London.",
    "Email: john.smith@example.com, Phone: +44 20 7946 0958",
    "Skills: Python, SQL, Kubernetes, Docker, machine learning.",
    "Mary Jones worked as a Data Analyst at Globex for 3 years.",
]


def test_tiny_wordpiece_is_identical_across_processes_without_torch() -> None:
    """The tokenizers trainer differed run to run (hash order); ours must not."""
    script = (
        "import hashlib, json, sys\n"
        "from nerp_infra.wordpiece import tiny_wordpiece\n"
        "backend = tiny_wordpiece(json.loads(sys.argv[1]), vocab_size=150)\n"
        "print(hashlib.sha256(backend.to_str().encode()).hexdigest())\n"
        "print('transformers' in sys.modules, 'torch' in sys.modules)\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, json.dumps(TEXTS)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split("\n")
        for _ in range(2)
    ]
    here = tiny_wordpiece(TEXTS, vocab_size=150)
    digests = {run[0] for run in runs} | {hashlib.sha256(here.to_str().encode()).hexdigest()}
    assert len(digests) == 1
    assert runs[0][1] == "False False"  # building the vocabulary needs no torch/transformers


def test_special_tokens_come_first_and_wrap_each_text() -> None:
    backend = tiny_wordpiece(TEXTS, vocab_size=10)  # the alphabet only: words in pieces
    assert [backend.id_to_token(i) for i in range(len(SPECIAL_TOKENS))] == list(SPECIAL_TOKENS)
    encoded = backend.encode("john.smith@example.com Python")
    assert encoded.tokens[0] == "[CLS]" and encoded.tokens[-1] == "[SEP]"
    assert encoded.tokens[1:4] == ["j", "##o", "##h"]
    assert len(encoded.tokens) == 2 + len("john.smith@example.com") + len("python")
    assert len(set(encoded.word_ids[1:-1])) == 2  # two words: the email is kept whole
