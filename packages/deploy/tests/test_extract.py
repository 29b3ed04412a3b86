"""Text extraction from uploads: what each file kind yields and how bad files are named."""

from __future__ import annotations

import pytest

from nerp_deploy.errors import InputError
from nerp_deploy.extract import DOCX_TYPE, detect_kind, extract_text


def test_pdf_text_is_extracted(pdf_bytes: bytes) -> None:
    text, kind = extract_text(pdf_bytes, filename="cv.pdf", content_type="application/pdf")
    assert kind == "pdf"
    assert "Dana Nguyen" in text and "python, docker" in text


def test_docx_paragraphs_are_extracted(docx_bytes: bytes) -> None:
    text, kind = extract_text(docx_bytes, filename="cv.docx", content_type=DOCX_TYPE)
    assert kind == "docx"
    assert text.splitlines()[:2] == ["Name: Dana Nguyen", "Skills: python, docker"]


def test_plain_text_with_bom_is_decoded() -> None:
    text, kind = extract_text(
        "\ufeffName: Zoë".encode(), filename="cv.txt", content_type="text/plain; charset=utf-8"
    )
    assert (text, kind) == ("Name: Zoë", "text")


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "kind"),
    [
        ("cv.pdf", "application/octet-stream", b"%PDF-1.4", "pdf"),
        ("cv.docx", None, b"PK", "docx"),
        ("notes", "text/csv", b"a,b", "text"),
        (None, "application/octet-stream", b"%PDF-1.7 ...", "pdf"),
    ],
)
def test_kind_comes_from_type_then_name_then_magic(
    filename: str | None, content_type: str | None, data: bytes, kind: str
) -> None:
    assert detect_kind(filename, content_type, data) == kind


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "status", "reason"),
    [
        (b"\x89PNG\r\n", "photo.png", "image/png", 415, "unsupported file type 'image/png'"),
        (b"hello", "cv.pdf", "application/pdf", 422, "is not a PDF"),
        (b"%PDF-1.4\n1 0 obj\n<< /Type", "cv.pdf", "application/pdf", 422, "corrupt PDF"),
        (b"PK\x03\x04garbage", "cv.docx", DOCX_TYPE, 422, "corrupt DOCX"),
        (b"plain words", "cv.docx", DOCX_TYPE, 422, "is not a DOCX"),
        (b"caf\xe9", "cv.txt", "text/plain", 422, "is not UTF-8"),
        (b"", "cv.txt", "text/plain", 422, "is empty"),
        (b"   \n ", "cv.txt", "text/plain", 422, "holds no text"),
    ],
)
def test_bad_files_raise_input_errors_naming_the_reason(
    data: bytes, filename: str, content_type: str, status: int, reason: str
) -> None:
    with pytest.raises(InputError) as caught:
        extract_text(data, filename=filename, content_type=content_type)
    assert caught.value.status == status
    assert caught.value.field == "file"
    assert reason in caught.value.reason
