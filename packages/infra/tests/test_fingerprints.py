from __future__ import annotations

import hashlib
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from pydantic import BaseModel

from nerp_infra.fingerprints import (
    bench_fp,
    canonical_json,
    conv_fp,
    data_fp,
    exec_fp,
    fingerprint,
    runtime_versions,
    short,
    spec_fp,
)

LABELS = {"O": 0, "B-NAME": 1, "I-NAME": 2}


class Train(BaseModel):
    lr: float
    epochs: int
    out: Path


def test_canonical_json_is_compact_sorted_and_normalised() -> None:
    value = {"b": 1, "a": [1.0, (2, 3)], "p": Path("x") / "y.json", "s": {"z", "y"}}
    assert canonical_json(value) == '{"a":[1.0,[2,3]],"b":1,"p":"x/y.json","s":["y","z"]}'
    assert fingerprint(value) == hashlib.sha256(canonical_json(value).encode()).hexdigest()


def test_key_order_does_not_matter() -> None:
    one = {"train": {"lr": 1e-4, "epochs": 3}, "seed": 7}
    two = {"seed": 7, "train": {"epochs": 3, "lr": 1e-4}}
    assert fingerprint(one) == fingerprint(two)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (0.1 + 0.2, 0.3),
        (1e-3, 0.001),
        (-0.0, 0.0),
        (2e-5, float("2.0000000000001e-05")),
    ],
)
def test_floats_are_normalised(left: float, right: float) -> None:
    assert fingerprint({"x": left}) == fingerprint({"x": right})


def test_really_different_floats_differ() -> None:
    assert fingerprint({"lr": 2e-5}) != fingerprint({"lr": 3e-5})
    assert fingerprint({"lr": 1.0}) != fingerprint({"lr": 1.0001})


def test_tuples_lists_paths_and_models_normalise_alike(tmp_path: Path) -> None:
    model = Train(lr=0.1, epochs=2, out=tmp_path / "o")
    as_dict = {"lr": 0.1, "epochs": 2, "out": (tmp_path / "o").as_posix()}
    assert fingerprint(model) == fingerprint(as_dict)
    assert fingerprint((1, 2)) == fingerprint([1, 2])


def test_bad_values_are_reported_with_their_location() -> None:
    with pytest.raises(ValueError, match=r"\$\.train\.lr: non-finite float nan"):
        canonical_json({"train": {"lr": float("nan")}})
    with pytest.raises(TypeError, match=r"\$\.model\[1\]: unsupported type bytes"):
        canonical_json({"model": [1, b"x"]})
    with pytest.raises(TypeError, match=r"mapping key \(1, 2\) is a tuple"):
        canonical_json({(1, 2): "x"})
    with pytest.raises(ValueError, match="key '1' appears twice"):
        canonical_json({1: "a", "1": "b"})


def _spec(**changes: object) -> str:
    base: dict[str, object] = {
        "data_fp": "ab" * 32,
        "backbone": "minilm",
        "model": {"dropout": 0.1},
        "train": {"lr": 5e-5, "epochs": 3, "batch_size": 16},
        "seed": 13,
    }
    base.update(changes)
    return spec_fp(**base)  # type: ignore[arg-type]


def test_spec_fp_is_stable_and_tracks_every_input() -> None:
    assert _spec() == _spec()
    assert _spec(train={"epochs": 3, "batch_size": 16, "lr": 5.0e-5}) == _spec()
    variants = {
        _spec(),
        _spec(train={"lr": 3e-5, "epochs": 3, "batch_size": 16}),
        _spec(model={"dropout": 0.2}),
        _spec(seed=14),
        _spec(backbone="bert-tiny"),
        _spec(data_fp="cd" * 32),
    }
    assert len(variants) == 6


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_data_fp_depends_on_content_names_and_labels_not_location(tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "elsewhere" / "b"
    for root in (a, b):
        _write(root / "train.jsonl", '{"text": "Ann"}\n')
        _write(root / "val.jsonl", '{"text": "Bob"}\n')
    fp_a = data_fp([a / "train.jsonl", a / "val.jsonl"], LABELS)
    assert fp_a == data_fp([b / "val.jsonl", b / "train.jsonl"], LABELS)
    assert fp_a == data_fp([a], LABELS)  # a folder means the files under it

    assert fp_a != data_fp([a], {**LABELS, "B-EMAIL": 3})
    (b / "val.jsonl").rename(b / "test.jsonl")
    assert fp_a != data_fp([b], LABELS)
    _write(a / "val.jsonl", '{"text": "Bo"}\n')
    assert fp_a != data_fp([a], LABELS)


def test_data_fp_with_explicit_root_and_errors(tmp_path: Path) -> None:
    file = _write(tmp_path / "data" / "train.jsonl", "{}\n")
    assert data_fp([file], LABELS) == data_fp([file], LABELS, root=tmp_path / "data")
    assert data_fp([file], LABELS) != data_fp([file], LABELS, root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"missing\.jsonl does not exist"):
        data_fp([tmp_path / "missing.jsonl"], LABELS)
    with pytest.raises(ValueError, match="is not under the data_fp root"):
        data_fp([file], LABELS, root=tmp_path / "other")


def test_exec_fp_tracks_precision_device_and_versions() -> None:
    base = exec_fp(precision="fp32", device_type="cpu")
    assert base == exec_fp(precision="fp32", device_type="cpu")
    assert base != exec_fp(precision="bf16", device_type="cpu")
    assert base != exec_fp(precision="fp32", device_type="cuda")
    assert base != exec_fp(precision="fp32", device_type="cpu", extra_versions={"cuda": "12.4"})
    bumped = {"nerp-infra": version("nerp-infra") + ".post1"}
    assert base != exec_fp(precision="fp32", device_type="cpu", extra_versions=bumped)


def test_runtime_versions_come_from_metadata_without_importing_torch() -> None:
    versions = runtime_versions()
    assert versions["nerp-infra"] == version("nerp-infra")
    assert set(versions) >= {"torch", "transformers"}
    code = (
        "import sys; from nerp_infra.fingerprints import exec_fp, runtime_versions\n"
        "exec_fp(precision='fp32', device_type='cpu'); print(runtime_versions()['torch'])\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == versions["torch"]


def test_conv_and_bench_fingerprints() -> None:
    settings = {"opset": 17, "int8": True}
    assert conv_fp(model_artifact_id="model-1", settings=settings) != conv_fp(
        model_artifact_id="model-2", settings=settings
    )
    assert bench_fp(artifact_ids=["b", "a"], settings={"runs": 10}) == bench_fp(
        artifact_ids=["a", "b"], settings={"runs": 10}
    )
    assert bench_fp(artifact_ids=["a"], settings={"runs": 10}) != bench_fp(
        artifact_ids=["a"], settings={"runs": 11}
    )
    # fingerprint kinds are domain-separated: same payload, different kinds
    assert conv_fp(model_artifact_id="a", settings={}) != bench_fp(artifact_ids=["a"], settings={})


def test_short() -> None:
    fp = fingerprint("x")
    assert short(fp) == fp[:8]
    assert short(fp, 12) == fp[:12]
    with pytest.raises(ValueError, match="not a hex fingerprint"):
        short("xyz")
