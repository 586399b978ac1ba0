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


def test_read_ahead_is_bounded_by_bytes_and_never_stalls(predictor, tmp_path, monkeypatch):
    """Issue 21: a budget smaller than one photo still segments every photo, one decode at a
    time; the outputs equal those of an unbounded run."""
    import threading

    import engine.infer.infer_folder as infer_folder

    src = tmp_path / "in"
    photos = _photos(src, [(120, 90), (64, 64), (90, 120), (200, 150), (50, 50), (77, 33)])
    active, peak, lock = [0], [0], threading.Lock()
    real_load = infer_folder._load

    def counting_load(pred, path):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return real_load(pred, path)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(infer_folder, "_load", counting_load)
    results: list[ItemResult] = []
    plan = plan_folder(src, tmp_path / "tight")
    segment_folder(predictor, plan.items, results.append, batch_size=4, workers=4, max_bytes=1)
    assert len(results) == 6 and all(r.error is None for r in results) and peak[0] == 1
    plan = plan_folder(src, tmp_path / "free")
    segment_folder(predictor, plan.items, lambda r: None, batch_size=4, workers=4)
    for photo in photos:
        tight = np.asarray(Image.open(tmp_path / "tight" / f"{photo.stem}.png"))
        free = np.asarray(Image.open(tmp_path / "free" / f"{photo.stem}.png"))
        np.testing.assert_array_equal(tight, free)


def test_the_default_batch_shrinks_for_large_photos():
    from engine.infer.infer_folder import READ_AHEAD_BYTES

    cuda = torch.device("cuda")
    assert default_batch_size(cuda, 256, photo_bytes=1 << 20) == 32  # small photos: the model decides
    big = READ_AHEAD_BYTES // 8
    assert default_batch_size(cuda, 256, photo_bytes=big) == 4
    assert default_batch_size(cuda, 256, photo_bytes=READ_AHEAD_BYTES * 3) == 1
