"""The ONNX engine: same entities as PyTorch, long documents, batching, offsets."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nerp_deploy import OnnxEngine, OnnxPackage, PackageError
from nerp_deploy.convert import entity_f1
from nerp_deploy.predictor import BATCH_TOKENS, Predictor
from nerp_deploy.runtime import (
    OpenVinoRunner,
    OrtRunner,
    bf16_unsupported_reason,
    shares_cores,
    usable_cores,
)
from nerp_infra.documents import Document, Entity
from nerp_infra.labels import EntityFilter
from nerp_infra.model_files import ONNX_INT8_FILE, TOKENIZER_FILE


def _keys(entities: list[Entity]) -> list[tuple[int, int, str]]:
    return [(e.start, e.end, e.label) for e in entities]


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_entities_match_pytorch_decoded_with_the_same_functions(
    variant: str,
    engine_fp32: OnnxEngine,
    engine_int8: OnnxEngine,
    reference: Predictor,
    documents: list[Document],
) -> None:
    engine = engine_fp32 if variant == "fp32" else engine_int8
    texts = [doc.text for doc in documents]
    expected = reference.predict_batch(texts)
    got = engine.predict_batch(texts)
    assert sum(len(e) for e in expected) > 50
    if variant == "fp32":
        assert [_keys(e) for e in got] == [_keys(e) for e in expected]
        for mine, theirs in zip(got, expected, strict=True):
            for a, b in zip(mine, theirs, strict=True):
                assert a.confidence == pytest.approx(b.confidence, abs=1e-4)
    else:
        assert entity_f1(got, expected) >= 0.98


def test_entities_carry_offsets_into_the_original_text(
    engine_int8: OnnxEngine, documents: list[Document]
) -> None:
    predictions = engine_int8.predict_batch([doc.text for doc in documents])
    for doc, entities in zip(documents, predictions, strict=True):
        for entity in entities:
            assert doc.text[entity.start : entity.end] == entity.text
            assert 0.0 < entity.confidence <= 1.0
    gold = [
        [
            Entity(
                text=d.text[s.start : s.end],
                label=s.label,
                start=s.start,
                end=s.end,
                confidence=1.0,
            )
            for s in d.spans
        ]
        for d in documents
    ]
    assert entity_f1(predictions, gold) > 0.9  # the toy model learned its rule end to end


def test_unicode_and_whitespace_offsets(engine_int8: OnnxEngine) -> None:
    text = "  Résumé ✨\n\nName: Dana   Nguyen\t\nSkills: python, docker  "
    entities = engine_int8.predict(text)
    names = [e for e in entities if e.label == "NAME"]
    assert [(e.text, text[e.start : e.end]) for e in names] == [("Dana   Nguyen", "Dana   Nguyen")]
    assert {"python", "docker"} <= {e.text for e in entities if e.label == "SKILL"}
    assert all(text[e.start : e.end] == e.text for e in entities)


def test_empty_and_blank_texts_give_no_entities(engine_int8: OnnxEngine) -> None:
    assert engine_int8.predict("") == []
    assert engine_int8.predict(" \n\t ") == []
    assert engine_int8.predict_batch(["", "Name: Dana Nguyen", ""])[0] == []


def _seam_text(engine: OnnxEngine) -> tuple[str, int, int]:
    """A long text whose name's two tokens straddle the end of the first window."""
    tokenizer = engine.predictor.tokenizer
    last_of_first = tokenizer.max_tokens - 1  # last content token of window [0, max_tokens)
    for n in range(1, 200):
        prefix = " ".join(["planning"] * n) + " Contact "
        text = prefix + "Dana Nguyen in Oslo about sql work. " + "Skills: python, java\n" * 30
        enc = tokenizer.encode([text])[0]
        start = len(prefix)
        first = next(i for i, (a, _) in enumerate(enc.offsets) if a == start)
        if first == last_of_first:
            return text, start, start + len("Dana Nguyen")
    raise AssertionError("could not place the name on the seam")


def test_an_entity_across_a_window_seam_is_found_once(engine_int8: OnnxEngine) -> None:
    text, start, end = _seam_text(engine_int8)
    encoded = engine_int8.predictor.tokenizer.encode([text])[0]
    windows = engine_int8.predictor.tokenizer.windows([encoded])
    assert len(windows) > 3  # long enough for several overlapping windows
    names = [e for e in engine_int8.predict(text) if e.label == "NAME"]
    assert _keys(names) == [(start, end, "NAME")]
    assert names[0].text == "Dana Nguyen"


def test_batching_does_not_change_results(
    engine_int8: OnnxEngine, documents: list[Document]
) -> None:
    texts = [doc.text for doc in documents]
    one_by_one = [engine_int8.predict(t) for t in texts]
    for batch_size in (1, 3, 64, None):
        batched = engine_int8.predict_batch(texts, batch_size=batch_size)
        assert [_keys(e) for e in batched] == [_keys(e) for e in one_by_one]


def test_the_default_batch_is_a_token_budget_not_a_row_count(
    engine_int8: OnnxEngine, documents: list[Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Short windows get more rows per call so the per-call cost is paid as often per token.
    max_length = engine_int8.settings.max_length
    assert engine_int8.batch_size == BATCH_TOKENS // max_length
    tokenizer = engine_int8.predictor.tokenizer
    rows: list[int] = []
    real_batches = tokenizer.batches

    def recording(*args: Any, **kwargs: Any) -> Any:
        for batch in real_batches(*args, **kwargs):
            rows.append(len(batch.windows))
            yield batch

    monkeypatch.setattr(tokenizer, "batches", recording)
    texts = [doc.text for doc in documents]
    engine_int8.predict_batch(texts)
    n_windows = len(tokenizer.windows(tokenizer.encode(texts)))
    assert n_windows > 16  # more than the old fixed 16 rows, so the budget shows
    assert sum(rows) == n_windows
    assert max(rows) == min(n_windows, BATCH_TOKENS // max_length)


def test_batches_are_length_sorted_and_padded_only_to_their_longest(
    engine_int8: OnnxEngine, documents: list[Document]
) -> None:
    tokenizer = engine_int8.predictor.tokenizer
    encoded = tokenizer.encode([doc.text for doc in documents])
    windows = tokenizer.windows(encoded)
    batches = list(tokenizer.batches(encoded, windows, batch_size=4))
    sizes = [w.size for b in batches for w in b.windows]
    assert sizes == sorted(sizes, reverse=True)
    assert sum(len(b.windows) for b in batches) == len(windows)
    for batch in batches:
        assert batch.input_ids.shape[1] == batch.windows[0].size + tokenizer.n_special
        assert batch.attention_mask.sum(axis=1).tolist() == [
            w.size + tokenizer.n_special for w in batch.windows
        ]
    assert batches[-1].input_ids.shape[1] < batches[0].input_ids.shape[1]


def test_special_tokens_frame_every_window(engine_int8: OnnxEngine) -> None:
    tokenizer = engine_int8.predictor.tokenizer
    encoded = tokenizer.encode(["Name: Dana Nguyen"])
    (batch,) = tokenizer.batches(encoded, tokenizer.windows(encoded), batch_size=8)
    cls_id = tokenizer._tokenizer.token_to_id("[CLS]")
    sep_id = tokenizer._tokenizer.token_to_id("[SEP]")
    row = batch.input_ids[0].tolist()
    assert row[0] == cls_id and row[-1] == sep_id and batch.content_start == 1


def test_info_describes_model_labels_settings_and_lineage(
    engine_int8: OnnxEngine, toy_artifact: Path
) -> None:
    from nerp_infra.artifacts import read_manifest

    info = engine_int8.info()
    assert info["model"]["variant"] == "int8"
    # OpenVINO is in the test env; bf16 is offered where the CPU does bf16 arithmetic
    bf16 = ["bf16"] if bf16_unsupported_reason() is None else []
    assert info["model"]["variants"] == ["fp32", "int8", *bf16]
    assert info["model"]["threads"] == 1
    assert info["labels"][0] == "O" and "B-NAME" in info["labels"]
    assert info["settings"]["max_length"] == 64 and info["settings"]["stride"] == 16
    assert info["lineage"] == [read_manifest(toy_artifact).id]
    assert info["versions"]["onnxruntime"] != "absent"
    assert info["parity"]["parity_int8_tag_agreement"] >= 0.95


def test_default_variant_is_int8_and_fp32_can_be_chosen(package_dir: Path) -> None:
    assert OnnxEngine.load(package_dir).variant == "int8"
    assert OnnxEngine.load(package_dir, variant="fp32").variant == "fp32"


def test_loading_the_default_variant_does_not_import_openvino(package_dir: Path) -> None:
    # Only bf16 needs OpenVINO; probing it would load its libraries into every worker.
    code = (
        "import sys; from nerp_deploy import OnnxEngine; "
        f"engine = OnnxEngine.load({str(package_dir)!r}); engine.predict('Dana Nguyen'); "
        "print(engine.variant, 'openvino' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["int8", "False"]


def test_openvino_runner_gives_the_logits_of_onnxruntime_from_any_thread(
    package_dir: Path, engine_fp32: OnnxEngine, documents: list[Document]
) -> None:
    # The runner itself runs on any CPU (bf16 is emulated where the CPU lacks it), so its
    # inputs, outputs and per-thread infer requests are checked everywhere.
    path = package_dir / "model.onnx"
    runner = OpenVinoRunner(path, threads=1, precision="bf16")
    tokenizer = engine_fp32.predictor.tokenizer
    encoded = tokenizer.encode([doc.text for doc in documents[:2]])
    batch = next(iter(tokenizer.batches(encoded, tokenizer.windows(encoded), 4)))
    expected = OrtRunner(path, threads=1)(batch.input_ids, batch.attention_mask)
    got = runner(batch.input_ids, batch.attention_mask)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert (got.argmax(-1) == expected.argmax(-1)).mean() >= 0.95
    # one infer request per thread: concurrent callers get what a lone caller gets
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(lambda _: runner(batch.input_ids, batch.attention_mask), "abcd"))
    for logits in concurrent:
        np.testing.assert_array_equal(logits, got)


def test_openvino_pins_threads_only_when_the_runner_has_every_core(package_dir: Path) -> None:
    # Pinned, each `nerp serve` worker's model thread went to the same first core, so two
    # workers of one thread each shared one core (bf16 served fewer requests than int8).
    path = package_dir / "model.onnx"
    cores = usable_cores()
    whole = OpenVinoRunner(path, threads=None, precision="f32")
    assert whole.compiled.get_property("ENABLE_CPU_PINNING") is True
    share = OpenVinoRunner(path, threads=1, precision="f32")
    assert share.compiled.get_property("ENABLE_CPU_PINNING") is (cores == 1)
    assert shares_cores(1) is (cores > 1) and shares_cores(cores) is False
    assert shares_cores(None) is False


def test_bf16_runs_the_fp32_graph_on_openvino_where_the_cpu_does_bf16(
    package_dir: Path, reference: Predictor, documents: list[Document]
) -> None:
    reason = bf16_unsupported_reason()
    if reason is not None:  # no AMX/AVX512-BF16 here: the variant is refused, saying why
        assert "no bf16 instructions" in reason
        assert OnnxPackage.open(package_dir).variants == ("fp32", "int8")
        with pytest.raises(PackageError, match=r"model\.onnx: variant 'bf16' cannot run here"):
            OnnxEngine.load(package_dir, variant="bf16")
        return
    engine = OnnxEngine.load(package_dir, variant="bf16", threads=1)
    assert isinstance(engine.runner, OpenVinoRunner)
    assert OnnxPackage.open(package_dir).variants == ("fp32", "int8", "bf16")
    info = engine.info()
    assert (info["model"]["variant"], info["model"]["file"]) == ("bf16", "model.onnx")
    assert info["versions"]["openvino"] != "absent"
    texts = [doc.text for doc in documents]
    expected = reference.predict_batch(texts)
    assert entity_f1(engine.predict_batch(texts), expected) >= 0.98
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(engine.predict, texts * 2))
    assert [_keys(e) for e in concurrent] == [_keys(e) for e in engine.predict_batch(texts * 2)]


def test_bf16_without_openvino_names_the_extra_to_install(
    package_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nerp_deploy.runtime

    monkeypatch.setattr(nerp_deploy.runtime, "openvino_available", lambda: False)
    bf16_unsupported_reason.cache_clear()
    try:
        assert OnnxPackage.open(package_dir).variants == ("fp32", "int8")
        with pytest.raises(
            PackageError, match=r"model\.onnx: variant 'bf16' .*nerp-deploy\[openvino\]"
        ):
            OnnxEngine.load(package_dir, variant="bf16")
    finally:
        bf16_unsupported_reason.cache_clear()


def test_package_problems_name_the_file(package_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="does not exist"):
        OnnxPackage.open(tmp_path / "missing")
    copy = tmp_path / "copy"
    shutil.copytree(package_dir, copy)
    (copy / ONNX_INT8_FILE).unlink()
    with pytest.raises(PackageError, match=r"model\.int8\.onnx: variant 'int8' is not in this"):
        OnnxEngine.load(copy, variant="int8")
    assert OnnxEngine.load(copy).variant == "fp32"
    (copy / TOKENIZER_FILE).unlink()
    with pytest.raises(PackageError, match=r"tokenizer\.json: missing"):
        OnnxEngine.load(copy)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        OnnxEngine.load(package_dir, threads=0)


def test_repeat_types_label_every_mention_of_a_found_entity(engine_int8: OnnxEngine) -> None:
    tokenizer = engine_int8.predictor.tokenizer
    name = "Dana Nguyen"
    text = f"{name}\nnotes: {name} ok.\n{name}"
    n_name = tokenizer.encode([name])[0].n_tokens
    labels = engine_int8.predictor.settings.labels

    def first_mention_only(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """A model that tags the text's first tokens as a NAME and nothing else."""
        logits = np.zeros((*input_ids.shape, len(labels)), dtype=np.float32)
        logits[..., 0] = 5.0
        logits[:, 1, labels.index("B-NAME")] = 10.0
        logits[:, 2 : 1 + n_name, labels.index("I-NAME")] = 10.0
        return logits

    settings = engine_int8.predictor.settings
    plain = Predictor(tokenizer, settings, first_mention_only)
    repeats = Predictor(
        tokenizer, settings.model_copy(update={"repeat_types": ("NAME",)}), first_mention_only
    )
    assert _keys(plain.predict(text)) == [(0, len(name), "NAME")]
    starts = [0, text.index(name, 1), text.rindex(name)]
    assert _keys(repeats.predict(text)) == [(s, s + len(name), "NAME") for s in starts]


def _skill_model(
    engine: OnnxEngine, text: str, scores: dict[str, float]
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A model that tags the first mention of each word in ``scores`` as a SKILL with that
    logit (10: probability ~1; 5.5: ~0.6) and everything else as O."""
    offsets = engine.predictor.tokenizer.encode([text])[0].offsets
    labels = engine.predictor.settings.labels

    def run(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        logits = np.zeros((*input_ids.shape, len(labels)), dtype=np.float32)
        logits[..., 0] = 5.0
        for word, score in scores.items():
            start = text.index(word)
            end = start + len(word)
            inside = [i for i, (a, b) in enumerate(offsets) if start <= a < end and b <= end]
            logits[:, inside[0] + 1, labels.index("B-SKILL")] = score
            for i in inside[1:]:
                logits[:, i + 1, labels.index("I-SKILL")] = score
        return logits

    return run


def test_entity_filter_drops_what_its_model_rejects_before_repeats_spread(
    engine_int8: OnnxEngine,
) -> None:
    tokenizer = engine_int8.predictor.tokenizer
    text = "Skills: python, docker. Again python"
    sure_of_both = _skill_model(engine_int8, text, {"python": 12.0, "docker": 12.0})
    settings = engine_int8.predictor.settings.model_copy(update={"repeat_types": ("SKILL",)})
    # keeps a text named twice (mentions log 3: z = +3.0), drops one named once (log 2: -1.1)
    repeated = EntityFilter(weights={"mentions": 10.0}, bias=-8.0)
    filtered = Predictor(tokenizer, settings.model_copy(update={"entity_filter": repeated}),
                         sure_of_both)  # fmt: skip
    assert [e.text for e in Predictor(tokenizer, settings, sure_of_both).predict(text)] == [
        "python",
        "docker",
        "python",
    ]
    assert [e.text for e in filtered.predict(text)] == ["python", "python"]


def test_merge_types_join_a_list_into_one_entity(engine_int8: OnnxEngine) -> None:
    tokenizer = engine_int8.predictor.tokenizer
    text = "Skills: python, docker\nsql"
    each_skill_alone = _skill_model(
        engine_int8, text, {"python": 10.0, "docker": 10.0, "sql": 10.0}
    )

    settings = engine_int8.predictor.settings
    plain = Predictor(tokenizer, settings, each_skill_alone)
    lists = Predictor(
        tokenizer, settings.model_copy(update={"merge_types": ("SKILL",)}), each_skill_alone
    )
    spans = [(text.index(w), text.index(w) + len(w), "SKILL") for w in ("python", "docker", "sql")]
    assert _keys(plain.predict(text)) == spans
    assert _keys(lists.predict(text)) == [(spans[0][0], spans[-1][1], "SKILL")]


def test_join_types_make_the_fragments_of_one_mention_one_entity(engine_int8: OnnxEngine) -> None:
    tokenizer = engine_int8.predictor.tokenizer
    text = "Skills: machine learning, sql\ndocker"
    words = ("machine", "learning", "sql", "docker")
    each_word_alone = _skill_model(engine_int8, text, dict.fromkeys(words, 10.0))

    settings = engine_int8.predictor.settings
    plain = Predictor(tokenizer, settings, each_word_alone)
    joined = Predictor(
        tokenizer, settings.model_copy(update={"join_types": ("SKILL",)}), each_word_alone
    )
    spans = [(text.index(w), text.index(w) + len(w), "SKILL") for w in words]
    assert _keys(plain.predict(text)) == spans
    # only a space between: one mention; a comma or a line break keeps entities apart
    assert _keys(joined.predict(text)) == [(spans[0][0], spans[1][1], "SKILL"), *spans[2:]]


def test_section_types_make_the_text_under_a_heading_one_entity(engine_int8: OnnxEngine) -> None:
    tokenizer = engine_int8.predictor.tokenizer
    text = "Dana\nSKILLS\npython, docker\nsql\nEDUCATION\nB.E."
    python_only = _skill_model(engine_int8, text, {"python": 10.0})  # misses the rest

    settings = engine_int8.predictor.settings
    plain = Predictor(tokenizer, settings, python_only)
    sections = Predictor(
        tokenizer,
        settings.model_copy(update={"section_types": {"SKILL": ("Skills",)}}),
        python_only,
    )
    start = text.index("python")
    assert _keys(plain.predict(text)) == [(start, start + 6, "SKILL")]
    assert _keys(sections.predict(text)) == [(start, text.index("\nEDUCATION"), "SKILL")]


def test_min_confidence_drops_unsure_entities_before_they_spread(engine_int8: OnnxEngine) -> None:
    tokenizer = engine_int8.predictor.tokenizer
    text = "Skills: python, docker. Again python"
    unsure_about_docker = _skill_model(engine_int8, text, {"python": 12.0, "docker": 5.5})

    settings = engine_int8.predictor.settings.model_copy(update={"repeat_types": ("SKILL",)})
    plain = Predictor(tokenizer, settings, unsure_about_docker)
    floors = Predictor(
        tokenizer,
        settings.model_copy(update={"min_confidence": {"SKILL": 0.8}}),
        unsure_about_docker,
    )
    found = plain.predict(text)
    assert [e.text for e in found] == ["python", "docker", "python"]
    docker = next(e for e in found if e.text == "docker")
    assert 0.5 < docker.confidence < 0.8
    kept = floors.predict(text)
    assert [e.text for e in kept] == ["python", "python"]  # the sure one still spreads
