"""Choosing the inference screen's run and photo: the run list (read off the UI thread, names as
written, an unreadable runs folder in one line), the file tree, and the path box (what is
typed stays text, replaces the last path, the footer while it types)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tui_helpers import footer_text, inference_done, rendered, wait_for, widget_text
from tui_inference import (InferenceTestApp, inference_screen, make_photo, make_run,
                           model_line, result_line, run_on, type_path)
from textual.widgets import Input

from petseg_tui.screens import inference as inf
from petseg_tui.screens.inference import InferenceScreen
from petseg_tui.widgets.image_picker import ImageTree


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


async def test_a_path_too_long_for_the_box_shows_its_file_name_once_left(tmp_path: Path, fake_predictor) -> None:
    """At 80 columns the path box holds ~25 characters of a path. Left after Home (Esc), or
    narrowed by a resize, it showed the folders ("/tmp/pytest-of-root/pyt", "ed_folder/great_pyrenee")
    and hid the file name, the part a user checks; it shows the end of the path unless typed in."""
    folder = tmp_path / "images"
    make_photo(folder / "a.jpg")
    photo = make_photo(tmp_path / "a_rather_long_folder_name" / "another_nested_folder" / "pyrenees_photo.jpg")
    async with inference_screen(tmp_path, folder, size=(80, 24)) as (pilot, screen):
        box = screen.query_one("#inf-path", Input)
        await type_path(pilot, box, photo)
        await pilot.press("home")
        assert widget_text(box).startswith(str(tmp_path)[:8])  # typing: the view follows the cursor
        await pilot.press("escape")
        await wait_for(pilot, lambda: not box.has_focus, what="the box left")
        await pilot.pause()
        assert widget_text(box).rstrip().endswith("/pyrenees_photo.jpg"), widget_text(box)
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert widget_text(box).rstrip().endswith("/pyrenees_photo.jpg"), widget_text(box)
