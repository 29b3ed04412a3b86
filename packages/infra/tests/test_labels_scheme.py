from __future__ import annotations

import json

import pytest

from nerp_infra.labels import IGNORE_INDEX, LabelScheme, split_tag


def test_scheme_orders_labels_o_then_b_i_per_type() -> None:
    scheme = LabelScheme(["NAME", "EMAIL"])
    assert scheme.labels == ("O", "B-NAME", "I-NAME", "B-EMAIL", "I-EMAIL")
    assert scheme.entity_types == ("NAME", "EMAIL")
    assert scheme.label2id == {"O": 0, "B-NAME": 1, "I-NAME": 2, "B-EMAIL": 3, "I-EMAIL": 4}
    assert scheme.id2label[3] == "B-EMAIL"
    assert len(scheme) == 5
    assert "I-NAME" in scheme
    assert "B-PHONE" not in scheme
    assert list(scheme) == list(scheme.labels)


def test_label_maps_are_copies() -> None:
    scheme = LabelScheme(["NAME"])
    scheme.label2id["B-NAME"] = 99
    scheme.id2label[0] = "X"
    assert scheme.label2id["B-NAME"] == 1
    assert scheme.id2label[0] == "O"


def test_dict_round_trip_is_canonical_json() -> None:
    scheme = LabelScheme(["Job title", "SKILL"])
    data = scheme.to_dict()
    assert data == {
        "scheme": "BIO",
        "entity_types": ["Job title", "SKILL"],
        "labels": ["O", "B-Job title", "I-Job title", "B-SKILL", "I-SKILL"],
    }
    restored = LabelScheme.from_dict(json.loads(json.dumps(data)))
    assert restored == scheme
    assert hash(restored) == hash(scheme)
    assert LabelScheme.from_dict({"labels": data["labels"]}) == scheme


def test_from_labels_keeps_a_foreign_order() -> None:
    scheme = LabelScheme.from_labels(["B-SKILL", "I-SKILL", "O", "I-NAME", "B-NAME"])
    assert scheme.label2id["O"] == 2
    assert scheme.entity_types == ("SKILL", "NAME")
    assert scheme != LabelScheme(["SKILL", "NAME"])
    assert LabelScheme.from_dict(scheme.to_dict()) == scheme
    assert "from_labels" in repr(scheme)


@pytest.mark.parametrize(
    ("types", "message"),
    [
        (["NAME", "SKILL", "NAME"], "duplicate entity type.*NAME"),
        (["NAME", ""], "non-empty string"),
        ([" NAME"], "leading/trailing whitespace"),
        (["NA\nME"], "control characters"),
        ([3], "non-empty string"),
    ],
)
def test_bad_entity_types(types: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LabelScheme(types)  # type: ignore[arg-type]


def test_one_string_is_not_a_list_of_types() -> None:
    with pytest.raises(TypeError, match="not one string"):
        LabelScheme("NAME")
    with pytest.raises(TypeError, match="not one string"):
        LabelScheme.from_labels("O")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["B-X", "I-X"], "must include 'O'"),
        (["O", "B-X", "I-X", "B-X"], "duplicate label.*'B-X'"),
        (["O", "B-X"], "not 'I-X'"),
        (["O", "I-X"], "not 'B-X'"),
        (["O", "E-X", "B-X", "I-X"], "invalid BIO tag 'E-X'"),
        (["O", "B-", "I-"], "invalid BIO tag 'B-'"),
        (["O", None], "must be a string"),
    ],
)
def test_bad_label_lists(labels: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LabelScheme.from_labels(labels)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"scheme": "BILOU", "labels": ["O"]}, "field 'scheme': unsupported scheme 'BILOU'"),
        ({"entity_types": ["X"]}, "field 'labels' is required"),
        ({"labels": "O B-X I-X"}, "field 'labels' must be a list"),
        ({"labels": ["O", "B-X"]}, "field 'labels': labels have a tag for 'X'"),
        (
            {"labels": ["O", "B-X", "I-X"], "entity_types": ["Y"]},
            "field 'entity_types'.*does not match",
        ),
        (["O"], "must be an object"),
    ],
)
def test_bad_label_maps_name_the_field(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LabelScheme.from_dict(data)  # type: ignore[arg-type]


def test_tags_to_ids_and_back() -> None:
    scheme = LabelScheme(["NAME"])
    assert scheme.tags_to_ids([None, "B-NAME", "I-NAME", "O", None]) == [
        IGNORE_INDEX,
        1,
        2,
        0,
        IGNORE_INDEX,
    ]
    assert scheme.tags_to_ids([None], ignore_index=-1) == [-1]
    assert scheme.ids_to_tags([0, 1, 2]) == ["O", "B-NAME", "I-NAME"]
    with pytest.raises(ValueError, match="tag 'B-SKILL' at token 1 is not in the label scheme"):
        scheme.tags_to_ids(["O", "B-SKILL"])
    with pytest.raises(ValueError, match="label id 3 at token 0 is outside 0..2"):
        scheme.ids_to_tags([3])
    with pytest.raises(ValueError, match="outside"):
        scheme.ids_to_tags([-100])


@pytest.mark.parametrize(
    ("tag", "parts"),
    [("O", ("O", None)), ("B-NAME", ("B", "NAME")), ("I-Job-title", ("I", "Job-title"))],
)
def test_split_tag(tag: str, parts: tuple[str, str | None]) -> None:
    assert split_tag(tag) == parts


@pytest.mark.parametrize("tag", ["", "o", "B", "B-", "S-NAME", "BNAME", "-NAME"])
def test_split_tag_rejects(tag: str) -> None:
    with pytest.raises(ValueError, match="invalid BIO tag"):
        split_tag(tag)
