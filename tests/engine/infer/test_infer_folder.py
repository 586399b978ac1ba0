"""Folder inference: which files become which outputs, batching, and bad files on the way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.infer.infer_folder import ItemResult, default_batch_size, plan_folder, segment_folder
from engine.infer.inference import Predictor
from engine.models import build_model


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    torch.manual_seed(0)
    return Predictor(build_model("unet", width=4), image_size=64, arch_name="unet", device="cpu")


def _photos(folder: Path, sizes: list[tuple[int, int]]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i, (w, h) in enumerate(sizes):
        path = folder / f"photo_{i}.jpg"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def test_plan_names_outputs_and_skips_odd_entries(tmp_path):
    src = tmp_path / "in"
    _photos(src, [(20, 10)])
    (src / "cat.JPG").write_bytes(b"x")
    (src / "cat.png").write_bytes(b"x")
    (src / "notes.txt").write_text("hello")
    (src / ".DS_Store").write_bytes(b"\0")
    (src / "sub").mkdir()
    plan = plan_folder(src, tmp_path / "out")
    assert [(a.name, b.name) for a, b in plan.items] == [
        ("cat.JPG", "cat_jpg.png"), ("cat.png", "cat_png.png"), ("photo_0.jpg", "photo_0.png")]
    assert {p.name: why for p, why in plan.skipped}.keys() == {"notes.txt", "sub"}


def test_default_batch_size_scales_with_pixels():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert default_batch_size(cpu, 256) == 8 and default_batch_size(cuda, 256) == 32
    assert default_batch_size(cuda, 512) == 8 and default_batch_size(cpu, 2048) == 1


@pytest.mark.parametrize("batch_size, workers", [(1, 1), (3, 2), (16, 4)])
def test_batched_folder_equals_one_by_one_and_reports_each_file(predictor, tmp_path, batch_size, workers):
    src = tmp_path / "in"
    photos = _photos(src, [(40, 30), (64, 64), (17, 93), (128, 80), (50, 50)])
    (src / "broken.jpg").write_text("not a jpeg")
    plan = plan_folder(src, tmp_path / "out")
    results: list[ItemResult] = []
    segment_folder(predictor, plan.items, results.append, batch_size=batch_size, workers=workers, threshold=0.5)
    assert len(results) == 6
    errors = [r for r in results if r.error]
    assert len(errors) == 1 and errors[0].source.name == "broken.jpg" and "broken.jpg" in errors[0].error
    for photo in photos:
        with Image.open(photo) as im:
            single = predictor.predict_array(np.asarray(im.convert("RGB")))
            size = im.size
        with Image.open(tmp_path / "out" / f"{photo.stem}.png") as out:
            assert out.size == size and out.mode == "L"
            written = np.asarray(out) > 0
        # same probabilities up to float error: only pixels right at the threshold may differ
        near = np.abs(single - 0.5) < 1e-4
        assert np.array_equal(written[~near], (single > 0.5)[~near])
