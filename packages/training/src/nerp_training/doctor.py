"""``nerp doctor`` probe for torch: which devices training would see.

Registered under the ``nerp.doctor`` entry-point group; torch is imported inside the
probe so loading the entry point stays cheap and a broken torch shows up as a probe
error instead of breaking the CLI.
"""

from __future__ import annotations

__all__ = ["device_report"]


def device_report() -> dict[str, object]:
    """Torch version, CUDA availability, device names, bf16 support and Apple MPS.

    ``bf16_supported`` is about the CUDA device (what ``training.precision: bf16`` needs);
    it is False on CPU-only machines.
    """
    import torch

    cuda = torch.cuda.is_available()
    names = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    mps_backend = getattr(torch.backends, "mps", None)
    return {
        "version": torch.__version__,
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "devices": ", ".join(names) if cuda else "cpu",
        "bf16_supported": bool(cuda and torch.cuda.is_bf16_supported()),
        "mps_available": bool(mps_backend is not None and mps_backend.is_available()),
        "cpu_threads": torch.get_num_threads(),
    }
