"""Worst-samples gallery: `w` on the runs and live screens, the engine's evaluation in a worker,
the pictures and Dice shown, stepping, border toggle, saving the sheet, errors in the screen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tui_helpers import (contrast_of, footer_text, make_run, open_palette, screen_rows, toasts, unreadable_checkpoint,
                         wait_for, widget_text)

from petseg_tui.app import PetsegApp
from petseg_tui.screens.help import HelpScreen
from petseg_tui.screens.live_run import LiveRunScreen
from petseg_tui.screens.worst import LEGEND, WorstScreen
from petseg_tui.widgets.image_view import ImageView

SIZE = 32


@pytest.fixture(autouse=True)
def _torch_threads():
    """The screen leaves a core for the UI (torch.set_num_threads); undo it for later tests."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def write_pets(root: Path, names: list[str]) -> Path:
    """48×36 test photos with trimaps (pet box inside a border ring) in the official layout, each
    pet of another size (so another Dice)."""
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    rng = np.random.default_rng(5)
    for i, name in enumerate(names):
        tri = np.full((36, 48), 2, np.uint8)
        tri[4 + 2 * i : 30, 6 : 40 - 3 * i] = 3
        tri[6 + 2 * i : 28, 8 : 38 - 3 * i] = 1
        Image.fromarray(rng.integers(0, 256, (36, 48, 3), dtype=np.uint8)).save(root / "images" / f"{name}.jpg")
        Image.fromarray(tri).save(root / "annotations" / "trimaps" / f"{name}.png")
    (root / "annotations" / "test.txt").write_text("".join(f"{n} 1 1 1\n" for n in names))
    (root / "annotations" / "trainval.txt").write_text("")
    return root


@pytest.fixture(scope="module")
def pets(tmp_path_factory) -> Path:
    """Four test photos (`write_pets`), cat_0 … cat_3."""
    return write_pets(tmp_path_factory.mktemp("pets"), [f"cat_{i}" for i in range(4)])


def add_checkpoint(run: Path, data_path: Path) -> Path:
    from engine.models import build_model, model_kwargs

    model = build_model("unet", width=4)
    with torch.no_grad():  # predicts pet everywhere: Dice = 2T / (T + N) differs with each pet's size
        model.head.weight.zero_()
        model.head.bias.fill_(20.0)
    ckpt = run / "checkpoints" / "best.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "petseg-checkpoint/1", "arch": {"name": "unet", "kwargs": model_kwargs("unet", 4)},
                "model": model.state_dict(), "image_size": SIZE, "mask_rule": "pet_border", "epoch": 3,
                "best_dice": 0.5, "config": {"image_size": SIZE, "data_path": str(data_path),
                                             "cache_dir": str(run / "cache")}}, ckpt)
    return ckpt


def status(screen: WorstScreen) -> str:
    return widget_text(screen.query_one("#worst-status")) + "\n" + widget_text(screen.query_one("#worst-error"))


async def open_from_runs(pilot, name: str) -> WorstScreen:
    app = pilot.app
    await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
    table = app.screen.table
    table.move_cursor(row=table.visible_names.index(name))
    await pilot.press("w")
    await wait_for(pilot, lambda: isinstance(app.screen, WorstScreen), what="worst screen")
    return app.screen


async def test_w_opens_the_gallery_worst_first(runs_dir: Path, pets: Path) -> None:
    run = make_run(runs_dir, "trained").path
    add_checkpoint(run, pets)

    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_from_runs(pilot, "trained")
        await wait_for(pilot, lambda: screen.gallery is not None or screen.error, timeout=90, what="gallery")
        assert not screen.error
        text = status(screen)
        assert "test: 4 images" in text and "photo size, border ignored" in text and "no TTA" in text
        listing = widget_text(screen.query_one("#worst-list"))
        rows = [line.split() for line in listing.splitlines() if line.strip()]
        assert [r[1] for r in rows] == [p.name for p in screen.gallery.pictures]
        dice = [float(r[2]) for r in rows]
        assert len(dice) == 4 and dice == sorted(dice) and dice[0] < dice[-1]  # worst first
        caption = widget_text(screen.query_one("#worst-caption")).strip()
        assert caption.startswith("#1 of 4") and rows[0][1] in caption and f"Dice {dice[0]:.4f}" in caption
        views = list(screen.query(ImageView))
        assert all(v.pil_image is not None and v.image_widget is not None for v in views)

        await pilot.press("right")
        caption = lambda: widget_text(screen.query_one("#worst-caption")).strip()  # noqa: E731
        await wait_for(pilot, lambda: caption().startswith("#2 of 4"), what="the second picture")
        assert rows[1][1] in caption()

        await pilot.press("S")
        sheet = run / "eval" / "worst-test.png"
        await wait_for(pilot, sheet.is_file, what="sheet written")
        with Image.open(sheet) as im:
            assert im.format == "PNG" and im.width > 4 * 100

        await pilot.press("b")  # the border band now scored as the mask rule says: re-evaluated
        await wait_for(pilot, lambda: "border = pet" in status(screen), timeout=90, what="re-scored")

        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, WorstScreen), what="back")


async def test_errors_are_shown_in_the_screen(runs_dir: Path, tmp_path: Path) -> None:
    untrained = make_run(runs_dir, "untrained").path  # no checkpoint yet
    gone = make_run(runs_dir, "nodata").path
    add_checkpoint(gone, tmp_path / "no-such-dataset")

    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        runs = app.screen
        runs.table.move_cursor(row=runs.table.visible_names.index("untrained"))
        await wait_for(pilot, lambda: "untrained" in widget_text(runs.query_one("#run-detail")), what="highlighted")
        assert "Worst" not in footer_text(app.screen)  # nothing to score with: not offered
        await pilot.press("w")
        await pilot.pause()
        assert app.screen is runs
        app.open_worst(untrained)  # as if its checkpoint went between the table and the gallery
        await wait_for(pilot, lambda: isinstance(app.screen, WorstScreen), what="worst screen")
        screen = app.screen
        await wait_for(pilot, lambda: bool(screen.error), timeout=60, what="error")
        assert "no checkpoint yet" in status(screen)
        await pilot.press("escape")
        screen = await open_from_runs(pilot, "nodata")
        await wait_for(pilot, lambda: bool(screen.error), timeout=60, what="error")
        assert "no-such-dataset" in status(screen) and "does not exist" in status(screen)
        await pilot.press("right", "S", "M")  # keys on an empty gallery do nothing harmful
        assert isinstance(app.screen, WorstScreen)


async def test_m_switches_every_pane_and_says_when_only_halfcell_can_show(runs_dir: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The image mode is the same as on the inference screen: forced sixel, m goes to half-cells
    and back in all four panes; in tmux (auto) m says why it keeps half-cells."""
    from petseg_tui.widgets.sixel import SixelImage

    unreadable_checkpoint(make_run(runs_dir, "untrained").path)  # the gallery fails fast, the panes stay
    app = PetsegApp(runs_dir=runs_dir, image_mode="sixel")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_from_runs(pilot, "untrained")
        views = list(screen.query(ImageView))
        assert len(views) == 4 and all(isinstance(v.image_widget, SixelImage) for v in views)
        await pilot.press("M")
        await wait_for(pilot, lambda: screen.image_mode == "halfcell", what="half-cells")
        assert not any(isinstance(v.image_widget, SixelImage) for v in views)
        await pilot.press("M")
        await wait_for(pilot, lambda: screen.image_mode == "sixel", what="sixel again")
        assert all(isinstance(v.image_widget, SixelImage) for v in views)
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    app = PetsegApp(runs_dir=runs_dir, image_mode="auto")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = await open_from_runs(pilot, "untrained")
        await pilot.press("M")
        await wait_for(pilot, lambda: "Only halfcell can be drawn here" in toasts(app), what="why M keeps half-cells")
        assert screen.image_mode == "halfcell"


@pytest.mark.slow
async def test_w_on_the_live_screen_and_in_help_and_palette(runs_dir: Path) -> None:
    run = make_run(runs_dir, "live-one").path
    unreadable_checkpoint(run)

    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        await wait_for(pilot, lambda: "Worst" in footer_text(app.screen), what="w Worst in the footer")
        app.open_run(run)
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="live screen")
        # w acts once the screen's first snapshot says the run has a checkpoint: a key pressed
        # before that is not offered yet (on a busy machine the press could come first)
        await wait_for(pilot, lambda: app.screen.snapshot is not None, what="the live screen's first snapshot")
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WorstScreen), what="worst screen")
        assert app.screen.run_path == run
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help screen")
        help_text = widget_text(app.screen.query_one("#help-text"))
        assert "Worst samples" in help_text and "lowest-Dice test images" in help_text

    # the real palette: ctrl+p, type, enter
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        await open_palette(pilot, "worst samples: live", lambda titles: titles[:1] == ["Worst samples: live-one"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, WorstScreen), what="palette opens the gallery")
        assert app.screen.run_path == run


async def test_the_legend_and_the_data_line_show_whole_at_80_columns(runs_dir: Path, pets: Path) -> None:
    """At 80x24 the status (with its data line) and the caption (with the colour legend) each wrap
    onto more lines: every word of them is on screen (they were cut at three lines)."""
    run = make_run(runs_dir, "trained").path
    add_checkpoint(run, pets)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_runs(pilot, "trained")
        await wait_for(pilot, lambda: screen.gallery is not None or screen.error, timeout=90, what="gallery")
        await pilot.pause()
        caption = " ".join(widget_text(screen.query_one("#worst-caption")).split())
        assert caption.startswith("#1 of 4") and caption.endswith(LEGEND)
        assert "errors: found green, missed blue, extra red" in caption  # each tint of the errors picture
        shown = " ".join(widget_text(screen.query_one("#worst-status")).split())
        assert shown.endswith(f"{pets}: 0 trainval, 4 test images")


async def test_a_run_and_data_folder_named_with_brackets_are_shown_as_written(runs_dir: Path, pets: Path,
                                                                              tmp_path: Path) -> None:
    """A run folder copied by hand ("trained [copy]") and a data folder "pets [v2]" are named as
    they are in the gallery's status lines: read as markup they showed "trained " and "pets "."""
    import shutil

    data = tmp_path / "pets [v2]"
    shutil.copytree(pets, data)
    run = make_run(runs_dir, "trained").path
    add_checkpoint(run, data)
    shutil.copytree(run, runs_dir / "trained [copy]")
    shutil.rmtree(run)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_from_runs(pilot, "trained [copy]")
        await wait_for(pilot, lambda: screen.gallery is not None or screen.error, timeout=90, what="gallery")
        shown = " ".join(status(screen).split())
        assert shown.startswith("trained [copy] · test: 4 images") and "pets [v2]" in shown


async def test_a_gallery_that_failed_to_load_offers_no_border_tta_or_save(runs_dir: Path) -> None:
    """b and t would evaluate the broken checkpoint again and fail the same way (r retries), S has
    no sheet: not offered in the footer or the palette once the gallery failed."""
    unreadable_checkpoint(make_run(runs_dir, "garbled").path)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_from_runs(pilot, "garbled")
        await wait_for(pilot, lambda: bool(screen.error), timeout=60, what="the failure")
        await wait_for(pilot, lambda: "Border" not in footer_text(screen), what="the footer without b")
        footer = footer_text(screen)
        assert "TTA" not in footer and "Save sheet" not in footer and "Back" in footer
        titles = await open_palette(pilot)
        assert not {"Border", "TTA", "Save sheet"} & set(titles)


async def test_the_palette_offers_worst_samples_only_for_runs_with_a_checkpoint(runs_dir: Path) -> None:
    make_run(runs_dir, "untrained")
    unreadable_checkpoint(make_run(runs_dir, "trained").path)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        titles = await open_palette(pilot, "worst samples", lambda t: "Worst samples: trained" in t)
        assert "Worst samples: untrained" not in titles


async def test_the_last_pt_note_is_legible_in_a_light_theme(runs_dir: Path, pets: Path) -> None:
    """The note "(no best.pt yet: using last.pt)" was Textual markup [yellow], CSS #ffff00: on
    textual-light's pale grey (contrast 1.2) it could not be read."""
    run = make_run(runs_dir, "only-last").path
    add_checkpoint(run, pets).rename(run / "checkpoints" / "last.pt")

    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell", theme="textual-light")
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_from_runs(pilot, "only-last")
        await wait_for(pilot, lambda: screen.gallery is not None or screen.error, timeout=90, what="gallery")
        assert "using last.pt" in status(screen)
        assert contrast_of(screen.query_one("#worst-status"), "using last.pt") >= 3.0



async def test_leaving_the_gallery_while_it_scores_stops_the_scoring(runs_dir: Path, pets: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Esc while the test split was being scored left the screen, and the scoring went on in its
    thread to the last photo (minutes of CPU on the full 3669-photo split); w again started a
    second one beside it. The scoring now stops at the next batch once its screen is gone."""
    import threading
    import time

    import engine.eval.gallery as gallery

    batches: list[int] = []
    ended = threading.Event()

    def slow_gallery(checkpoint, n, *, on_progress, **kwargs):
        try:
            for done in range(1, 501):  # 500 batches, 20 ms each: 10 s if nothing stops it
                time.sleep(0.02)
                batches.append(done)
                on_progress(done * 8, 4000)
            raise AssertionError("scored to the end")
        finally:
            ended.set()

    monkeypatch.setattr(gallery, "worst_gallery", slow_gallery)
    run = make_run(runs_dir, "trained").path
    add_checkpoint(run, pets)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_from_runs(pilot, "trained")
        await wait_for(pilot, lambda: "Scoring 8/4000" in status(screen) or len(batches) > 3, what="scoring")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, WorstScreen), what="back")
        left_at = len(batches)
        await wait_for(pilot, ended.is_set, what="the scoring stopped")
        assert len(batches) <= left_at + 2, (left_at, len(batches))


async def test_photos_whose_names_share_a_long_start_are_told_apart_in_the_list(runs_dir: Path,
                                                                                tmp_path: Path) -> None:
    """The list cut each name after 18 characters: american_bulldog_208, _209 and _210 all read
    "american_bulldog_2…" (the official set's breeds are long names numbered at the end). Cut in
    the middle, as the runs table cuts run names, each keeps its number."""
    names = ["american_bulldog_208", "american_bulldog_209", "american_bulldog_210", "Abyssinian_1"]
    data = write_pets(tmp_path / "pets", names)
    run = make_run(runs_dir, "trained").path
    add_checkpoint(run, data)
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_runs(pilot, "trained")
        await wait_for(pilot, lambda: screen.gallery is not None or screen.error, timeout=90, what="gallery")
        await pilot.pause()
        shown = [line.split()[1] for line in widget_text(screen.query_one("#worst-list")).splitlines() if line.strip()]
        assert len(set(shown)) == 4, shown
        for number in ("208", "209", "210"):
            assert any(name.startswith("americ") and name.endswith(f"_{number}") for name in shown), shown
        assert "Abyssinian_1" in shown  # one that fits is whole
        left = "\n".join(row[:32] for row in screen_rows(app))  # the list's 32 columns
        for pic in screen.gallery.pictures:  # each row's Dice whole at 80 columns, as the caption has it
            assert f" {pic.dice:.4f}" in left, left


async def test_w_is_not_offered_for_a_run_whose_data_has_no_test_list_and_says_why(runs_dir: Path,
                                                                                   tmp_path: Path) -> None:
    """A run trained on photos and trimaps with no split lists offered w (footer, palette), which
    opened a gallery that could only fail: its data has no test photos. Now w is not offered for
    it, and pressed it says why in one line; a run whose data has its lists still offers it."""
    unlisted = write_pets(tmp_path / "unlisted", ["dog_0", "dog_1"])
    for listed in ("test.txt", "trainval.txt"):
        (unlisted / "annotations" / listed).unlink()
    no_lists = make_run(runs_dir, "no-lists", data_path=str(unlisted)).path
    unreadable_checkpoint(no_lists)
    unreadable_checkpoint(make_run(runs_dir, "listed", data_path=str(write_pets(tmp_path / "listed", ["cat_0"]))).path)

    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        runs = app.screen
        runs.table.move_cursor(row=runs.table.visible_names.index("listed"))
        await wait_for(pilot, lambda: "Worst" in footer_text(runs), what="w offered for the run with lists")
        runs.table.move_cursor(row=runs.table.visible_names.index("no-lists"))
        await wait_for(pilot, lambda: "Worst" not in footer_text(runs), what="w not offered without a test list")
        titles = await open_palette(pilot, "worst samples", lambda t: "Worst samples: listed" in t)
        assert "Worst samples: no-lists" not in titles
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is runs, what="the palette closed")
        await pilot.press("w")
        why = f"no-lists: its data {unlisted} has no annotations/test.txt, so no test photos to rank"
        await wait_for(pilot, lambda: why in toasts(app), what="why there are no worst samples")
        assert app.screen is runs  # no gallery opened to fail
        app.open_run(no_lists)
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.snapshot is not None,
                       what="the run's screen")
        app.clear_notifications()
        await pilot.press("w")
        await wait_for(pilot, lambda: why in toasts(app), what="the run screen's w says why too")
        assert isinstance(app.screen, LiveRunScreen)


async def test_w_on_a_run_with_no_checkpoint_says_so(runs_dir: Path) -> None:
    """The help lists w for every run; on one with no checkpoint yet (stopped before its first
    epoch, or still in it) w did nothing at all, on the runs table and on the run's screen, as E
    did. It says why, in the engine's words, and opens no gallery."""
    run = make_run(runs_dir, "untrained").path
    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        runs = app.screen
        await wait_for(pilot, lambda: runs.loaded, what="first scan")
        await pilot.press("w")
        await wait_for(pilot, lambda: "No worst samples" in toasts(app), what="the refusal on the runs table")
        assert "untrained: " in toasts(app) and "run has no checkpoint yet" in toasts(app)
        assert app.screen is runs
        app.clear_notifications()
        app.open_run(run)
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.snapshot is not None,
                       what="the run's screen")
        await pilot.press("w")
        await wait_for(pilot, lambda: "run has no checkpoint yet" in toasts(app), what="the refusal on the run's screen")
        assert isinstance(app.screen, LiveRunScreen)
