"""The FastAPI app: health, info and prediction over an ONNX package.

Every bad request gets a 4xx with one JSON shape, ``{"error": {"status", "type",
"field", "message"}}``, naming the request part and the reason; a 500 means a bug in the
server, never bad input. Inference is blocking numpy/onnxruntime work and runs in the
thread pool so the event loop keeps answering (``/health`` stays fast under load).

With several uvicorn workers each process builds its own app through
:func:`app_from_env`, which reads the settings that ``nerp serve`` put in the environment.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from nerp_deploy.engine import OnnxEngine
from nerp_deploy.errors import InputError
from nerp_deploy.extract import extract_text
from nerp_deploy.serve.settings import ServeSettings
from nerp_infra.documents import Entity

__all__ = ["app_from_env", "create_app"]

_JSON_ROUTES = frozenset({"/predict", "/predict/batch"})
_FILE_ROUTE = "/predict/file"


class PredictRequest(BaseModel):
    text: str = Field(description="the document text; entity offsets index into it")


class BatchRequest(BaseModel):
    texts: list[str] = Field(description="document texts, predicted together")


class PredictResponse(BaseModel):
    entities: list[Entity]


class BatchResponse(BaseModel):
    results: list[PredictResponse] = Field(description="one result per text, in order")


class FileResponse(BaseModel):
    filename: str | None
    kind: str = Field(description="text, pdf or docx")
    text: str = Field(description="text extracted from the file; entity offsets index into it")
    entities: list[Entity]


class ErrorDetail(BaseModel):
    status: int
    type: str
    field: str | None = Field(description="request part at fault, e.g. 'text' or 'texts[2]'")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (413, "text, batch or file over its size limit"),
        (415, "wrong content type or unsupported file type"),
        (422, "empty, malformed or corrupt input"),
    )
}

_TYPES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
}


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorDetail(
            status=status, type=_TYPES.get(status, "error"), field=field, message=message
        )
    )
    return JSONResponse(status_code=status, content=body.model_dump())


class _ContentTypeGuard:
    """415 before FastAPI parses a body it would misread (JSON routes, the upload route).

    Pure ASGI rather than BaseHTTPMiddleware, so streaming bodies pass through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"].rstrip("/") or "/"
            headers = dict(scope["headers"])
            media = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip()
            problem = None
            if path in _JSON_ROUTES and not (
                media == "application/json" or media.endswith("+json")
            ):
                problem = f"content type {media or '(none)'!r}; send application/json"
            elif path == _FILE_ROUTE and media != "multipart/form-data":
                problem = (
                    f"content type {media or '(none)'!r}; upload the file as "
                    "multipart/form-data in the part 'file'"
                )
            if problem is not None:
                await _error(415, problem, "content-type")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _field_name(loc: tuple[Any, ...]) -> str | None:
    parts = [part for part in loc if part != "body"]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or ("body" if loc else None)


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def create_app(settings: ServeSettings, *, engine: OnnxEngine | None = None) -> FastAPI:
    """Build the API for ``settings.package`` (or an already loaded ``engine``)."""
    engine = engine or OnnxEngine.load(
        settings.package, variant=settings.variant, threads=settings.threads
    )
    info = engine.info()
    app = FastAPI(
        title="nerp",
        summary="Named-entity recognition for resumes",
        version=_version("nerp-deploy"),
        description=(
            f"Serving {info['model']['backbone'] or 'a model'} ({engine.variant}); entity "
            f"types: {', '.join(info['entity_types'])}."
        ),
    )
    app.state.engine = engine
    app.state.settings = settings
    app.add_middleware(_ContentTypeGuard)

    @app.exception_handler(InputError)
    async def _input_error(_: Request, exc: InputError) -> JSONResponse:
        return _error(exc.status, exc.reason, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first: dict[str, Any] = dict(errors[0]) if errors else {}
        field = _field_name(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid request"))
        if first.get("type") == "json_invalid":
            context = first.get("ctx") or {}
            message = f"body is not valid JSON: {context.get('error', message)}"
            field = "body"
        elif first.get("type") == "missing":
            message = "is required"
        return _error(422, message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    def check_text(text: str, field: str) -> None:
        if not text.strip():
            raise InputError("is empty; send the document text", field=field)
        if len(text) > settings.max_text_chars:
            raise InputError(
                f"has {len(text)} characters, over the limit of {settings.max_text_chars}",
                field=field,
                status=413,
            )

    @app.get("/health", summary="Liveness, the model being served and the answering worker")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "model": info["model"]["package_id"],
            "variant": engine.variant,
            "worker_pid": os.getpid(),
        }

    @app.get("/info", summary="Model, labels, settings, versions, lineage and limits")
    def model_info() -> dict[str, Any]:
        return {
            **info,
            "versions": {
                **info["versions"],
                "fastapi": _version("fastapi"),
                "uvicorn": _version("uvicorn"),
            },
            "limits": {
                "max_text_chars": settings.max_text_chars,
                "max_batch_texts": settings.max_batch_texts,
                "max_file_bytes": settings.max_file_bytes,
            },
        }

    @app.post("/predict", response_model=PredictResponse, responses=_ERRORS)
    def predict(request: PredictRequest) -> PredictResponse:
        """Entities of one text."""
        check_text(request.text, "text")
        return PredictResponse(entities=engine.predict(request.text))

    @app.post("/predict/batch", response_model=BatchResponse, responses=_ERRORS)
    def predict_batch(request: BatchRequest) -> BatchResponse:
        """Entities of several texts, batched together (at most ``max_batch_texts``)."""
        if not request.texts:
            raise InputError("is an empty list; send at least one text", field="texts")
        if len(request.texts) > settings.max_batch_texts:
            raise InputError(
                f"has {len(request.texts)} texts, over the limit of {settings.max_batch_texts}",
                field="texts",
                status=413,
            )
        for i, text in enumerate(request.texts):
            check_text(text, f"texts[{i}]")
        results = engine.predict_batch(request.texts, batch_size=settings.batch_size)
        return BatchResponse(results=[PredictResponse(entities=e) for e in results])

    @app.post("/predict/file", response_model=FileResponse, responses=_ERRORS)
    async def predict_file(
        file: UploadFile = File(description="a .txt (UTF-8), .pdf or .docx file"),
    ) -> FileResponse:
        """Entities of an uploaded document; offsets index into the returned ``text``."""
        data = await file.read(settings.max_file_bytes + 1)
        if len(data) > settings.max_file_bytes:
            raise InputError(
                f"is larger than the limit of {settings.max_file_bytes} bytes",
                field="file",
                status=413,
            )
        text, kind = await run_in_threadpool(
            extract_text, data, filename=file.filename, content_type=file.content_type
        )
        check_text(text, "file")
        entities = await run_in_threadpool(engine.predict, text)
        return FileResponse(filename=file.filename, kind=kind, text=text, entities=entities)

    return app


def app_from_env() -> FastAPI:
    """uvicorn factory (``--factory``): settings from ``NERP_SERVE_*`` variables."""
    return create_app(ServeSettings.from_env())
