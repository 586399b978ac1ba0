"""The runs table lists the run store: each run's state (broken ones with their reason, in colours
legible in every theme), its figures, and rows that follow runs as they train, end or go."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tui_helpers import (
    cell,
    T0,
    epoch_event,
    highlight,
    make_run,
    open_live,
    run_detail,
    settled,
    wait_for,
    widget_text,
)

from engine.runs import RunState, RunWriter
from petseg_tui.app import PetsegApp
from petseg_tui.format import state_text
from petseg_tui.screens.runs import RunsScreen


def test_every_state_has_its_colour() -> None:
    assert all(state_text(s).style for s in RunState)
    assert state_text("finished").plain == "finished" and state_text(RunState.BROKEN).style == "red reverse"


async def test_lists_runs_broken_and_live_row_updates(sample_runs: Path) -> None:
    live: RunWriter = make_run(sample_runs, "echo-live", epochs_done=2, total=5, state="running",
                               t0=time.time() - 60, close=False)

    app = PetsegApp(runs_dir=sample_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        assert table.row_count == 5
        assert set(table.visible_names) == {"alpha", "bravo", "charlie", "delta-broken", "echo-live"}
        assert cell(table, "delta-broken", "state") == "broken"
        assert cell(table, "alpha", "state") == "finished"
        assert cell(table, "bravo", "state") == "stopped"
        assert cell(table, "charlie", "state") == "failed"
        assert cell(table, "echo-live", "state") == "running"
        assert cell(table, "alpha", "epoch") == "5/5"

        # the broken run's reason shows in the detail line when highlighted
        await highlight(pilot, table, "delta-broken")
        shown = run_detail(screen)
        assert "config.json" in shown and "not valid JSON" in shown
        assert "/tmp" not in shown.split("\n", 1)[1]  # the run folder prefix is stripped

        # the live run grows: its row follows
        assert cell(table, "echo-live", "epoch") == "2/5"
        live.append(epoch_event(3, 5, time.time()))
        await wait_for(pilot, lambda: cell(table, "echo-live", "epoch") == "3/5", what="live row update")
        assert table.row_count == 5

        # a run made by another process appears
        make_run(sample_runs, "foxtrot", epochs_done=1, total=2, t0=T0 + 99)
        await wait_for(pilot, lambda: "foxtrot" in table.visible_names, what="new run")
        live.append(epoch_event(4, 5, time.time()))
        live.set_status("stopped", "stopped by user")
        live.close()  # a writer that stopped lets go of the run (its lock): only then is it "stopped"
        await wait_for(pilot, lambda: cell(table, "echo-live", "state") == "stopped", what="live run stopped")


async def test_garbage_events_and_missing_status_never_crash(runs_dir: Path) -> None:
    w = make_run(runs_dir, "golf", epochs_done=2, total=2)
    with open(runs_dir / "golf" / "events.jsonl", "a") as fh:
        fh.write("{not json}\n[1,2]\n")
    nostatus = runs_dir / "hotel"
    nostatus.mkdir()
    (nostatus / "config.json").write_text(json.dumps({"model": "unet"}))
    (runs_dir / "india").mkdir()
    (runs_dir / "india" / "events.jsonl").write_bytes(b"\xff\xfe garbage\n")

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        t = screen.table
        assert cell(t, "golf", "state") == "finished"
        assert cell(t, "hotel", "state") == "broken"
        assert cell(t, "india", "state") == "broken"
        await highlight(pilot, t, "golf")
        assert "2 unreadable lines in events.jsonl skipped" in run_detail(screen)
        await highlight(pilot, t, "hotel")
        assert "status.json: missing" in run_detail(screen)
        await pilot.press("enter")  # a broken run opens without crashing
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LiveRunScreen", what="the live screen")
        live = app.screen
        await wait_for(pilot, lambda: live.snapshot is not None, what="the broken run read")
        assert live.snapshot.state == "broken" and app.is_running
    assert w is not None


async def test_a_status_cell_widens_when_the_run_changes_state_in_place(runs_dir: Path) -> None:
    """A run shown as "running" whose process dies becomes "interrupted": the Status column grows
    instead of showing "interrup"."""
    live = make_run(runs_dir, "x", epochs_done=1, total=5, state="running", t0=time.time() - 60, close=False)
    live.start_heartbeat(0.3)

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(200, 20)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        assert cell(table, "x", "state") == "running"
        live.close()  # heartbeat stops; the status file still says running
        status_path = runs_dir / "x" / "status.json"
        status = json.loads(status_path.read_text())
        status["pid"], status["heartbeat"] = 999_999_999, time.time() - 3600
        status_path.write_text(json.dumps(status))
        await wait_for(pilot, lambda: cell(table, "x", "state") == "interrupted", what="interrupted")
        await wait_for(pilot, lambda: "interrupted" in widget_text(table).splitlines()[1],
                       what="the whole word drawn in the row")


async def test_train_loss_label_and_median_images_per_second(runs_dir: Path) -> None:
    w = make_run(runs_dir, "cold", epochs_done=3, total=3, close=False)  # fixture: 121, 122, 123 img/s
    w.close()

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 20)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        header = widget_text(screen.table).splitlines()[0]
        assert "Train loss" in header and " Loss " not in header
        assert cell(screen.table, "cold", "ips") == "122"  # the median of 121, 122, 123, not the last


async def test_the_lr_column_is_the_runs_learning_rate_as_the_filter_reads_it(runs_dir: Path) -> None:
    """The LR column showed the last epoch's scheduled rate: a run trained at 3e-3 read 9.41e-04
    after its cosine, `lr<1e-3` hid it though its LR cell was under 1e-3, and sorting by LR put a
    run trained at 9.5e-4 above it."""
    make_run(runs_dir, "fast", epochs_done=12, total=12, learning_rate=3e-3)  # last epoch at 3e-3 x 0.9^11
    make_run(runs_dir, "slow", epochs_done=1, total=12, learning_rate=9.5e-4, t0=T0 + 60)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        table = screen.table
        assert cell(table, "fast", "lr") == "3.00e-03" and cell(table, "slow", "lr") == "9.50e-04"
        table.set_sort("lr", reverse=True)
        await pilot.pause()
        assert table.visible_names == ["fast", "slow"]
        await pilot.press("slash", *"lr<1e-3", "enter")
        assert table.visible_names == ["slow"]


def test_a_run_deleted_between_the_listing_and_its_read_drops_out_never_reads_broken(runs_dir: Path,
                                                                                      monkeypatch) -> None:
    """Two dashboards: B deletes a finished run just after A's watcher listed the folder and
    before it read the run's files: A's row turned "broken: status.json missing" until its next
    listing, two seconds later."""
    from engine.runs import delete_run
    from petseg_tui.watch import RunsWatcher

    make_run(runs_dir, "kept", epochs_done=2, total=2)
    make_run(runs_dir, "gone", epochs_done=2, total=2)
    watcher = RunsWatcher(runs_dir)
    assert sorted(row.summary.name for row in watcher.poll()[0]) == ["gone", "kept"]
    (runs_dir / "gone" / "labels.json").write_text("{}")  # a change: the row is read again
    real_stamp = RunsWatcher._stamp

    def delete_then_stamp(self, path: Path):  # the delete lands between the listing and the read
        if path.name == "gone" and path.is_dir():
            delete_run(path)
        return real_stamp(self, path)

    monkeypatch.setattr(RunsWatcher, "_stamp", delete_then_stamp)
    changed, removed = watcher.poll()
    assert [(row.summary.name, str(row.state)) for row in changed] == [] and removed == ["gone"]


async def test_the_run_states_are_legible_in_a_light_theme(runs_dir: Path) -> None:
    """The states' colours were for a dark background: on textual-light "interrupted" (and the detail
    line's "training process gone") in orange read at 1.6-1.8:1, "finished" in cyan at 2.7:1 on the
    darker zebra rows. Chosen from the palette, each light theme draws them legibly."""
    from tui_helpers import LIGHT_THEMES, contrast_of, make_interrupted_run

    for i in range(2):  # two of each: the highlighted row draws its state in the cursor's colours
        make_interrupted_run(runs_dir, f"stale-{i}", t0=T0 + i)
        for j, state in enumerate(("finished", "stopped", "failed")):
            make_run(runs_dir, f"{state}-{i}", state=state, t0=T0 + 10 * (j + 1) + i)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        table = app.screen.table
        await highlight(pilot, table, "stale-0")
        for theme in LIGHT_THEMES:
            app.theme = theme  # as the command palette's Theme switches it
            await settled(pilot)
            shown = {state: round(contrast_of(table, state), 2)
                     for state in ("interrupted", "finished", "stopped", "failed")}
            shown["gone"] = round(contrast_of(app.screen.query_one("#run-detail"), "training process gone"), 2)
            assert min(shown.values()) >= 3.0, (theme, shown)


async def test_runs_that_change_under_the_live_screen_are_shown_on_return(runs_dir: Path) -> None:
    # The runs table is not updated while the live screen covers it (a hidden screen's update
    # repaints the screen on top in Textual); what changed meanwhile is there when it shows again.
    writer = make_run(runs_dir, "november", epochs_done=2, total=6, state="running", t0=time.time(), close=False)
    make_run(runs_dir, "oscar", epochs_done=5, total=5)
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
            table = app.screen.query_one("#runs-table")
            assert "running" in str(table.get_cell("november", "state"))
            live = await open_live(pilot, runs_dir / "november")
            writer.append(epoch_event(3, 6, time.time()))
            writer.set_status("failed", "CUDA out of memory")
            writer.close()
            await wait_for(pilot, lambda: live.snapshot.state == "failed", what="the live screen saw it fail")
            (runs_dir / "oscar").rename(runs_dir / "oscar-renamed")
            app.screen.app.runs_screen.rescan()
            await pilot.pause(0.5)
            await pilot.press("escape")
            await wait_for(pilot, lambda: "failed" in str(table.get_cell("november", "state")),
                           what="the failure in the table after returning")
            await wait_for(pilot, lambda: "oscar-renamed" in table.visible_names, what="the renamed run listed")
            assert "oscar" not in table.visible_names
    finally:
        writer.close()
