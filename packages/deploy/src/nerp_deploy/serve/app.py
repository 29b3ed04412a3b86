"""The FastAPI app: health, info and prediction over an ONNX package.

Every bad request gets a 4xx with one JSON shape, ``{"error": {"status", "type",
"field", "message"}}``, naming the request part and the reason; a 500 means a bug in the
server, never bad input. Inference is blocking numpy/onnxruntime work and runs off the
event loop so it keeps answering (``/health`` stays fast under load). With micro-batching
(the default) concurrent requests are queued and predicted together in one model thread
(:mod:`nerp_deploy.serve.batcher`); without it each request is one model call in the
thread pool.

Limits are enforced where they cost least: the request body's size from Content-Length
and again while it streams in (413 before anything is parsed), its UTF-8 before JSON
parsing (422 naming ``body``), and the text and batch limits by the request models, so
the OpenAPI schema states exactly what is accepted (``minLength``/``maxLength``/``pattern``
per text, ``minItems``/``maxItems`` per batch).

With several uvicorn workers each process builds its own app through
:func:`app_from_env`, which reads the settings that ``nerp serve`` put in the environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nerp_deploy.engine import OnnxEngine, check_encodable
from nerp_deploy.errors import InputError
from nerp_deploy.extract import extract_text
from nerp_deploy.serve.batcher import MicroBatcher
from nerp_deploy.serve.page import demo_html
from nerp_deploy.serve.settings import ServeSettings
from nerp_infra.documents import Entity
from nerp_infra.plugins import installed_version
from nerp_infra.text import unencodable_reason

__all__ = ["app_from_env", "create_app"]

_JSON_ROUTES = frozenset({"/predict", "/predict/batch"})
_FILE_ROUTE = "/predict/file"
_MULTIPART_OVERHEAD = 64 * 1024
"""Bytes an upload's body may hold beyond ``max_file_bytes``: part headers, boundaries."""
_DRAIN_BYTES = 16 * 1024 * 1024
"""How much of an over-limit streamed body is read (and dropped) so the client, still
sending, reads the 413 instead of a reset connection."""
NOT_BLANK = r"\S"
"""Pattern every text must match: at least one character that is not whitespace."""


def _encodable(value: object) -> object:
    # Before str validation: pydantic's own refusal of a lone surrogate names no character.
    if isinstance(value, str) and (reason := unencodable_reason(value)) is not None:
        raise ValueError(reason)
    return value


class _RequestModel(BaseModel):
    # Python's re, as the schema's test generators use: "\S" means the same on both sides.
    model_config = ConfigDict(regex_engine="python-re")


def _request_models(settings: ServeSettings) -> tuple[type[BaseModel], type[BaseModel]]:
    """Request models carrying this server's limits, so the schema states them."""
    text_type = Annotated[
        str,
        BeforeValidator(_encodable),
        StringConstraints(min_length=1, max_length=settings.max_text_chars, pattern=NOT_BLANK),
        Field(json_schema_extra={"pattern": NOT_BLANK}),  # python-re patterns are left out
    ]

    class PredictRequest(_RequestModel):
        text: text_type = Field(
            description=(
                "the document text (valid Unicode, not only whitespace, at most "
                f"{settings.max_text_chars} characters); entity offsets index into it"
            )
        )

    class BatchRequest(_RequestModel):
        texts: list[text_type] = Field(
            min_length=1,
            max_length=settings.max_batch_texts,
            description=(
                f"1 to {settings.max_batch_texts} document texts, each as in /predict, "
                "predicted together"
            ),
        )

    return PredictRequest, BatchRequest


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
        (413, "body, text, batch or file over its size limit"),
        (415, "wrong content type or unsupported file type"),
        (422, "empty, malformed, invalid UTF-8 or corrupt input"),
    )
}
_FILE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    400: {"model": ErrorResponse, "description": "a multipart body that cannot be parsed"},
}

_TYPES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
}


def _error(
    status: int,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorDetail(
            status=status, type=_TYPES.get(status, "error"), field=field, message=message
        )
    )
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


class _RequestGuard:
    """Content type, body size and UTF-8, checked before FastAPI reads or parses a body.

    - 415 for a body FastAPI would misread (JSON routes, the upload route);
    - 413 when Content-Length says the body is over its limit (nothing is read, so a
      client that sent ``Expect: 100-continue`` never uploads it), or as soon as a
      streamed body passes it;
    - 422 naming ``body`` when a JSON body is not UTF-8 (RFC 8259), before JSON parsing.

    The body of a POST is read here (at most its limit) and replayed to the app. Pure
    ASGI rather than BaseHTTPMiddleware, so nothing else about the request changes.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_file_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_file_bytes + _MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"].rstrip("/") or "/"
        headers = dict(scope["headers"])
        media = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip()
        media = media.lower()
        problem = None
        if path in _JSON_ROUTES and not (media == "application/json" or media.endswith("+json")):
            problem = f"content type {media or '(none)'!r}; send application/json"
        elif path == _FILE_ROUTE and media != "multipart/form-data":
            problem = (
                f"content type {media or '(none)'!r}; upload the file as "
                "multipart/form-data in the part 'file'"
            )
        if problem is not None:
            await _error(415, problem, "content-type")(scope, receive, send)
            return

        upload = path == _FILE_ROUTE
        limit = self.max_upload_bytes if upload else self.max_body_bytes
        field = "file" if upload else "body"
        what = f"upload of at most {limit - _MULTIPART_OVERHEAD} bytes" if upload else "body"
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared.isdigit() and int(declared) > limit:
            text = f"Content-Length is {int(declared)} bytes, over the limit of {limit}"
            await _error(413, f"{text} ({what})", field)(scope, receive, send)
            return

        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            event = await receive()
            if event["type"] == "http.disconnect":
                return
            chunk = event.get("body", b"")
            more = event.get("more_body", False)
            size += len(chunk)
            if size > limit:
                await self._drain(receive, more, size)
                text = f"has more than {limit} bytes, over the limit ({what})"
                await _error(413, text, field)(scope, receive, send)
                return
            chunks.append(chunk)
        body = b"".join(chunks)
        del chunks

        if path in _JSON_ROUTES:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                text = (
                    f"is not valid UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start}); "
                    "send JSON encoded as UTF-8"
                )
                await _error(422, text, "body")(scope, receive, send)
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _drain(receive: Receive, more: bool, size: int) -> None:
        """Read and drop what the client still sends, up to a bound, keeping nothing."""
        while more and size < _DRAIN_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            more = message.get("more_body", False)


def _field_name(loc: tuple[Any, ...]) -> str | None:
    parts = [part for part in loc if part != "body"]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or ("body" if loc else None)


def _version(name: str) -> str:
    return installed_version(name) or "absent"


def create_app(settings: ServeSettings, *, engine: OnnxEngine | None = None) -> FastAPI:
    """Build the API for ``settings.package`` (or an already loaded ``engine``)."""
    engine = engine or OnnxEngine.load(
        settings.package, variant=settings.variant, threads=settings.threads
    )
    info = engine.info()
    batcher = (
        MicroBatcher(
            engine,
            max_texts=settings.micro_batch_max_texts,
            max_wait_ms=settings.micro_batch_wait_ms,
            batch_size=settings.batch_size,
        )
        if settings.micro_batch
        else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if batcher is not None:
                await batcher.close()

    app = FastAPI(
        lifespan=lifespan,
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
    app.state.batcher = batcher
    app.add_middleware(
        _RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        max_file_bytes=settings.max_file_bytes,
    )
    PredictRequest, BatchRequest = _request_models(settings)

    @app.exception_handler(InputError)
    async def _input_error(_: Request, exc: InputError) -> JSONResponse:
        return _error(exc.status, exc.reason, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first: dict[str, Any] = dict(errors[0]) if errors else {}
        field = _field_name(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        kind = first.get("type")
        context = first.get("ctx") or {}
        status = 422
        if kind == "json_invalid":
            message = f"body is not valid JSON: {context.get('error', message)}"
            field = "body"
        elif kind == "missing":
            message = "is required"
        elif kind in ("too_short", "string_too_short") and field == "texts":
            message = "is an empty list; send at least one text"
        elif kind in ("too_long", "string_too_long") and field == "texts":
            status = 413
            message = (
                f"has {context.get('actual_length')} texts, over the limit of "
                f"{context.get('max_length')}"
            )
        elif kind in ("too_short", "string_too_short", "string_pattern_mismatch"):
            message = "is empty (or only whitespace); send the document text"
        elif kind in ("too_long", "string_too_long"):
            status = 413
            length = len(first.get("input") or "")
            message = f"has {length} characters, over the limit of {context.get('max_length')}"
        return _error(status, message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Headers travel with the error: a 405 names the methods allowed in Allow.
        return _error(exc.status_code, str(exc.detail), headers=exc.headers)

    def check_text(text: str, field: str) -> None:
        check_encodable(text, field)
        if not text.strip():
            raise InputError("is empty; send the document text", field=field)
        if len(text) > settings.max_text_chars:
            raise InputError(
                f"has {len(text)} characters, over the limit of {settings.max_text_chars}",
                field=field,
                status=413,
            )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def demo_page() -> HTMLResponse:
        """A self-contained page (no CDN, no build): paste text or upload PDF/DOCX, see the
        entities highlighted by type with their scores."""
        return HTMLResponse(demo_html())

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
                "max_body_bytes": settings.max_body_bytes,
            },
            "micro_batching": {
                "enabled": batcher is not None,
                "wait_ms": settings.micro_batch_wait_ms,
                "max_texts": settings.micro_batch_max_texts,
                "rows_per_model_call": settings.batch_size or engine.batch_size,
                **(batcher.stats.as_dict() if batcher is not None else {}),
            },
        }

    async def entities_of(text: str) -> list[Entity]:
        if batcher is not None:
            return await batcher.predict(text)
        return await run_in_threadpool(engine.predict, text)

    async def predict(request: Any) -> PredictResponse:
        """Entities of one text."""
        return PredictResponse(entities=await entities_of(request.text))

    async def predict_batch(request: Any) -> BatchResponse:
        """Entities of several texts, batched together (at most ``max_batch_texts``)."""
        if batcher is not None:
            results = await batcher.predict_many(request.texts)
        else:
            results = await run_in_threadpool(
                engine.predict_batch, request.texts, batch_size=settings.batch_size
            )
        return BatchResponse(results=[PredictResponse(entities=e) for e in results])

    # The request models are built per app (they carry its limits), so FastAPI, which
    # resolves string annotations in the module's globals only, is given the classes.
    for path, endpoint, model, response in (
        ("/predict", predict, PredictRequest, PredictResponse),
        ("/predict/batch", predict_batch, BatchRequest, BatchResponse),
    ):
        endpoint.__annotations__.update({"request": model, "return": response})
        app.add_api_route(
            path, endpoint, methods=["POST"], response_model=response, responses=_ERRORS
        )

    @app.post("/predict/file", response_model=FileResponse, responses=_FILE_ERRORS)
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
        entities = await entities_of(text)
        return FileResponse(filename=file.filename, kind=kind, text=text, entities=entities)

    return app


def app_from_env() -> FastAPI:
    """uvicorn factory (``--factory``): settings from ``NERP_SERVE_*`` variables."""
    return create_app(ServeSettings.from_env())
