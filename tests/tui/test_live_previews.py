"""The live screen's predictions panel: [ and ] through the epochs, v and the width deciding where
it shows, its header (the epoch against the run's budget, broken between its parts), an
unreadable preview, its keys offered once there are predictions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tui_helpers import (
    footer_text,
    make_run,
    open_live,
    wait_for,
    widget_text,
    write_previews,
)

from petseg_tui.app import PetsegApp


async def test_predictions_beside_the_charts_step_through_epochs(runs_dir: Path) -> None:
    make_run(runs_dir, "seen", epochs_done=3, total=3)
    write_previews(runs_dir / "seen", 3)

    from petseg_tui.widgets.image_view import ImageView
    from petseg_tui.widgets.previews import PreviewPanel

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "seen")
        panel = live.query_one(PreviewPanel)

        def header() -> str:
            return " ".join(widget_text(panel.query_one(".previews--header")).split())

        await wait_for(pilot, lambda: "epoch 3 of 3 · newest preview" in header(), what="newest epoch")
        assert panel.display and live.query_one("#dice-chart").display  # 120 columns: beside both charts
        await wait_for(pilot, lambda: panel.query_one(ImageView).pil_image is not None, what="picture")
        newest = panel.query_one(ImageView).pil_image.tobytes()
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: "epoch 2 of 3 · preview 2 of 3" in header(), what="epoch 2")
        await wait_for(pilot, lambda: panel.query_one(ImageView).pil_image.tobytes() != newest, what="new picture")
        assert "Dice" in header()
        await pilot.press("left_square_bracket", "left_square_bracket")
        await wait_for(pilot, lambda: "epoch 1 of 3 · preview 1 of 3" in header(), what="epoch 1, not below")
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: "epoch 3 of 3 · newest preview" in header(), what="following again")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "seen")
        panel = live.query_one(PreviewPanel)
        assert not panel.display and live.query_one("#dice-chart").display  # 80 columns: charts first
        await pilot.press("v")
        await wait_for(pilot, lambda: panel.display, what="predictions in the Dice chart's place")
        assert panel.display and not live.query_one("#dice-chart").display
        await wait_for(pilot, lambda: "epoch 3" in widget_text(panel.query_one(".previews--header")),
                       what="previews shown")


async def test_a_predictions_choice_made_with_v_holds_across_resizes(runs_dir: Path) -> None:
    """Shown with v at 80 columns, widened past 120 and narrowed back, the predictions were hidden
    again: each change of the width class reset them to its default. The user's choice (v, either
    way) now holds; without one, the width's default still applies. L's log pane holds too."""
    make_run(runs_dir, "seen", epochs_done=3, total=3)
    write_previews(runs_dir / "seen", 3)

    from petseg_tui.widgets.log_pane import LogPane
    from petseg_tui.widgets.previews import PreviewPanel

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 36)) as pilot:
        live = await open_live(pilot, runs_dir / "seen")
        panel, dice = live.query_one(PreviewPanel), live.query_one("#dice-chart")

        async def resize(width: int, shown: bool, what: str) -> None:
            await pilot.resize_terminal(width, 36)
            await wait_for(pilot, lambda: live.size.width == width and live.at_least("-wide") == (width >= 120),
                           what=f"{width} columns laid out")
            await pilot.pause()
            assert panel.display == shown, what

        await resize(140, True, "no choice: a third column from 120 columns")
        await resize(80, False, "no choice: behind v at 80 columns")
        await pilot.press("v", "L")
        await wait_for(pilot, lambda: panel.display and live.query_one(LogPane).display, what="shown with v and L")
        await resize(140, True, "shown with v, wide")
        assert dice.display  # a third column: the Dice chart back beside them
        await resize(80, True, "shown with v, narrowed back: still shown")
        assert not dice.display and live.query_one(LogPane).display  # in the Dice chart's place; the log still there
        await wait_for(pilot, lambda: "epoch 3" in widget_text(panel.query_one(".previews--header")),
                       what="the predictions drawn")
        await resize(140, True, "wide again")
        await pilot.press("v")
        await wait_for(pilot, lambda: not panel.display, what="hidden with v at 140 columns")
        await resize(80, False, "hidden with v")
        await resize(160, False, "hidden with v, widened: still hidden")
        assert dice.display


async def test_the_predictions_header_names_the_epoch_of_the_runs_budget_not_a_second_count(
        runs_dir: Path) -> None:
    """Beside the epoch row's "3/300 done" the predictions' header read "epoch 3 (3/3, newest)":
    two different counts of "3/N" side by side (the previews kept, the run's epochs). It names the
    epoch against the run's budget, and the previews kept in words."""
    make_run(runs_dir, "long", epochs_done=3, total=300, state="stopped")
    write_previews(runs_dir / "long", 3)

    from petseg_tui.widgets.previews import PreviewPanel

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "long")
        await pilot.press("v")
        panel = live.query_one(PreviewPanel)

        def header() -> str:
            return " ".join(widget_text(panel.query_one(".previews--header")).split())

        await wait_for(pilot, lambda: "epoch 3 of 300 · newest preview" in header(), what="the newest epoch")
        assert widget_text(live.query_one("#epoch-label")).strip() == "3/300 done"
        assert "3/3" not in header()
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: "epoch 2 of 300 · preview 2 of 3" in header(), what="an older epoch")


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_the_predictions_header_breaks_between_its_parts_never_inside_one(runs_dir: Path, size) -> None:
    """At 80x24 with v the header (half the screen) wrapped at its spaces: "Predictions  epoch 3
    of 300 · newest" over "preview  Dice 0.30 …  red" over "predicted · green true". Each part is
    whole on a row; where all would not fit in the header's three rows, the panel's name goes."""
    make_run(runs_dir, "long", epochs_done=3, total=300, state="stopped")
    write_previews(runs_dir / "long", 3)

    from petseg_tui.widgets.previews import PreviewPanel

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=size) as pilot:
        live = await open_live(pilot, runs_dir / "long")
        if size[0] < 120:
            await pilot.press("v")
        panel = live.query_one(PreviewPanel)

        def rows() -> list[str]:
            return [" ".join(row.split()) for row in widget_text(panel.query_one(".previews--header")).splitlines()]

        await wait_for(pilot, lambda: any("Dice" in row for row in rows()), what="the newest epoch's header")
        await pilot.pause()
        shown = rows()
        assert any(row.endswith("epoch 3 of 300 · newest preview") for row in shown), shown
        assert any(row.endswith("red predicted · green true") for row in shown), shown
        assert any(row.startswith("Dice ") or " Dice " in row for row in shown), shown
        assert ("Predictions" in shown[0]) == (size[0] >= 120), shown  # room for the panel's name


async def test_an_unreadable_preview_says_its_problem_whole_at_80_columns(runs_dir: Path) -> None:
    """A truncated epoch preview, at 80x24 with v: the header (three rows of half the screen) read
    "<runs folder>/damaged/previews/epoc" "h_0002.png: unreadable preview (image", the problem cut
    off by the path. The file is named inside the run (the title names the run)."""
    make_run(runs_dir, "damaged", epochs_done=2, total=2)
    write_previews(runs_dir / "damaged", 2)
    png = runs_dir / "damaged" / "previews" / "epoch_0002.png"
    png.write_bytes(png.read_bytes()[:100])

    from petseg_tui.widgets.previews import PreviewPanel

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "damaged")
        await pilot.press("v")
        panel = live.query_one(PreviewPanel)

        def header() -> str:
            return " ".join(widget_text(panel.query_one(".previews--header")).split())

        await wait_for(pilot, lambda: "unreadable preview" in header(), what="the preview's problem")
        assert "previews/epoch_0002.png: unreadable preview (image file is truncated)" in header(), header()
        assert str(runs_dir) not in header()


async def test_prediction_keys_are_offered_once_a_run_has_predictions(runs_dir: Path) -> None:
    """[ ] and v cannot act on a run with no predictions yet (narrow: the panel is hidden): not
    offered; the first epoch's predictions bring them."""
    writer = make_run(runs_dir, "young", epochs_done=0, state="running", t0=time.time(), close=False)
    writer.start_heartbeat(0.5)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            live = await open_live(pilot, runs_dir / "young")
            await wait_for(pilot, lambda: live.snapshot is not None, what="the run read")
            footer = footer_text(live)
            assert "Earlier" not in footer and "Later" not in footer and "Predictions" not in footer
            assert not live.check_action("preview_epoch", (1,)) and not live.check_action("toggle_previews", ())
            write_previews(runs_dir / "young", 1)
            await wait_for(pilot, lambda: "Predictions" in footer_text(live), what="v offered")
            assert live.check_action("preview_epoch", (-1,))
    finally:
        writer.close()
