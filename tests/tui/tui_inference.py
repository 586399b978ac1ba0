"""Helpers of the inference screen's tests: the app opened on the screen, photos and runs to
open, a fake predictor, the screen's model and result lines, running it on a photo, typing a
path. Its fixtures (`fake_predictor`, `images`, `real_checkpoint_run`) are in conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tui_helpers import inference_done, rendered, wait_for
from petseg_tui.app import PetsegApp
from textual.widgets import Input

from engine.errors import BadImageError
from petseg_tui.screens.inference import InferenceScreen


class InferenceTestApp(PetsegApp):
    """The real app, opened on the inference screen (the runs screen stays below it)."""

    def __init__(self, runs_dir: Path, run_path: Path | None, start_dir: Path, image_mode: str = "halfcell"):
        super().__init__(runs_dir=runs_dir, image_mode=image_mode)
        self.inference_args = (run_path, start_dir)

    def on_mount(self) -> None:
        super().on_mount()
        self.push_screen(InferenceScreen(*self.inference_args))


def make_photo(path: Path, size=(96, 72), seed: int = 0) -> Path:
    """A small deterministic photo-like JPEG: a gradient background with a blob."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (xx * 255 // max(1, w - 1)).astype(np.uint8)
    img[..., 1] = (yy * 255 // max(1, h - 1)).astype(np.uint8)
    img[..., 2] = 90
    blob = (xx - w / 2) ** 2 / (w / 4) ** 2 + (yy - h / 2) ** 2 / (h / 3) ** 2 < 1
    img[blob] = (200, 160, 60)
    img = np.clip(img.astype(int) + rng.integers(-8, 8, img.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def make_run(runs_dir: Path, name: str, checkpoint: bool = True) -> Path:
    run = runs_dir / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"model": "unet"}\n')
    if checkpoint:
        (run / "checkpoints" / "best.pt").write_bytes(b"placeholder")
    return run


class FakePrediction:
    def __init__(self, image: np.ndarray, prob: np.ndarray, source: Path, seconds: float) -> None:
        self.image, self.prob, self.source, self.seconds = image, prob, Path(source), seconds

    def mask(self, threshold: float = 0.5) -> np.ndarray:
        return (self.prob > threshold).astype(np.uint8)


class FakePredictor:
    """Deterministic stand-in: probability rises left to right, so pet fraction = 1 - threshold."""

    arch_name, image_size, mask_rule, epoch, best_dice = "unet", 64, "pet_border", 7, 0.8123
    calls = 0

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint_path = checkpoint

    def predict_file(self, path, tta=False, max_side=4096, *, with_trimap=False):
        type(self).calls += 1
        try:
            with Image.open(path) as im:
                image = np.asarray(im.convert("RGB"))
        except Exception:
            raise BadImageError(path, "not an image file") from None
        h, w = image.shape[:2]
        prob = np.tile(((np.arange(w) + 0.5) / w).astype(np.float32), (h, 1))
        return FakePrediction(image, prob, path, 0.25)


def model_line(screen: InferenceScreen) -> str:
    """The model line as the screen renders it (run, architecture, epoch, best Dice)."""
    return rendered(screen.query_one("#inf-model"))


def result_line(screen: InferenceScreen) -> str:
    """The result lines as the screen renders them (image, pet share, Dice, settings)."""
    return rendered(screen.query_one("#inf-result"))


@asynccontextmanager
async def inference_screen(tmp_path: Path, folder: Path, size: tuple[int, int] = (100, 30)
                           ) -> AsyncIterator[tuple[Any, InferenceScreen]]:
    """(pilot, the inference screen) of a fresh run ``tmp_path/runs/r1`` browsing ``folder``, once
    the screen's first work is done."""
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, folder)
    async with app.run_test(size=size) as pilot:
        await inference_done(pilot)
        yield pilot, app.screen


async def run_on(pilot, screen: InferenceScreen, image: Path) -> None:
    """Select an image as the tree would, press r and wait for the worker and its callbacks."""
    screen.selected_image = image
    await pilot.press("r")
    await inference_done(pilot)


async def type_path(pilot, box: Input, path: Path) -> None:
    """Type a path into the path box as a user would finish one: the folder is filled in, the
    last "/" and the file name are typed key by key (typing all ~90 characters took ~4 s a test)."""
    box.focus()
    await wait_for(pilot, lambda: box.has_focus, what="the path box focused")
    box.value = str(path.parent)
    await pilot.press("end", *f"/{path.name}")
    assert box.value == str(path)
