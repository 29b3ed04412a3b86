"""The PyTorch side of the parity check and the benchmarks: logits from the checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForTokenClassification, PreTrainedModel
from transformers.utils import logging as hf_logging

from nerp_deploy.errors import PackageError
from nerp_deploy.predictor import Predictor
from nerp_deploy.windowing import WindowTokenizer
from nerp_infra.model_files import TOKENIZER_FILE, InferenceSettings

__all__ = ["TorchRunner", "load_model", "torch_predictor"]


class TorchRunner:
    """``(input_ids, attention_mask) -> logits`` with a PyTorch model, in inference mode."""

    def __init__(self, model: PreTrainedModel) -> None:
        self.model = model.eval()

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            output = self.model(
                input_ids=torch.from_numpy(np.ascontiguousarray(input_ids, dtype=np.int64)),
                attention_mask=torch.from_numpy(
                    np.ascontiguousarray(attention_mask, dtype=np.int64)
                ),
            )
        return output.logits.float().numpy()


def load_model(model_dir: Path) -> PreTrainedModel:
    """Load the checkpoint without the weight-loading progress bar (conversion has its own)."""
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForTokenClassification.from_pretrained(model_dir)
    except (OSError, ValueError) as exc:
        raise PackageError(f"{model_dir}: cannot load the PyTorch checkpoint: {exc}") from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return model.eval()


def torch_predictor(
    model_dir: Path, settings: InferenceSettings, model: PreTrainedModel | None = None
) -> Predictor:
    """A predictor that runs the checkpoint itself through the engine's text pipeline."""
    tokenizer = WindowTokenizer.from_file(model_dir / TOKENIZER_FILE, settings)
    return Predictor(tokenizer, settings, TorchRunner(model or load_model(model_dir)))
