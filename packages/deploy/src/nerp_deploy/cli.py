"""``nerp predict`` and ``nerp serve``: the torch-free commands of nerp-deploy.

Both work in a slim image (base install; ``serve`` and PDF/DOCX input need the
``[serve]`` extra). Results are JSON on stdout so they pipe into other tools; progress
and errors go to stderr.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from nerp_deploy.engine import OnnxEngine
from nerp_deploy.errors import DeployError, InputError
from nerp_deploy.extract import extract_text
from nerp_deploy.formats import OUTPUT_FORMATS, LabelStudioSettings, OutputFormat, PredictionWriter
from nerp_deploy.package import VARIANTS, Variant
from nerp_deploy.runtime import usable_cores
from nerp_deploy.serve.settings import ServeSettings
from nerp_infra.config.cli import fail
from nerp_infra.documents import DocumentError, iter_documents

__all__ = ["predict", "serve"]


_CONTENT_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

PackageArg = Annotated[
    str,
    typer.Argument(
        help="ONNX package directory (written by `nerp convert`), or a registered model: "
        "models:/NAME@ALIAS (e.g. models:/resume-ner@champion) or models:/NAME/VERSION."
    ),
]
TrackingUriOpt = Annotated[
    str | None,
    typer.Option(
        help="MLflow tracking URI for models:/ (default: MLFLOW_TRACKING_URI, else the "
        "SQLite database in the output root, outputs/mlflow.db)."
    ),
]
VariantOpt = Annotated[
    str | None,
    typer.Option(
        help="fp32, int8, or bf16 (the fp32 graph on OpenVINO, nerp-deploy[openvino]; "
        "only on CPUs with AMX or AVX512-BF16, fastest there) (default: int8 when the "
        "package has it)."
    ),
]
ThreadsOpt = Annotated[
    int | None, typer.Option(min=1, help="onnxruntime or OpenVINO threads (default: all cores).")
]


def _fail(message: str) -> typer.Exit:
    # One line however narrow the terminal: scripts and log scrapers read it whole.
    return fail(" ".join(message.split()))


def _variant(value: str | None) -> Variant | None:
    if value is None:
        return None
    for variant in VARIANTS:
        if value == variant:
            return variant
    raise _fail(f"--variant must be one of {', '.join(VARIANTS)}, got {value!r}")


def _package_dir(package: str, tracking_uri: str | None) -> Path:
    """A package folder as given, or the downloaded package of a ``models:/`` URI."""
    from nerp_deploy.registry import is_model_uri, resolve_model_uri

    if not is_model_uri(package):
        return Path(package)
    if tracking_uri is None and not os.environ.get("MLFLOW_TRACKING_URI"):
        from nerp_infra.config import PathsConfig
        from nerp_infra.tracking import DEFAULT_DB_NAME

        database = PathsConfig().resolve_root() / DEFAULT_DB_NAME
        if not database.is_file():
            raise DeployError(
                f"{package}: no MLflow tracking database at {database}; pass --tracking-uri "
                "or set MLFLOW_TRACKING_URI"
            )
        tracking_uri = f"sqlite:///{database.as_posix()}"
    return resolve_model_uri(
        package, tracking_uri=tracking_uri or os.environ["MLFLOW_TRACKING_URI"]
    )


def _chunks(path: Path, size: int) -> Iterator[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    for doc in iter_documents(path):
        chunk.append((doc.id, doc.text))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def predict(
    package: PackageArg,
    text: Annotated[str | None, typer.Option(help="Predict on this text.")] = None,
    file: Annotated[
        Path | None, typer.Option(help="Predict on a .txt, .pdf or .docx file.")
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(help="Predict on every document of a .jsonl (or .json) documents file."),
    ] = None,
    variant: VariantOpt = None,
    threads: ThreadsOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help="Model rows per call (default: 4,096 tokens' worth, 16 of 256)."),
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Output: nerp (JSON lines), hf (JSON lines, transformers pipeline entities), "
            "doccano (JSONL to import) or label-studio (a JSON list of pre-annotated tasks).",
        ),
    ] = "nerp",
    model_version: Annotated[
        str | None,
        typer.Option(
            help="label-studio: the predictions' model_version "
            "(default: nerp:<package id or folder>:<variant>)."
        ),
    ] = None,
    from_name: Annotated[
        str, typer.Option(help="label-studio: name of the <Labels> tag of the labeling config.")
    ] = "label",
    to_name: Annotated[
        str, typer.Option(help="label-studio: name of the <Text> tag of the labeling config.")
    ] = "text",
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Predict entities with an ONNX package; one JSON line per document on stdout.

    --format label-studio writes one JSON list of tasks instead, which Label Studio
    imports as pre-annotations; --format doccano writes doccano's JSONL.
    """
    output: OutputFormat | None = next((f for f in OUTPUT_FORMATS if f == format), None)
    if output is None:
        raise _fail(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, got {format!r}")
    given = [
        name
        for name, value in (("--text", text), ("--file", file), ("--jsonl", jsonl))
        if value is not None
    ]
    if len(given) != 1:
        raise _fail(
            "give exactly one of --text, --file or --jsonl"
            + (f" (got {', '.join(given)})" if given else "")
        )
    try:
        folder = _package_dir(package, tracking_uri)
        engine = OnnxEngine.load(folder, variant=_variant(variant), threads=threads)
        manifest = engine.package.manifest
        version = model_version or (
            f"nerp:{manifest.id if manifest else folder.resolve().name}:{engine.variant}"
        )
        writer = PredictionWriter(
            sys.stdout,
            output,
            LabelStudioSettings(model_version=version, from_name=from_name, to_name=to_name),
        )
        if text is not None:
            writer.write(text, engine.predict(text))
        elif file is not None:
            if not file.is_file():
                raise _fail(f"{file}: file does not exist")
            content, kind = extract_text(
                file.read_bytes(),
                filename=file.name,
                content_type=_CONTENT_TYPES.get(file.suffix.lower()),
            )
            writer.write(content, engine.predict(content), meta={"file": str(file), "kind": kind})
        elif jsonl is not None:
            for chunk in _chunks(jsonl, 256):
                results = engine.predict_batch([t for _, t in chunk], batch_size=batch_size)
                for (doc_id, doc_text), entities in zip(chunk, results, strict=True):
                    writer.write(doc_text, entities, doc_id=doc_id)
        writer.close()
    except InputError as exc:
        where = str(file) if file is not None else "--text" if text is not None else exc.field
        raise _fail(f"{where}: {exc.reason}" if where else exc.reason) from None
    except (DeployError, DocumentError) as exc:
        raise _fail(str(exc)) from None
    except ImportError as exc:
        raise _fail(f"{exc}; PDF and DOCX input need `pip install nerp-deploy[serve]`") from None


def serve(
    package: PackageArg,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    variant: VariantOpt = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, help="onnxruntime or OpenVINO threads per worker (default: cores / workers)."
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help="Model rows per call (default: 4,096 tokens' worth, 16 of 256)."),
    ] = None,
    max_text_chars: Annotated[int, typer.Option(min=1, help="Longest accepted text.")] = 100_000,
    max_batch_texts: Annotated[
        int, typer.Option(min=1, help="Most texts per /predict/batch request.")
    ] = 64,
    max_file_bytes: Annotated[
        int, typer.Option(min=1, help="Largest accepted upload in bytes.")
    ] = 5_000_000,
    max_body_bytes: Annotated[
        int,
        typer.Option(min=1, help="Largest accepted JSON body in bytes (checked before parsing)."),
    ] = 16_000_000,
    micro_batch: Annotated[
        bool,
        typer.Option(
            "--micro-batch/--no-micro-batch",
            help="Predict concurrent requests together in one model call (per worker).",
        ),
    ] = True,
    micro_batch_wait_ms: Annotated[
        float,
        typer.Option(
            min=0, max=1000, help="Longest a request waits for others to join its batch (ms)."
        ),
    ] = 2.0,
    micro_batch_max_texts: Annotated[
        int, typer.Option(min=1, help="Most texts in one micro-batch.")
    ] = 16,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Serve an ONNX package over HTTP (FastAPI + uvicorn; OpenAPI at /openapi.json)."""
    try:
        import uvicorn
    except ImportError:
        raise _fail(
            "`nerp serve` needs the serve extra: pip install 'nerp-deploy[serve]'"
        ) from None
    if threads is None and workers > 1:
        threads = max(1, usable_cores() // workers)  # workers must not oversubscribe
    # Load the model and run it once here, before binding and before any worker starts:
    # a package that cannot serve (a truncated graph, a missing file) ends the command
    # with one line naming the file, instead of workers that crash and are restarted.
    try:
        folder = _package_dir(package, tracking_uri)
        engine = OnnxEngine.load(folder, variant=_variant(variant), threads=threads)
        engine.self_test()
    except DeployError as exc:
        raise _fail(str(exc)) from None
    settings = ServeSettings(
        package=folder.resolve(),
        variant=_variant(variant),
        threads=threads,
        batch_size=batch_size,
        max_text_chars=max_text_chars,
        max_batch_texts=max_batch_texts,
        max_file_bytes=max_file_bytes,
        max_body_bytes=max_body_bytes,
        micro_batch=micro_batch,
        micro_batch_wait_ms=micro_batch_wait_ms,
        micro_batch_max_texts=micro_batch_max_texts,
    )
    if workers == 1:  # serve the engine already loaded and tested
        from nerp_deploy.serve.app import create_app

        app = create_app(settings, engine=engine)
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level)).run()
        return
    del engine  # each worker process loads its own; the parent only supervises
    os.environ.update(settings.to_env())
    config = uvicorn.Config(
        "nerp_deploy.serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
    _run_workers(config)


def _run_workers(config: Any) -> None:
    """Several uvicorn workers on one listening socket with TCP_NODELAY set.

    uvicorn binds the shared socket itself with protocol 0, so asyncio does not recognise
    accepted connections as TCP and never disables Nagle on them: every response then
    waits for the client's delayed ACK (~40 ms per request on Linux). Accepted sockets
    inherit TCP_NODELAY from the listener, so setting it here fixes every worker.
    """
    import socket

    from uvicorn.supervisors import Multiprocess as _Multiprocess

    Multiprocess: Any = _Multiprocess  # its signature changed in uvicorn 0.30
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.30
        Multiprocess(config, target=uvicorn_server(config).run, sockets=[sock]).run()
    else:
        Multiprocess(config, sockets=[sock]).run()


def uvicorn_server(config: Any) -> Any:
    import uvicorn

    return uvicorn.Server(config)
