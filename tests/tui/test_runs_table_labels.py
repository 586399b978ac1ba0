"""The runs table's T, A and D: tags and a note, archiving, deleting (refused while a run trains),
the cursor after them, and labels another dashboard saved meanwhile kept."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tui_helpers import (
    rendered,
    T0,
    highlight,
    make_run,
    run_detail,
    toasts,
    wait_for,
)

from petseg_tui.app import PetsegApp


@pytest.mark.slow  # over ~3 s alone (the marker's rule)
async def test_tags_note_archive_and_delete(sample_runs: Path) -> None:
    from engine.runs import read_labels

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        status = screen.query_one("#runs-status")
        assert "toggle_show_archived" not in {b.binding.action for b in screen.active_bindings.values()
                                              if b.enabled}  # nothing archived: h not offered
        await highlight(pilot, table, "alpha")
        await pilot.press("T", *"best baseline", "tab", *"first try", "enter")
        await wait_for(pilot, lambda: read_labels(sample_runs / "alpha").tags == ("best", "baseline"), what="tags")
        assert read_labels(sample_runs / "alpha").note == "first try"
        assert "#best #baseline" in run_detail(screen) and "note: first try" in run_detail(screen)
        await pilot.press("slash", *"tag:best", "enter")
        assert table.visible_names == ["alpha"]
        await pilot.press("escape")

        # archive: hidden, still on disk, h shows it again
        await highlight(pilot, table, "bravo")
        await pilot.press("A")
        assert "bravo" not in table.visible_names and (sample_runs / "bravo" / "config.json").is_file()
        assert read_labels(sample_runs / "bravo").archived
        assert "1 archived hidden" in rendered(status)
        await pilot.press("h")
        assert "bravo" in table.visible_names and "archived shown" in rendered(status)
        await highlight(pilot, table, "bravo")
        await pilot.press("A")  # unarchive
        assert not read_labels(sample_runs / "bravo").archived

        # delete asks first, then the folder is gone
        await highlight(pilot, table, "charlie")
        await pilot.press("D", "y")
        await wait_for(pilot, lambda: "charlie" not in table.visible_names, what="charlie gone")
        assert not (sample_runs / "charlie").exists()
        assert [p.name for p in sample_runs.iterdir() if p.name.startswith(".")] == []


async def test_delete_refuses_a_run_that_trains(sample_runs: Path) -> None:
    live = make_run(sample_runs, "echo-live", epochs_done=1, total=5, state="running", t0=time.time() - 60,
                    close=False)
    app = PetsegApp(runs_dir=sample_runs)
    try:
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded, what="first scan")
            await highlight(pilot, screen.table, "echo-live")
            await pilot.press("D")
            await wait_for(pilot, lambda: "echo-live is running: stop it first" in toasts(app), what="the refusal")
            assert app.screen is screen and (sample_runs / "echo-live" / "config.json").is_file()
    finally:
        live.close()


async def test_archive_refuses_a_run_that_trains_and_an_archived_one_that_trains_stays_listed(
        sample_runs: Path) -> None:
    """A on a run that trains hid it from the table while it ran: it is now refused, as D refuses
    it; a run that trains with the archive mark (archived before a resume) stays in the table."""
    from engine.runs import RunLabels, read_labels, write_labels

    live = make_run(sample_runs, "echo-live", epochs_done=1, total=5, state="running", t0=time.time() - 60,
                    close=False)
    marked = make_run(sample_runs, "foxtrot-live", epochs_done=1, total=5, state="running", t0=time.time() - 60,
                      close=False)
    write_labels(sample_runs / "foxtrot-live", RunLabels(archived=True))
    app = PetsegApp(runs_dir=sample_runs)
    try:
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.loaded, what="first scan")
            assert "foxtrot-live" in screen.table.visible_names
            assert "archived hidden" not in rendered(screen.query_one("#runs-status"))
            # in sight, so it stays ticked when the table is laid out again (a filter)
            await highlight(pilot, screen.table, "foxtrot-live")
            await pilot.press("space")
            await wait_for(pilot, lambda: "1 selected" in rendered(screen.query_one("#runs-status")), what="ticked")
            await pilot.press("slash", *"live", "enter")  # the table laid out again
            await wait_for(pilot, lambda: screen.table.visible_names == ["echo-live", "foxtrot-live"]
                           or screen.table.visible_names == ["foxtrot-live", "echo-live"], what="filtered")
            await pilot.pause()
            assert "1 selected" in rendered(screen.query_one("#runs-status"))
            await highlight(pilot, screen.table, "echo-live")
            await pilot.press("A")
            await wait_for(pilot, lambda: "echo-live is running: stop it first, then archive it" in toasts(app),
                           what="the refusal")
            assert "echo-live" in screen.table.visible_names and not read_labels(sample_runs / "echo-live").archived
    finally:
        live.close()
        marked.close()


async def test_a_run_whose_labels_file_is_unreadable_is_not_labelled_over_it(sample_runs: Path) -> None:
    """A labels.json broken by a hand edit was replaced by the next T or A, its note lost: the
    dashboard now says the file and what is wrong, and leaves it as it is."""
    edited = '{"tags": ["best"], "note": "the one to ship",}\n'
    (sample_runs / "alpha" / "labels.json").write_text(edited)
    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await highlight(pilot, screen.table, "alpha")
        await pilot.press("A")
        await wait_for(pilot, lambda: "Labels not saved" in toasts(app), what="the refusal")
        assert "labels.json: not valid JSON" in toasts(app) and "correct or delete it first" in toasts(app)
        assert (sample_runs / "alpha" / "labels.json").read_text() == edited
        assert "alpha" in screen.table.visible_names


async def test_archive_and_delete_leave_the_cursor_on_the_next_run(runs_dir: Path) -> None:
    """A archives and D deletes the highlighted run: the cursor lands on the run that took its
    row (the one before it after the last), not back on the first row."""
    for i in range(5):
        make_run(runs_dir, f"run{i}", t0=T0 + 60 * i)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded and len(screen.table.visible_names) == 5, what="first scan")
        table = screen.table
        order = table.visible_names
        await highlight(pilot, table, order[2])
        await pilot.press("A")
        await wait_for(pilot, lambda: order[2] not in table.visible_names, what="archived and hidden")
        await wait_for(pilot, lambda: run_detail(screen).startswith(order[3] + " "), what="the next run highlighted")
        assert table.highlighted_name == order[3]
        await pilot.press("D", "y")
        await wait_for(pilot, lambda: order[3] not in table.visible_names, what="deleted")
        await wait_for(pilot, lambda: run_detail(screen).startswith(order[4] + " "), what="the next run highlighted")
        await pilot.press("D", "y")  # the last row: the one before it
        await wait_for(pilot, lambda: order[4] not in table.visible_names, what="deleted")
        await wait_for(pilot, lambda: run_detail(screen).startswith(order[1] + " "), what="the run before highlighted")


async def test_labels_saved_here_keep_what_another_dashboard_saved_meanwhile(sample_runs: Path) -> None:
    """Two dashboards on one runs folder: the other one archives (and tags) a run while this one's
    tags dialog is open on it; saving a tag here un-archived the run (the dialog's old copy of
    every field was written back)."""
    from engine.runs import RunLabels, read_labels, write_labels

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await highlight(pilot, screen.table, "alpha")
        await pilot.press("T")
        write_labels(sample_runs / "alpha", RunLabels(tags=("theirs",), note="their note", archived=True))
        await pilot.press(*"mine", "enter")  # only the tags edited here
        await wait_for(pilot, lambda: read_labels(sample_runs / "alpha").tags == ("mine",), what="tags saved")
        assert read_labels(sample_runs / "alpha") == RunLabels(tags=("mine",), note="their note", archived=True)
        await wait_for(pilot, lambda: "alpha" not in screen.table.visible_names, what="alpha hidden as archived")


async def test_a_selected_run_archived_out_of_sight_is_no_longer_selected(sample_runs: Path) -> None:
    """Two runs ticked, one archived with A: its row went, the table showed one ✓, yet the status
    line still said "2 selected" and c compared both, the archived run included. A run hidden
    because it is archived leaves the selection (h showing archived runs keeps it ticked)."""
    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        status = screen.query_one("#runs-status")
        for name in ("alpha", "bravo"):
            await highlight(pilot, table, name)
            await pilot.press("space")
        await wait_for(pilot, lambda: "2 selected" in rendered(status), what="two runs ticked")
        await highlight(pilot, table, "bravo")
        await pilot.press("A")
        await wait_for(pilot, lambda: "1 archived hidden" in rendered(status), what="bravo archived")
        assert "1 selected" in rendered(status), rendered(status)
        await pilot.press("c")
        await wait_for(pilot, lambda: app.screen is not screen, what="the compare screen")
        assert app.screen.sub_title.startswith("compare 1 run"), app.screen.sub_title


async def test_a_tag_typed_as_the_detail_line_shows_it_is_kept_without_its_hash(sample_runs: Path) -> None:
    """The detail line shows tags as "#best"; typed that way in T's dialog the tag was kept as
    "#best" and shown "##best", and `petseg label --untag best` could not take it off. The "#"
    typed before a tag is the way tags are written, not part of the tag."""
    from engine.runs import read_labels

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        await highlight(pilot, screen.table, "alpha")
        await pilot.press("T", *"#best, ##baseline", "enter")
        await wait_for(pilot, lambda: read_labels(sample_runs / "alpha").tags, what="tags saved")
        assert read_labels(sample_runs / "alpha").tags == ("best", "baseline")
        assert "#best #baseline" in run_detail(screen) and "##" not in run_detail(screen), run_detail(screen)
