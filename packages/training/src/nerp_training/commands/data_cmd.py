"""``nerp data import | validate | stats | split | synth``: documents in, checked splits out.

Thin wrappers over :mod:`nerp_training.data`; each command prints what it did (the
validation report, the counts) so a user never has to open the output to know whether
it worked. Data errors exit with status 1 and a ``file:line: field: reason`` message.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from nerp_infra.config.cli import fail
from nerp_infra.documents import Document, DocumentError, read_documents, write_documents
from nerp_training.data.importers import (
    DATATURKS_RESUME_MAPPING,
    FORMATS,
    ImportResult,
    import_documents,
)
from nerp_training.data.records import DataError
from nerp_training.data.splits import kfold_documents, save_folds, split_documents
from nerp_training.data.stats import document_stats, render_stats
from nerp_training.data.synth import synthesize_resumes
from nerp_training.data.validation import (
    OVERLAP_POLICIES,
    ValidationReport,
    load_tokenizer,
)

app = typer.Typer(
    name="data",
    help="Import, validate, inspect, split and synthesise resume documents.",
    no_args_is_help=True,
)

console = Console()

PRESETS: dict[str, dict[str, str | None]] = {"dataturks-resumes": DATATURKS_RESUME_MAPPING}

FilesArgument = Annotated[
    list[Path], typer.Argument(help="Files, or folders searched for .json/.jsonl/CoNLL files.")
]
FormatOption = Annotated[
    str, typer.Option("--format", "-f", help=f"Input format: {', '.join(FORMATS)}.")
]
MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        "-m",
        help="Label mapping SRC=DST (rename or merge), or SRC= to drop; repeatable.",
    ),
]
PresetOption = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help=f"Built-in label mapping ({', '.join(PRESETS)}); --map entries override it.",
    ),
]
LabelsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--labels",
        "-l",
        help="Entity types to keep (comma-separated or repeated); default: all mapped labels.",
    ),
]
PolicyOption = Annotated[
    str,
    typer.Option("--overlap-policy", help=f"Overlapping spans: {', '.join(OVERLAP_POLICIES)}."),
]
StrictOption = Annotated[
    bool, typer.Option("--strict", help="Exit with status 1 if any span or document was dropped.")
]
PredictionsOption = Annotated[
    bool,
    typer.Option(
        "--use-predictions",
        help="Label Studio: a task with no annotation takes its model predictions "
        "(default: such tasks are dropped and reported).",
    ),
]
ReportOption = Annotated[
    Path | None, typer.Option("--report", help="Also write the validation report as JSON here.")
]


def _parse_labels(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    labels = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return labels or None


def _parse_mapping(preset: str | None, values: list[str] | None) -> dict[str, str | None]:
    mapping: dict[str, str | None] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise typer.BadParameter(
                f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}",
                param_hint="--preset",
            )
        mapping.update(PRESETS[preset])
    for value in values or []:
        source, sep, target = value.rpartition("=")
        if not sep or not source.strip():
            raise typer.BadParameter(
                f"{value!r} is not SRC=DST (or SRC= to drop)", param_hint="--map"
            )
        mapping[source.strip()] = target.strip() or None
    return mapping


def _check_format(value: str) -> str:
    if value not in FORMATS:
        raise typer.BadParameter(
            f"{value!r} is not one of {', '.join(FORMATS)}", param_hint="--format"
        )
    return value


def _check_policy(value: str) -> str:
    if value not in OVERLAP_POLICIES:
        raise typer.BadParameter(
            f"{value!r} is not one of {', '.join(OVERLAP_POLICIES)}", param_hint="--overlap-policy"
        )
    return value


def _import(
    files: list[Path],
    format: str,
    preset: str | None,
    map_: list[str] | None,
    labels: list[str] | None,
    overlap_policy: str,
    use_predictions: bool,
    tokenizer: Path | None = None,
) -> ImportResult:
    """``import_documents`` for ``import`` and ``validate``: a failed import prints its
    validation report (when it got that far) and exits with the one-line error."""
    try:
        tok = None if tokenizer is None else load_tokenizer(tokenizer)
        return import_documents(
            files,
            format=_check_format(format),
            label_mapping=_parse_mapping(preset, map_),
            labels=_parse_labels(labels),
            overlap_policy=_check_policy(overlap_policy),
            tokenizer=tok,
            use_predictions=use_predictions,
        )
    except DataError as exc:
        if exc.report is not None:
            console.print(exc.report.render())
        raise fail(str(exc)) from None
    except DocumentError as exc:
        raise fail(str(exc)) from None


def _finish(report: ValidationReport, *, strict: bool, report_path: Path | None) -> None:
    console.print(report.render())
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n")
        console.print(f"report written to {report_path}", highlight=False)
    if strict and report.dropped_count:
        raise fail(
            f"--strict: {report.dropped_spans} span(s) and {report.dropped_documents} "
            "document(s) were dropped"
        )


@app.command(
    "import",
    epilog=(
        "Examples:\n\n"
        "  nerp data import resumes.jsonl --preset dataturks-resumes --out docs.jsonl\n\n"
        "  nerp data import export.jsonl --format doccano --map PER=NAME --map MISC= "
        "--out docs.jsonl\n\n"
        "  nerp data import corpus/ --labels NAME,EMAIL,SKILL --strict --out docs.jsonl\n\n"
        "  nerp data import project-1-export.json --format label-studio --out docs.jsonl"
    ),
)
def import_(
    files: FilesArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="Native .jsonl/.json to write.")],
    format: FormatOption = "auto",
    map_: MapOption = None,
    preset: PresetOption = None,
    labels: LabelsOption = None,
    overlap_policy: PolicyOption = "keep_longest",
    strict: StrictOption = False,
    report: ReportOption = None,
    use_predictions: PredictionsOption = False,
) -> None:
    """Convert native, DataTurks, doccano, Label Studio or CoNLL files to native documents.

    Trims spans, maps labels, resolves overlaps, and reports every change.

    With --strict nothing is written if anything was dropped.
    """
    result = _import(files, format, preset, map_, labels, overlap_policy, use_predictions)
    if strict and result.report.dropped_count:
        _finish(result.report, strict=strict, report_path=report)
    write_documents(result.documents, out)
    _finish(result.report, strict=False, report_path=report)
    formats = ", ".join(sorted(set(result.formats.values())))
    console.print(f"wrote {len(result.documents)} documents ({formats}) to {out}", highlight=False)


@app.command(
    epilog=(
        "Examples:\n\n"
        "  nerp data validate docs.jsonl --labels NAME,EMAIL,PHONE --strict\n\n"
        "  nerp data validate resumes.jsonl --preset dataturks-resumes "
        "--tokenizer models/tokenizer.json --report report.json"
    )
)
def validate(
    files: FilesArgument,
    format: FormatOption = "auto",
    map_: MapOption = None,
    preset: PresetOption = None,
    labels: LabelsOption = None,
    overlap_policy: PolicyOption = "keep_longest",
    tokenizer: Annotated[
        Path | None,
        typer.Option(
            "--tokenizer",
            help="tokenizer.json (or its folder): report spans that split a token.",
        ),
    ] = None,
    strict: StrictOption = False,
    report: ReportOption = None,
    use_predictions: PredictionsOption = False,
) -> None:
    """Report bounds, whitespace, overlaps, labels, token boundaries and duplicates."""
    result = _import(
        files, format, preset, map_, labels, overlap_policy, use_predictions, tokenizer
    )
    _finish(result.report, strict=strict, report_path=report)


@app.command(
    epilog=(
        "Examples:\n\n  nerp data stats docs.jsonl\n\n"
        "  nerp data stats resumes.jsonl --preset dataturks-resumes --json"
    )
)
def stats(
    files: FilesArgument,
    format: FormatOption = "auto",
    map_: MapOption = None,
    preset: PresetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Documents, lengths, spans per type and strata of (validated) documents."""
    try:
        result = import_documents(
            files, format=_check_format(format), label_mapping=_parse_mapping(preset, map_)
        )
    except DocumentError as exc:
        raise fail(str(exc)) from None
    data = document_stats(result.documents)
    if as_json:
        typer.echo(json.dumps(data, indent=1, ensure_ascii=False))
    else:
        console.print(render_stats(data, title=", ".join(str(f) for f in files)))


def _read_native(file: Path) -> list[Document]:
    try:
        return read_documents(file)
    except DocumentError as exc:
        raise fail(f"{exc} (split reads native documents: run `nerp data import` first)") from None


@app.command(
    epilog=(
        "Examples:\n\n"
        "  nerp data split docs.jsonl --out splits/\n\n"
        "  nerp data split docs.jsonl --out splits/ --train 0.8 --validation 0.1 --test 0.1 "
        "--seed 7 --k-folds 5"
    )
)
def split(
    file: Annotated[Path, typer.Argument(help="Native documents (.jsonl or .json).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the split files.")],
    train: Annotated[float, typer.Option(help="Fraction for training.")] = 0.7,
    validation: Annotated[float, typer.Option(help="Fraction for validation.")] = 0.15,
    test: Annotated[float, typer.Option(help="Fraction for the held-out test set.")] = 0.15,
    seed: Annotated[int, typer.Option(help="Seed: same seed and documents, same split.")] = 42,
    k_folds: Annotated[
        int | None,
        typer.Option(
            "--k-folds", help="Also write folds.json: K stratified CV folds over train+validation."
        ),
    ] = None,
) -> None:
    """Stratified train/validation/test split (by each document's set of entity types)."""
    docs = _read_native(file)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        parts = split_documents(docs, train=train, validation=validation, test=test, seed=seed)
    except (ValueError, DataError) as exc:
        raise fail(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    for name, split_docs in parts.as_dict().items():
        write_documents(split_docs, out / f"{name}.jsonl")
        console.print(f"{name}: {len(split_docs)} documents → {out / f'{name}.jsonl'}")
    if k_folds is not None:
        pool = parts.train + parts.validation
        try:
            folds = kfold_documents(pool, k_folds, seed)
        except (ValueError, DataError) as exc:
            raise fail(str(exc)) from None
        meta: dict[str, Any] = {"source": str(file), "seed": seed, "over": "train+validation"}
        path = save_folds(out / "folds.json", folds, meta=meta)
        sizes = ", ".join(str(len(f.validation_ids)) for f in folds)
        console.print(f"{k_folds} folds (validation sizes {sizes}) → {path}")


@app.command(
    epilog=(
        "Examples:\n\n  nerp data synth --n 200 --seed 13 --out docs.jsonl\n\n"
        "  nerp data synth --n 2000 --locale en_GB --out big.jsonl"
    )
)
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Native .jsonl/.json to write.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of resumes.")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed, same resumes.")] = 13,
    locale: Annotated[str, typer.Option(help="Faker locale for names and places.")] = "en_US",
) -> None:
    """Generate synthetic resumes with exact spans for all nine default entity types."""
    try:
        docs = synthesize_resumes(n, seed=seed, locale=locale)
    except DataError as exc:
        raise fail(str(exc)) from None
    write_documents(docs, out)
    spans = sum(len(doc.spans) for doc in docs)
    console.print(f"wrote {len(docs)} resumes with {spans} spans to {out}", highlight=False)
