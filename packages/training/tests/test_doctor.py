"""The torch probe of ``nerp doctor``: registered, and telling the truth about devices."""

from __future__ import annotations

from importlib.metadata import entry_points

import torch

from nerp_training.doctor import device_report


def test_report_matches_torch() -> None:
    report = device_report()
    assert report["version"] == torch.__version__
    assert report["cuda_available"] is torch.cuda.is_available()
    assert report["cpu_threads"] == torch.get_num_threads()
    assert isinstance(report["bf16_supported"], bool)
    assert isinstance(report["mps_available"], bool)
    if torch.cuda.is_available():
        assert report["devices"] == ", ".join(
            torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
        )
    else:
        assert report["devices"] == "cpu"
        assert report["bf16_supported"] is False


def test_registered_as_nerp_doctor_probe() -> None:
    (entry,) = [ep for ep in entry_points(group="nerp.doctor") if ep.name == "torch"]
    assert entry.value == "nerp_training.doctor:device_report"
    assert entry.load() is device_report
