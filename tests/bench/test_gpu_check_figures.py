"""bench/gpu_check.py reads bench/infer_latency.py's printed rows: the two must agree, or the GPU
session's one call ends with a blank inference row (it did once infer_latency.py began each row
with its backend's name)."""

import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from gpu_check import inference_figures
from infer_latency import _large_photo, _time_photos

from engine.data.samples import sample_image_paths


class _Mask:
    def mask(self, threshold: float) -> np.ndarray:
        return np.zeros((4, 4), np.uint8)


class _Predictor:
    device = torch.device("cpu")

    def predict_file(self, path: Path, tta: bool = False) -> _Mask:
        return _Mask()


def test_the_inference_row_reads_what_infer_latency_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    photos = sample_image_paths()
    if not photos:
        pytest.skip("engine/demo_assets is missing from this installation")
    _time_photos([("pytorch", _Predictor()), ("onnxruntime", _Predictor())], photos[:2], _large_photo(tmp_path, 80, 60),
                 Namespace(warmup=0, runs=2, tta=False))
    figures = inference_figures(capsys.readouterr().out.splitlines())
    assert set(figures) == {"p50_ms", "p95_ms", "large", "large_p50_ms", "large_p95_ms"}, figures
    assert figures["large"] == "80x60" and figures["p95_ms"] >= figures["p50_ms"] >= 0
