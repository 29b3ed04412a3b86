"""Synthetic resumes (faker) with exact spans; see :mod:`.resumes`."""

from nerp_training.data.synth.resumes import LAYOUTS, SYNTH_LABELS, synthesize_resumes

__all__ = ["LAYOUTS", "SYNTH_LABELS", "synthesize_resumes"]
