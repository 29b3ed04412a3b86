"""Text from uploaded files: plain text, PDF (pypdf) and DOCX (python-docx).

The declared type (content type, else file name) says what a file should be and the
first bytes must agree, so a renamed or truncated file is reported as corrupt rather
than fed to the model as garbage. pypdf and python-docx come with the ``[serve]`` extra
and are imported only when such a file arrives.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePath
from typing import Literal

from nerp_deploy.errors import InputError

__all__ = ["DOCX_TYPE", "FileKind", "detect_kind", "extract_text"]

FileKind = Literal["text", "pdf", "docx"]
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_BY_TYPE: dict[str, FileKind] = {
    "text/plain": "text",
    "text/markdown": "text",
    "application/pdf": "pdf",
    DOCX_TYPE: "docx",
}
_BY_SUFFIX: dict[str, FileKind] = {".txt": "text", ".md": "text", ".pdf": "pdf", ".docx": "docx"}
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_SUPPORTED = "plain text (.txt), PDF (.pdf) or Word (.docx)"


def detect_kind(filename: str | None, content_type: str | None, data: bytes) -> FileKind:
    """What the upload claims to be; raises InputError (415) for anything else."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in _BY_TYPE:
        return _BY_TYPE[media]
    suffix = PurePath(filename or "").suffix.lower()
    if media in _GENERIC_TYPES or media.startswith("text/"):
        if suffix in _BY_SUFFIX:
            return _BY_SUFFIX[suffix]
        if media.startswith("text/"):
            return "text"
        if data.startswith(b"%PDF-"):
            return "pdf"
    raise InputError(
        f"unsupported file type {media or '(none)'!r} (name {filename!r}); send {_SUPPORTED}",
        field="file",
        status=415,
    )


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not data.startswith(b"%PDF-"):
        raise InputError("is not a PDF (no %PDF- header); corrupt or mislabelled", field="file")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise InputError("is an encrypted PDF; send it without a password", field="file")
        return "\n".join((page.extract_text() or "") for page in reader.pages)
    except InputError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise InputError(f"is a corrupt PDF: {exc}", field="file") from None


def _docx_text(data: bytes) -> str:
    import docx

    if not data.startswith(b"PK"):
        raise InputError("is not a DOCX (not a zip archive); corrupt or mislabelled", field="file")
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError(f"is a corrupt DOCX: {exc}", field="file") from None
    except Exception as exc:  # python-docx raises its own PackageNotFoundError and others
        raise InputError(f"is a corrupt DOCX: {type(exc).__name__}: {exc}", field="file") from None
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def _plain_text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"is not UTF-8 text (byte {exc.start}: {exc.reason}); send UTF-8", field="file"
        ) from None


def extract_text(
    data: bytes, *, filename: str | None, content_type: str | None
) -> tuple[str, FileKind]:
    """The document text of an upload and its kind; InputError names what is wrong."""
    kind = detect_kind(filename, content_type, data)
    if not data:
        raise InputError("is empty", field="file")
    if kind == "pdf":
        text = _pdf_text(data)
    elif kind == "docx":
        text = _docx_text(data)
    else:
        text = _plain_text(data)
    if not text.strip():
        raise InputError(f"holds no text (a {kind} file with nothing to read)", field="file")
    return text, kind
