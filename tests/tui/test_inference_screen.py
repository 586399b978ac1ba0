"""The inference screen: run choice, image picking, threshold/outline/TTA keys, errors, save, snapshot."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tui_helpers import contrast_of, footer_text, inference_done, rendered, settled, toasts, wait_for, widget_text
from petseg_tui.app import PetsegApp
from textual.widgets import Input

from engine.errors import BadImageError
from petseg_tui.screens import inference as inf
from petseg_tui.screens.inference import InferenceScreen
from petseg_tui.widgets.image_picker import ImageTree
from petseg_tui.widgets.image_view import ImageView


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


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


@pytest.fixture
def fake_predictor(monkeypatch: pytest.MonkeyPatch) -> type[FakePredictor]:
    FakePredictor.calls = 0
    monkeypatch.setattr(inf, "load_predictor", lambda checkpoint: FakePredictor(checkpoint))
    return FakePredictor


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    make_photo(folder / "cat.jpg", seed=1)
    make_photo(folder / "dog.png", size=(80, 100), seed=2)
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "fake.jpg").write_text("this is text, not a JPEG\n")
    return folder


@pytest.fixture
def real_checkpoint_run(tmp_path: Path) -> Path:
    """A run folder whose best.pt is a tiny real UNet checkpoint in the contract format."""
    torch = pytest.importorskip("torch")
    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model("unet", width=4)
    run = tmp_path / "runs" / "tiny-unet"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"model": "unet", "image_size": 64}\n')
    torch.save(
        {
            "format": "petseg-checkpoint/1",
            "arch": {"name": "unet", "kwargs": {"width": 4}},
            "model": model.state_dict(),
            "image_size": 64,
            "mask_rule": "pet_border",
            "epoch": 1,
            "best_dice": 0.5,
            "config": {"model": "unet", "image_size": 64, "width": 4},
        },
        run / "checkpoints" / "best.pt",
    )
    return run


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


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


async def test_real_checkpoint_prediction_shows_image_mask_and_stats(
    real_checkpoint_run: Path, images: Path
) -> None:
    app = InferenceTestApp(real_checkpoint_run.parent, real_checkpoint_run, images)
    async with app.run_test(size=(100, 30)) as pilot:
        await inference_done(pilot)  # the model loads on open
        screen = app.screen
        assert isinstance(screen, InferenceScreen)
        assert "tiny-unet" in model_line(screen) and "unet" in model_line(screen)
        assert "epoch 1" in model_line(screen) and "best Dice 0.500" in model_line(screen)

        await run_on(pilot, screen, images / "cat.jpg")
        assert screen.error == ""
        assert screen.prediction is not None and screen.prediction.image.shape == (72, 96, 3)
        assert "cat.jpg" in result_line(screen) and "96×72" in result_line(screen)
        assert "pet " in result_line(screen) and "%" in result_line(screen)
        for pane in ("#pane-image", "#pane-mask", "#pane-overlay"):
            view = screen.query_one(pane, ImageView)
            assert view.image_widget is not None, pane
        assert type(screen.query_one("#pane-mask", ImageView).image_widget).__name__ == "HalfcellImage"
        assert app.is_running


@pytest.mark.slow  # over ~3 s alone (the marker's rule)
async def test_threshold_keys_rethreshold_without_rerunning_the_model(
    tmp_path: Path, images: Path, fake_predictor
) -> None:
    async with inference_screen(tmp_path, images) as (pilot, screen):
        await run_on(pilot, screen, images / "cat.jpg")
        assert fake_predictor.calls == 1
        assert screen.rendered.fraction == pytest.approx(0.5, abs=0.02)
        assert "thr 0.50" in result_line(screen) and "pet 50.0%" in result_line(screen)

        await pilot.press("plus", "plus")  # two steps up
        await inference_done(pilot)
        assert screen.threshold == pytest.approx(0.60)
        assert "thr 0.60" in result_line(screen)
        assert screen.rendered.fraction == pytest.approx(0.40, abs=0.02)

        await pilot.press("minus", "minus", "minus", "minus")
        await inference_done(pilot)
        assert screen.threshold == pytest.approx(0.40)
        assert screen.rendered.fraction == pytest.approx(0.60, abs=0.02)
        assert fake_predictor.calls == 1  # re-thresholded, not re-run

        for _ in range(10):  # clamped at the low end (0.40 is 7 steps above it)
            await pilot.press("minus")
        await inference_done(pilot)
        assert screen.threshold == pytest.approx(0.05)

        outline_before = screen.rendered.outline
        await pilot.press("u")
        await inference_done(pilot)
        assert screen.rendered.outline is (not outline_before)
        assert fake_predictor.calls == 1

        await pilot.press("t")  # flip TTA re-runs the model
        await inference_done(pilot)
        assert screen.tta and "TTA on" in result_line(screen)
        assert fake_predictor.calls == 2


async def test_enter_on_a_file_in_the_tree_runs_inference(tmp_path: Path, images: Path, fake_predictor) -> None:
    async with inference_screen(tmp_path, images) as (pilot, screen):
        tree = screen.query_one("#inf-tree", ImageTree)
        labels = [str(node.label) for node in tree.root.children]
        assert labels == ["cat.jpg", "dog.png", "fake.jpg"]  # .txt filtered out, folders kept
        tree.focus()
        tree.move_cursor(tree.root.children[1])
        await pilot.press("enter")
        await inference_done(pilot)
        assert screen.prediction is not None and Path(screen.prediction.source).name == "dog.png"
        assert "80×100" in result_line(screen)


async def test_a_folder_typed_in_the_path_box_roots_the_tree_there(tmp_path: Path, images: Path,
                                                                   fake_predictor) -> None:
    """The tree follows a new root as it did with Textual's own path watcher (`ImageTree.watch_path`
    queues that watcher rather than its coroutine)."""
    make_photo(tmp_path / "other" / "bird.jpg", seed=3)
    async with inference_screen(tmp_path, images) as (pilot, screen):
        tree = screen.query_one("#inf-tree", ImageTree)
        await type_path(pilot, screen.query_one("#inf-path"), tmp_path / "other")
        await pilot.press("enter")
        await wait_for(pilot, lambda: [str(n.label) for n in tree.root.children] == ["bird.jpg"],
                       what="the typed folder's photos")
        assert str(tree.root.label) == "other/" and not screen.error


async def test_non_image_file_shows_error_and_screen_stays_usable(
    tmp_path: Path, images: Path, fake_predictor
) -> None:
    async with inference_screen(tmp_path, images) as (pilot, screen):
        await run_on(pilot, screen, images / "fake.jpg")
        assert "fake.jpg" in screen.error
        err = screen.query_one("#inf-error")
        assert err.has_class("-shown") and err.display
        assert pilot.app.is_running and "running the model" not in result_line(screen)

        # a typed path that does not exist, through the Input
        inp = screen.query_one("#inf-path")
        await type_path(pilot, inp, images / "missing.png")
        await pilot.press("enter")
        await inference_done(pilot)
        assert "missing.png" in screen.error
        assert inp.has_focus  # still typing: the next path is not run as hotkeys
        await pilot.press("escape")  # esc leaves the box first, not the screen
        assert isinstance(pilot.app.screen, InferenceScreen) and not inp.has_focus

        await run_on(pilot, screen, images / "cat.jpg")  # a good image still works
        assert screen.error == "" and not screen.query_one("#inf-error").has_class("-shown")
        assert Path(screen.prediction.source).name == "cat.jpg"

        # a bad file after a good one: the cat's picture and info must not stay under its error
        await run_on(pilot, screen, images / "fake.jpg")
        assert "fake.jpg" in screen.error
        assert screen.prediction is None and "cat.jpg" not in result_line(screen)
        assert screen.query_one("#pane-image", ImageView).pil_image is None


async def test_unreadable_truncated_image_is_an_error_with_the_real_engine(
    real_checkpoint_run: Path, images: Path
) -> None:
    data = (images / "cat.jpg").read_bytes()
    (images / "cut.jpg").write_bytes(data[: len(data) // 3])
    app = InferenceTestApp(real_checkpoint_run.parent, real_checkpoint_run, images)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await inference_done(pilot)
        await run_on(pilot, screen, images / "fake.jpg")
        assert "fake.jpg" in screen.error
        await run_on(pilot, screen, images / "cut.jpg")
        assert "cut.jpg" in screen.error
        assert app.is_running


@pytest.mark.parametrize("content", ["garbage", "other_arch", "missing"])
async def test_bad_checkpoint_shows_error_without_crash(
    tmp_path: Path, images: Path, real_checkpoint_run: Path, content: str
) -> None:
    import torch

    best = real_checkpoint_run / "checkpoints" / "best.pt"
    if content == "garbage":
        best.write_bytes(b"\x00not a checkpoint at all" * 10)
    elif content == "other_arch":
        ckpt = torch.load(best, weights_only=True)
        ckpt["arch"] = {"name": "resnet34_unet", "kwargs": {}}
        torch.save(ckpt, best)
    else:
        best.unlink()
    app = InferenceTestApp(real_checkpoint_run.parent, real_checkpoint_run, images)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await inference_done(pilot)
        assert "best.pt" in screen.error or "checkpoint" in screen.error
        await run_on(pilot, screen, images / "cat.jpg")
        assert screen.error and screen.prediction is None
        assert app.is_running and not screen.query_one("#inf-panes").loading


async def test_save_writes_overlay_and_mask_next_to_the_run(tmp_path: Path, images: Path, fake_predictor) -> None:
    """S is offered once there is a result: before, the footer offered "S Save" and pressing it
    only said there was nothing to save (issue 20: a key that cannot act is not offered)."""
    run = tmp_path / "runs" / "r1"
    async with inference_screen(tmp_path, images) as (pilot, screen):
        assert "Save" not in footer_text(screen)
        await pilot.press("S")  # nothing to save yet: nothing happens, no error, no file
        await inference_done(pilot)
        assert not screen.error and not (run / "predictions").exists()
        await run_on(pilot, screen, images / "dog.png")
        await wait_for(pilot, lambda: "S Save" in footer_text(screen), what="S offered with a result")
        await pilot.press("S")
        await inference_done(pilot)
        overlay, mask = run / "predictions" / "dog_overlay.png", run / "predictions" / "dog_mask.png"
        assert overlay.is_file() and mask.is_file()
        with Image.open(overlay) as im:
            assert im.size == (80, 100) and im.mode == "RGB"
        with Image.open(mask) as im:
            assert im.size == (80, 100)
            m = np.asarray(im)
        assert 0.45 < (m > 0).mean() < 0.55


async def test_saving_at_another_threshold_keeps_the_earlier_pair(tmp_path: Path, images: Path,
                                                                  fake_predictor) -> None:
    """S at 0.50 then at 0.60 silently replaced the first overlay and mask: the threshold is now in
    the name when it is not 0.5, and a save that does replace an earlier pair says so."""
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, images)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        await inference_done(pilot)
        await run_on(pilot, screen, images / "dog.png")
        await pilot.press("S")
        await inference_done(pilot)
        await wait_for(pilot, lambda: "Saved overlay and mask (80×100)" in toasts(app), what="the saved toast")
        assert "replacing" not in toasts(app)
        first = (run / "predictions" / "dog_mask.png").read_bytes()
        app.clear_notifications()
        await pilot.press("plus", "plus")  # 0.60
        await pilot.press("S")
        await inference_done(pilot)
        assert sorted(p.name for p in (run / "predictions").iterdir()) == [
            "dog_mask.png", "dog_overlay.png", "dog_t0.60_mask.png", "dog_t0.60_overlay.png"]
        assert (run / "predictions" / "dog_mask.png").read_bytes() == first
        assert (run / "predictions" / "dog_t0.60_mask.png").read_bytes() != first
        await wait_for(pilot, lambda: "dog_t0.60_overlay.png" in toasts(app), what="the second saved toast")
        assert "replacing" not in toasts(app)
        app.clear_notifications()
        await pilot.press("S")  # the same photo at the same threshold again
        await inference_done(pilot)
        await wait_for(pilot, lambda: "Saved overlay and mask (80×100), replacing the earlier pair" in toasts(app),
                       what="the replacing toast")


async def test_run_list_offers_runs_with_checkpoints_and_loads_the_chosen_one(
    tmp_path: Path, images: Path, fake_predictor
) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "alpha")
    make_run(runs, "empty", checkpoint=False)
    beta = make_run(runs, "beta")
    (beta / "checkpoints" / "best.pt").rename(beta / "checkpoints" / "last.pt")
    os.utime(runs / "alpha" / "config.json", (1e9, 1e9))  # alpha trained long ago, beta just now
    app = InferenceTestApp(runs, None, images)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await inference_done(pilot)
        await run_on(pilot, screen, images / "cat.jpg")  # no run yet: error, no crash
        assert "Pick a run" in screen.error
        options = screen.query_one("#inf-runs")
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            str(runs / "beta"),  # the newest run first
            str(runs / "alpha"),
        ]
        options.focus()
        options.highlighted = 0
        await pilot.press("enter")
        await inference_done(pilot)
        assert screen.run_path == runs / "beta"
        assert "beta" in model_line(screen) and "last.pt" in model_line(screen) and "epoch 7" in model_line(screen)
        await run_on(pilot, screen, images / "cat.jpg")
        assert screen.error == "" and screen.prediction is not None


async def test_opened_without_a_run_says_to_pick_one_at_once(tmp_path: Path, images: Path, fake_predictor) -> None:
    """`i` on a run without a checkpoint opens the screen on the run list: its model line says
    what to do and its settings line shows the threshold, before any key. Both lines were blank
    until the first key (they were drawn from on_mount, before Textual counts the screen mounted)."""
    runs = tmp_path / "runs"
    make_run(runs, "alpha")
    app = InferenceTestApp(runs, None, images)
    async with app.run_test(size=(100, 30)) as pilot:
        await inference_done(pilot)
        await pilot.pause()
        screen = app.screen
        assert "Pick a run (↑↓ Enter), then an image." in widget_text(screen.query_one("#inf-model"))
        assert "thr 0.50" in widget_text(screen.query_one("#inf-result"))


async def test_run_list_shows_a_hand_copied_folder_name_as_written(tmp_path: Path, images: Path,
                                                                    fake_predictor) -> None:
    """A run folder copied by hand (``cp -r alpha "alpha [copy]"``) is listed under its name:
    the list read it as markup and showed ``alpha `` (the ``[copy]`` taken for a style)."""
    runs = tmp_path / "runs"
    make_run(runs, "alpha [copy]")
    app = InferenceTestApp(runs, None, images)
    async with app.run_test(size=(100, 30)) as pilot:
        await inference_done(pilot)
        assert "alpha [copy]  unet" in widget_text(app.screen.query_one("#inf-runs"))


async def test_names_with_brackets_are_shown_as_written(tmp_path: Path, images: Path, fake_predictor) -> None:
    """A run folder or a photo named with brackets ("alpha [copy]", "cat [copy].jpg") is named
    as it is: the lines read them as markup and showed "alpha " and "cat .jpg", also in the
    error line of a file that is not an image."""
    run = make_run(tmp_path / "runs", "alpha [copy]")
    photo = make_photo(images / "cat [copy].jpg", seed=3)
    (images / "bad [copy].jpg").write_text("not a JPEG\n")
    app = InferenceTestApp(run.parent, run, images)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await inference_done(pilot)
        await run_on(pilot, screen, photo)
        assert "alpha [copy]" in model_line(screen) and "cat [copy].jpg" in result_line(screen)
        await run_on(pilot, screen, images / "bad [copy].jpg")
        assert "bad [copy].jpg" in rendered(screen.query_one("#inf-error"))


async def test_overlay_key_and_one_large_overlay_below_120_columns(tmp_path: Path, images: Path, fake_predictor) -> None:
    async with inference_screen(tmp_path, images) as (pilot, screen):
        await run_on(pilot, screen, images / "cat.jpg")
        overlay, image = screen.query_one("#pane-overlay"), screen.query_one("#pane-image")
        assert overlay.display and not image.display  # 100 columns: one large overlay
        await pilot.press("o")
        await pilot.pause()
        assert image.display and screen.query_one("#pane-mask").display and not overlay.display
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, InferenceScreen)


async def test_a_layout_chosen_with_o_holds_across_resizes(tmp_path: Path, images: Path, fake_predictor) -> None:
    """Split with o at 100 columns into image and mask, widened past 120 and narrowed back, the
    screen was one large overlay again: each change of the width class reset the layout to its
    default. The choice made with o now holds; without one, the width's default still applies."""
    async with inference_screen(tmp_path, images) as (pilot, screen):
        await run_on(pilot, screen, images / "cat.jpg")
        overlay, image = screen.query_one("#pane-overlay"), screen.query_one("#pane-image")

        async def resize(width: int) -> None:
            await pilot.resize_terminal(width, 30)
            await wait_for(pilot, lambda: screen.size.width == width and screen.at_least("-wide") == (width >= 120),
                           what=f"{width} columns")
            await pilot.pause()

        await resize(140)
        assert image.display and overlay.display  # no choice: image | mask | overlay from 120 columns
        await resize(100)
        assert overlay.display and not image.display  # no choice: one large overlay below
        await pilot.press("o")
        await pilot.pause()
        assert image.display and not overlay.display
        await resize(140)
        await resize(100)
        assert image.display and screen.query_one("#pane-mask").display and not overlay.display


async def test_at_80_columns_the_empty_overlay_says_what_to_do_first(tmp_path: Path, images: Path,
                                                                    fake_predictor) -> None:
    """Below 120 columns only the overlay pane shows: the screen opened on an empty box whose one
    word was "image + mask", the image pane's "pick an image, then r" hidden beside it."""
    async with inference_screen(tmp_path, images, size=(80, 24)) as (pilot, screen):
        overlay = screen.query_one("#pane-overlay", ImageView)
        assert overlay.display
        # the hint is the empty pane's bottom border
        await wait_for(pilot, lambda: str(overlay.border_subtitle) == "pick an image, then r", what="the first step")
        await pilot.press("o")  # image and mask: the image pane says it, the overlay (hidden) what it is
        await wait_for(pilot, lambda: str(overlay.border_subtitle) == "image + mask", what="the overlay's own hint")
        assert str(screen.query_one("#pane-image", ImageView).border_subtitle) == "pick an image, then r"


async def test_m_cycles_only_through_modes_that_can_show(tmp_path: Path, images: Path, fake_predictor,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """In tmux (auto) only half-cells reach the terminal: m says so and keeps them; with a mode
    forced by --image-mode it cycles between that mode and half-cells."""
    from petseg_tui.widgets.sixel import SixelImage

    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, images, image_mode="auto")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        await inference_done(pilot)
        await run_on(pilot, screen, images / "cat.jpg")
        await pilot.press("M")
        await wait_for(pilot, lambda: "Only halfcell can be drawn here" in toasts(app), what="why M keeps half-cells")
        assert screen.image_mode == "halfcell" and "halfcell" in result_line(screen)
    app = InferenceTestApp(run.parent, run, images, image_mode="sixel")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await inference_done(pilot)
        await run_on(pilot, screen, images / "cat.jpg")
        overlay = screen.query_one("#pane-overlay", ImageView)
        assert isinstance(overlay.image_widget, SixelImage)
        await pilot.press("M")
        await pilot.pause()
        assert screen.image_mode == "halfcell" and not isinstance(overlay.image_widget, SixelImage)
        await pilot.press("M")
        await pilot.pause()
        assert screen.image_mode == "sixel" and len(overlay.query(".image-view--image")) == 1


async def _enter_a_path(pilot, path: Path) -> Input:
    """Once the screen's first inference is done: ``path`` typed in the path box and run with
    Enter, until its inference is done too; returns the box."""
    await inference_done(pilot)
    inp = pilot.app.screen.query_one("#inf-path", Input)
    await type_path(pilot, inp, path)
    await pilot.press("enter")
    await inference_done(pilot)
    return inp


async def test_letters_typed_after_enter_in_the_path_box_stay_text(tmp_path: Path, images: Path,
                                                                    fake_predictor) -> None:
    """Enter runs the typed path and keeps the focus in the box: the next path typed is text,
    not s (save), t (TTA), - (threshold), r (run) or m (mode)."""
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, images)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        inp = await _enter_a_path(pilot, images / "cat.jpg")
        assert screen.prediction is not None and inp.has_focus
        runs_before = screen.model_runs
        inp.value = ""
        await pilot.press(*"st-rm")
        await inference_done(pilot)
        assert inp.value == "st-rm"
        assert "TTA off" in result_line(screen) and "thr 0.50" in result_line(screen)
        assert screen.model_runs == runs_before and not (run / "predictions").exists()
        assert "halfcell" in result_line(screen)


async def test_a_second_path_typed_after_enter_replaces_the_first(tmp_path: Path, images: Path,
                                                                   fake_predictor) -> None:
    """After Enter the path stays in the box, selected: the next path typed replaces it. It was
    appended to it, and the screen said "…/cat.jpg/nope.jpg: no such file" until the box was
    cleared by hand."""
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, images)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        inp = await _enter_a_path(pilot, images / "cat.jpg")
        assert "cat.jpg" in result_line(screen)
        await pilot.press(*"/nope.jpg", "enter")
        await inference_done(pilot)
        assert inp.value == "/nope.jpg"
        assert screen.error.startswith("/nope.jpg: ")  # the path typed, nothing before it


async def test_settings_and_the_whole_result_show_at_80_columns(tmp_path: Path, fake_predictor) -> None:
    """At 80x24 the result of a photo with a trimap wraps onto three lines: the settings the keys
    change (threshold, TTA, outline, image mode) still show on screen, and so does the Dice."""
    from engine.data.samples import sample_pairs

    image, _ = sample_pairs()[0]
    async with inference_screen(tmp_path, image.parent, size=(80, 24)) as (pilot, screen):
        await run_on(pilot, screen, image)
        await pilot.press("plus", "u")
        await inference_done(pilot)
        shown = " ".join(widget_text(screen.query_one("#inf-result")).split())
        assert "thr 0.55 · TTA off · outline off · halfcell" in shown
        assert "vs its trimap (border ignored)" in shown


async def test_the_footer_offers_only_esc_while_the_path_box_types(tmp_path: Path, images: Path,
                                                                   fake_predictor) -> None:
    """The path box takes + - r t o u S M as text: the footer does not offer them while it has
    the focus, and offers them again once Esc leaves it."""
    async with inference_screen(tmp_path, images, size=(160, 48)) as (pilot, screen):
        assert "Thr" in footer_text(screen) and "TTA" in footer_text(screen)
        inp = screen.query_one("#inf-path", Input)
        inp.focus()
        await wait_for(pilot, lambda: "Thr" not in footer_text(screen), what="the footer without Thr")
        assert footer_text(screen).split()[:2] == ["esc", "Back"]
        for key in ("Run", "TTA", "Overlay", "Outline", "Save", "Mode"):
            assert key not in footer_text(screen)
        await pilot.press("plus")
        assert inp.value == "+" and screen.threshold == 0.5
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Thr" in footer_text(screen), what="the footer with Thr again")


def test_the_trimap_of_a_photo_turned_by_its_exif_is_turned_alike(tmp_path: Path) -> None:
    """The screen predicts the photo as shown (EXIF applied); its trimap follows the stored pixels
    and is turned the same way before scoring, so a perfect mask scores 1.0 (it was compared
    with a stretched trimap at 90 degrees)."""
    from types import SimpleNamespace

    from engine.data.images import load_rgb
    from petseg_tui.screens.prediction import render_prediction, truth_for

    stored = np.full((30, 50), 2, np.uint8)
    stored[5:13, 6:19] = 1
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations" / "trimaps").mkdir(parents=True)
    photo = tmp_path / "images" / "cat.jpg"
    Image.fromarray(stored).save(tmp_path / "annotations" / "trimaps" / "cat.png")
    picture = Image.fromarray(np.repeat(stored[..., None] * 60, 3, axis=2))
    exif = picture.getexif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    picture.save(photo, exif=exif.tobytes())
    shown = np.rot90(stored == 1, -1).astype(np.uint8)
    prediction = SimpleNamespace(source=photo, image=load_rgb(photo), mask=lambda threshold: shown)
    assert prediction.image.shape[:2] == shown.shape

    truth = truth_for(prediction, "pet_only")
    assert truth.trimap is not None and truth.trimap.shape == shown.shape
    assert render_prediction(prediction, 0.5, True, truth=truth).dice == pytest.approx(1.0)


def _sideways_pair(root: Path) -> tuple[Path, np.ndarray]:
    """An Oxford-layout photo stored 30x50 with EXIF orientation 6 (a camera's portrait shot,
    shown 50 tall and 30 wide), its trimap drawn on the stored pixels as Oxford-IIIT Pet's are:
    pet in the stored right half."""
    stored = np.full((30, 50), 2, np.uint8)
    stored[:, 25:] = 1
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    Image.fromarray(stored).save(root / "annotations" / "trimaps" / "cat.png")
    photo = root / "images" / "cat.jpg"
    picture = Image.fromarray(np.repeat(stored[..., None] * 60, 3, axis=2))
    exif = picture.getexif()
    exif[0x0112] = 6
    picture.save(photo, exif=exif.tobytes())
    return photo, stored


class RampPredictor(FakePredictor):
    """The engine's own decode and orientation rule (`Predictor.predict_file`) around a model whose
    pet probability rises left to right across whatever pixels it is given."""

    from engine.infer.inference import Predictor

    predict_file = Predictor.predict_file
    del Predictor

    def predict_array(self, image: np.ndarray, tta: bool = False) -> np.ndarray:
        h, w = image.shape[:2]
        return np.tile(((np.arange(w) + 0.5) / w).astype(np.float32), (h, 1))


async def test_a_sideways_dataset_photo_is_scored_as_eval_scores_it_and_shown_upright(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dataset photo with EXIF orientation 6 was predicted upright and its trimap turned to
    match, so its Dice here differed from petseg eval's, which gives the model the stored pixels
    (those the trimap is drawn on, as training does). Now the model gets the stored pixels here
    too (the same Dice as eval), and the photo, mask and trimap are then shown upright; a photo
    without a trimap is still predicted and shown upright."""
    from engine.eval.mask_scores import score_against_trimap

    monkeypatch.setattr(inf, "load_predictor", lambda checkpoint: RampPredictor(checkpoint))
    photo, stored = _sideways_pair(tmp_path / "pets")
    trimap = photo.parent.parent / "annotations" / "trimaps" / "cat.png"
    as_eval = RampPredictor.predict_array(None, np.zeros((30, 50, 3), np.uint8)) > 0.5  # the stored pixels' mask
    expected, _ = score_against_trimap(as_eval.astype(np.uint8), trimap, "pet_border")
    assert expected == pytest.approx(1.0)
    async with inference_screen(tmp_path, photo.parent) as (pilot, screen):
        await run_on(pilot, screen, photo)
        assert "Dice 1.000" in result_line(screen), result_line(screen)
        assert screen.prediction.image.shape == (50, 30, 3)  # upright, as viewers show it
        loose = tmp_path / "loose" / "cat.jpg"
        loose.parent.mkdir()
        loose.write_bytes(photo.read_bytes())  # the same file with no trimap beside it
        await run_on(pilot, screen, loose)
        assert "Dice" not in result_line(screen)
        assert screen.prediction.image.shape == (50, 30, 3)
        upright = screen.prediction.mask(0.5)
        assert upright[:, 15:].all() and not upright[:, :15].any()  # the model was given the upright photo


async def test_dice_against_the_trimap_when_the_photo_has_one(tmp_path: Path, fake_predictor) -> None:
    """A bundled photo sits in the Oxford layout with its trimap: the result line gives its Dice
    (and it changes with the threshold); a loose photo has no score."""
    from engine.data.samples import sample_pairs
    from engine.eval.mask_scores import score_against_trimap

    image, trimap = sample_pairs()[0]
    async with inference_screen(tmp_path, image.parent) as (pilot, screen):
        await run_on(pilot, screen, image)
        expected, _ = score_against_trimap(screen.prediction.mask(0.5), trimap, "pet_border")  # as petseg eval
        assert f"Dice {expected:.3f}" in result_line(screen)
        assert "vs its trimap (border ignored)" in result_line(screen)
        await pilot.press("minus")
        await inference_done(pilot)
        lower, _ = score_against_trimap(screen.prediction.mask(0.45), trimap, "pet_border")
        assert f"Dice {lower:.3f}" in result_line(screen)
        loose = make_photo(tmp_path / "loose" / "cat.jpg")
        await run_on(pilot, screen, loose)
        assert "Dice" not in result_line(screen)


async def test_running_the_model_is_legible_in_a_light_theme(tmp_path: Path, images: Path, fake_predictor) -> None:
    """"running the model …" was Textual markup [yellow]: CSS yellow, #ffff00, which on
    textual-light's pale grey (contrast 1.2) could not be read; the theme's warning text colour
    is legible in light and dark themes alike."""
    async with inference_screen(tmp_path, images) as (pilot, screen):
        for theme in ("textual-light", "textual-dark"):
            pilot.app.theme = theme  # as the command palette's Theme switches it
            screen.busy = True
            await settled(pilot)
            assert contrast_of(screen.query_one("#inf-result"), "running the model") >= 3.0, theme


async def test_wide_terminal_shows_three_panes(tmp_path: Path, images: Path, fake_predictor) -> None:
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, images)
    async with app.run_test(size=(160, 48)) as pilot:
        await inference_done(pilot)
        for pane in ("#pane-image", "#pane-mask", "#pane-overlay"):
            assert app.screen.query_one(pane).display


def test_bindings_all_have_descriptions() -> None:
    for binding in InferenceScreen.BINDINGS:
        assert binding.description and binding.tooltip, binding


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_result_halfcell(snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size) -> None:
    """One large overlay below 120 columns; image, mask and overlay side by side from 120."""
    monkeypatch.setattr(inf, "load_predictor", lambda checkpoint: FakePredictor(checkpoint))
    # the image's cell size follows the terminal's cell aspect: pin it (10×20 px, textual-image's
    # default off a tty) so `pytest -s` in a real terminal draws the same picture
    from petseg_tui.image_modes import image_widget_class
    from textual_image import _terminal

    image_widget_class("halfcell")  # imports textual-image quietly, once
    monkeypatch.setattr(_terminal.get_cell_size, "_result", _terminal.CellSize(10, 20), raising=False)
    folder = tmp_path / "images"
    make_photo(folder / "cat.jpg", size=(120, 90), seed=3)
    make_photo(folder / "dog.png", seed=4)
    run = make_run(tmp_path / "runs", "snap-run")
    app = InferenceTestApp(run.parent, run, folder, image_mode="halfcell")

    async def run_before(pilot) -> None:
        await inference_done(pilot)
        await run_on(pilot, app.screen, folder / "cat.jpg")
        await pilot.press("plus")
        await inference_done(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_resolve_image_mode_inside_tmux_and_forced() -> None:
    from petseg_tui.image_modes import next_mode, resolve_image_mode

    assert resolve_image_mode("auto", env={"TMUX": "/tmp/tmux-0/default,1,0", "TERM": "tmux-256color"}) == "halfcell"
    assert resolve_image_mode("auto", env={"TERM": "screen-256color"}) == "halfcell"
    assert resolve_image_mode("kitty", env={"TMUX": "x"}) == "kitty"  # forced: the user knows best
    assert resolve_image_mode("SIXEL") == "sixel"
    assert resolve_image_mode("tgp") == "kitty"
    assert resolve_image_mode("auto", env={"TERM": "xterm-256color"}) in ("halfcell", "sixel", "kitty")
    with pytest.raises(ValueError, match="--image-mode"):
        resolve_image_mode("ascii-art")
    assert [next_mode(m) for m in ("halfcell", "sixel", "kitty", "bogus")] == ["sixel", "kitty", "halfcell", "halfcell"]


def test_image_widget_classes_match_modes() -> None:
    from textual_image.widget import TGPImage

    from petseg_tui.image_modes import image_widget_class
    from petseg_tui.widgets.halfcell import HalfcellImage  # textual-image's drawing, no layout per picture
    from petseg_tui.widgets.sixel import SixelImage  # textual-image's, sent once, palette first

    assert image_widget_class("halfcell") is HalfcellImage
    assert image_widget_class("sixel") is SixelImage
    assert image_widget_class("kitty") is TGPImage


def test_screen_module_imports_neither_torch_nor_textual_image() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import petseg_tui.screens.inference; "
        "print(sorted(m for m in ('torch', 'textual_image', 'engine.infer.inference', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_opens_from_the_real_app_and_escape_returns(tmp_path: Path, images: Path, fake_predictor) -> None:
    from petseg_tui.app import PetsegApp

    run = make_run(tmp_path / "runs", "r1")
    app = PetsegApp(runs_dir=run.parent, image_mode="auto")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.action_infer(run)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, InferenceScreen)
        assert screen.image_mode == "halfcell"  # auto, not a terminal: half cells
        await inference_done(pilot)
        await run_on(pilot, screen, images / "cat.jpg")
        assert screen.error == "" and "pet 50.0%" in result_line(screen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, InferenceScreen)


async def test_leaving_while_the_model_runs_does_not_crash(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    release, done = threading.Event(), threading.Event()

    class SlowPredictor(FakePredictor):
        def predict_file(self, path, tta=False, max_side=4096, *, with_trimap=False):
            release.wait(30)  # still running until the test has left the screen
            try:
                return super().predict_file(path, tta=tta, max_side=max_side)
            finally:
                done.set()

    monkeypatch.setattr(inf, "load_predictor", lambda checkpoint: SlowPredictor(checkpoint))
    async with inference_screen(tmp_path, images) as (pilot, screen):
        screen.selected_image = images / "cat.jpg"
        await pilot.press("r")
        await wait_for(pilot, lambda: "running the model" in result_line(screen), what="said while the worker runs")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(pilot.app.screen, InferenceScreen), what="the screen left")
        release.set()
        await wait_for(pilot, done.is_set, what="the model's answer, after the screen is gone")
        await settled(pilot)  # its result delivered to a screen that is no longer there
        assert pilot.app.is_running and not isinstance(pilot.app.screen, InferenceScreen)


async def test_a_huge_photo_is_saved_at_its_own_size_and_the_header_says_it_was_downscaled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A photo past the 2048 px the model sees is predicted downscaled, as the engine decodes it;
    the result line says so and S writes the mask and overlay at the photo's own size, as
    ``petseg infer --image`` does (they were written at the downscaled size)."""
    from engine.data.images import load_rgb

    class DownscalingPredictor(FakePredictor):
        def predict_file(self, path, tta=False, max_side=2048, *, with_trimap=False):
            image = load_rgb(path, max_side=max_side)  # the engine's own decode, downscaled past 2048
            h, w = image.shape[:2]
            prob = np.tile(((np.arange(w) + 0.5) / w).astype(np.float32), (h, 1))
            return FakePrediction(image, prob, path, 0.25)

    monkeypatch.setattr(inf, "load_predictor", lambda checkpoint: DownscalingPredictor(checkpoint))
    photo = make_photo(tmp_path / "images" / "huge.png", size=(3000, 240))
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, photo.parent)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        screen = app.screen
        await inference_done(pilot)
        await run_on(pilot, screen, photo)
        assert "huge.png 2048×164 (downscaled from 3000×240)" in widget_text(screen.query_one("#inf-result"))
        await pilot.press("S")
        await inference_done(pilot)
        for kind in ("mask", "overlay"):
            with Image.open(run / "predictions" / f"huge_{kind}.png") as im:
                assert im.size == (3000, 240), kind
        await wait_for(pilot, lambda: "Saved overlay and mask (3000×240)" in toasts(app), what="the saved toast")


async def test_the_run_list_is_read_off_the_ui_thread(tmp_path: Path, images: Path, fake_predictor,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Opened without a run, the screen listed the runs with a checkpoint in on_mount, on the UI
    thread: some 250 ms for 500 runs on a cold disk, the dashboard frozen meanwhile. A worker lists
    them now; meanwhile the list says "listing runs …", and the runs take the cursor once listed."""
    import threading

    from petseg_tui.widgets import run_image_picker

    runs = tmp_path / "runs"
    make_run(runs, "alpha")
    real, release, threads = run_image_picker.list_runs_with_checkpoints, threading.Event(), []

    def slow(runs_dir: Path) -> list[tuple[Path, str]]:
        threads.append(threading.current_thread())
        release.wait(30)  # a cold disk; bounded, so that the old code fails instead of hanging
        return real(runs_dir)

    monkeypatch.setattr(run_image_picker, "list_runs_with_checkpoints", slow)
    monkeypatch.setattr(inf, "list_runs_with_checkpoints", slow, raising=False)
    app = InferenceTestApp(runs, None, images)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: bool(threads) and isinstance(app.screen, InferenceScreen), what="the listing")
        screen = app.screen
        await pilot.pause()
        assert threads[0] is not threading.main_thread()
        assert "listing runs …" in widget_text(screen.query_one("#inf-runs"))
        assert "Listing the runs with a checkpoint" in model_line(screen)
        release.set()
        await inference_done(pilot)
        options = screen.query_one("#inf-runs")
        assert "alpha  unet" in widget_text(options) and "listing" not in widget_text(options)
        assert "Pick a run (↑↓ Enter), then an image." in model_line(screen)
        assert app.focused is options and options.highlighted == 0


async def test_a_runs_folder_that_cannot_be_listed_is_one_line(tmp_path: Path, images: Path, fake_predictor,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A runs folder the listing cannot read is said on the error line; the list says there is no
    run and the image tree stays usable."""
    from petseg_tui.widgets import run_image_picker

    def unreadable(runs_dir: Path) -> list[tuple[Path, str]]:
        raise PermissionError(13, "Permission denied", str(runs_dir))

    monkeypatch.setattr(run_image_picker, "list_runs_with_checkpoints", unreadable)
    monkeypatch.setattr(inf, "list_runs_with_checkpoints", unreadable, raising=False)
    runs = tmp_path / "runs"
    app = InferenceTestApp(runs, None, images)
    async with app.run_test(size=(100, 30)) as pilot:
        await inference_done(pilot)
        screen = app.screen
        assert isinstance(screen, InferenceScreen) and app.is_running
        assert screen.error.startswith(f"cannot list the runs: {runs}: permission denied")
        assert "no trained runs in" in widget_text(screen.query_one("#inf-runs"))  # wrapped: the path is long
        assert app.focused is screen.query_one("#inf-tree")


async def test_the_screen_has_the_title_bar_of_the_others(tmp_path: Path, images: Path, fake_predictor) -> None:
    """Every screen has a title bar naming it (and its run) but this one, which began with the run
    list: it has the same bar now, "petseg — inference", then "· alpha" once a run is chosen; at
    80x24 the path box and the footer still show under it."""
    runs = tmp_path / "runs"
    make_run(runs, "alpha")
    app = InferenceTestApp(runs, None, images)
    async with app.run_test(size=(80, 24)) as pilot:
        await inference_done(pilot)
        screen = app.screen
        header = screen.query_one("PetsegHeader")
        assert header.region.y == 0 and widget_text(header).strip() == "petseg — inference"
        await pilot.press("enter")  # the run list has the cursor: alpha
        await inference_done(pilot)
        assert widget_text(header).strip() == "petseg — inference · alpha"
        for part in ("#inf-path", "Footer"):
            region = screen.query_one(part).region
            assert region.height and region.bottom <= 24, part


async def test_a_file_name_too_long_for_the_tree_is_cut_in_the_middle_at_80_columns(tmp_path: Path,
                                                                                    fake_predictor) -> None:
    """The file tree's panel edge cut a long photo name with no sign ("British_Shorthair_102."
    at 80 columns), its number and extension lost; it is cut in the middle with "…"."""
    folder = tmp_path / "images"
    for name in ("British_Shorthair_102.jpg", "Abyssinian_11.jpg", "great_pyrenees_174.jpg"):
        make_photo(folder / name)
    async with inference_screen(tmp_path, folder, size=(80, 24)) as (pilot, screen):
        tree = screen.query_one(ImageTree)
        await wait_for(pilot, lambda: "Abyssinian_11.jpg" in widget_text(tree), what="the photos listed")
        lines = widget_text(tree).splitlines()
        long = next(line for line in lines if "British" in line)
        assert "…" in long and long.rstrip().endswith("_102.jpg"), lines
        assert any(line.rstrip().endswith("📄 great_pyrenees_174.jpg") for line in lines), lines  # one that fits is whole


async def test_while_the_model_loads_the_screen_says_so_then_what_to_do(tmp_path: Path, images: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Opened on a run, the result line read "running the model …" for the ~15 s its model
    loaded, before any photo was picked, then nothing: it says it is loading the model, then how
    to pick a photo."""
    import threading

    release = threading.Event()

    def slow_load(checkpoint: Path) -> FakePredictor:
        release.wait(30)
        return FakePredictor(checkpoint)

    monkeypatch.setattr(inf, "load_predictor", slow_load)
    run = make_run(tmp_path / "runs", "r1")
    app = InferenceTestApp(run.parent, run, images)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InferenceScreen), what="the screen")
        screen = app.screen
        await wait_for(pilot, lambda: "loading the model …" in result_line(screen), what="the load said")
        assert "running the model" not in result_line(screen)
        release.set()
        await inference_done(pilot)
        await wait_for(pilot, lambda: "pick a photo" in " ".join(widget_text(screen.query_one("#inf-result")).split()),
                       what="the next step said")
        assert "loading" not in result_line(screen) and "running" not in result_line(screen)
