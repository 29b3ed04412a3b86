"""The data layer: import, validate, split and synthesise resume documents.

Everything the trainer, HPO and pipeline stages need to get from annotation files (or
nothing at all: synthetic resumes) to a fingerprinted dataset artifact with stratified
splits and reproducible CV folds.
"""

from nerp_training.data.dataset import (
    PreparedDataset,
    load_dataset,
    load_or_prepare_dataset,
    prepare_dataset,
)
from nerp_training.data.importers import (
    DATATURKS_RESUME_MAPPING,
    FORMATS,
    ImportResult,
    detect_format,
    import_documents,
    read_conll,
    read_dataturks,
    read_doccano,
    read_label_studio,
    read_native,
)
from nerp_training.data.records import DataError, Issue, RawDocument, RawSpan
from nerp_training.data.splits import (
    DatasetSplits,
    Fold,
    folds_fingerprint,
    kfold_documents,
    load_folds,
    save_folds,
    split_documents,
    stratum_of,
)
from nerp_training.data.stats import document_stats
from nerp_training.data.synth import SYNTH_LABELS, synthesize_resumes
from nerp_training.data.validation import (
    LabelAction,
    ValidationReport,
    load_tokenizer,
    validate_documents,
)

__all__ = [
    "DATATURKS_RESUME_MAPPING",
    "FORMATS",
    "SYNTH_LABELS",
    "DataError",
    "DatasetSplits",
    "Fold",
    "ImportResult",
    "Issue",
    "LabelAction",
    "PreparedDataset",
    "RawDocument",
    "RawSpan",
    "ValidationReport",
    "detect_format",
    "document_stats",
    "folds_fingerprint",
    "import_documents",
    "kfold_documents",
    "load_dataset",
    "load_folds",
    "load_or_prepare_dataset",
    "load_tokenizer",
    "prepare_dataset",
    "read_conll",
    "read_dataturks",
    "read_doccano",
    "read_label_studio",
    "read_native",
    "save_folds",
    "split_documents",
    "stratum_of",
    "synthesize_resumes",
    "validate_documents",
]
