"""How the inference screen lays out and draws: its panes by width and o, the picture modes (M,
--image-mode, tmux), the whole result and the title bar at 80 columns, legible in a light
theme, its keys described, its snapshots; the screen module imports no torch."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import contrast_of, inference_done, screen_rows, settled, toasts, wait_for, widget_text
from tui_inference import (FakePredictor, InferenceTestApp, inference_screen, make_photo, make_run,
                           result_line, run_on)

from petseg_tui.screens import inference as inf
from petseg_tui.screens.inference import InferenceScreen
from petseg_tui.widgets.image_view import ImageView


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


async def test_at_80_columns_the_model_line_keeps_the_best_dice_of_a_default_run_name(
        tmp_path: Path, images: Path, fake_predictor) -> None:
    """At 80 columns a run with its default name (unet-20261208-003059) read
    'unet-20261208-003059 · unet · epoch 7 · best Di…': the line was cut at its end, the Dice
    with it. The name (whole in the title bar) is cut in its middle now, so the figures show."""
    run = make_run(tmp_path / "runs", "unet-20261208-003059")
    app = InferenceTestApp(run.parent, run, images)
    async with app.run_test(size=(80, 24)) as pilot:
        await inference_done(pilot)
        await pilot.pause()
        rows = "\n".join(screen_rows(app))
        assert "epoch 7 · best Dice 0.8123" in rows
        assert "unet-20261208-003059" in rows.splitlines()[0]  # the title keeps the whole name
        await pilot.resize_terminal(160, 30)
        await wait_for(pilot, lambda: "unet-20261208-003059 · unet · epoch 7 · best Dice 0.8123"
                       in "\n".join(screen_rows(app)), what="the whole line at 160 columns")
