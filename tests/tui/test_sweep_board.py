"""The sweeps screen's leaderboard: g from the runs table, its title (trials, best valid and test
Dice, other sweeps, at 80 columns too), its columns in the sweep's own order, enter / c to a trial
and to the comparison of the best or of the trials selected with space, the keys its footer
offers, x to stop a sweep, and its snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import make_sweep_runs, toasts, wait_for, widget_text
from tui_sweep import _app, _fake_trials, _open_sweeps


async def test_g_opens_the_sweep_leaderboard(sweep_runs: Path, monkeypatch) -> None:
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        title = widget_text(screen.query_one("#sweep-title"))
        assert "sweep lr-width" in title and "5 trials" in title and "best valid Dice 0.8100 (trial 1)" in title
        assert [t.trial for t in screen.board.trials] == [1, 3, 0, 4, 2]
        assert {str(t.state) for t in screen.board.trials if t.trial in (2, 4)} == {"pruned"}
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "LiveRunScreen", what="the trial's run")
        assert pilot.app.screen.run_path.name == "lr-width-t001"
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SweepScreen", what="back")
        await pilot.press("c")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "CompareScreen", what="compare")
        assert [p.name for p in pilot.app.screen.run_paths] == ["lr-width-t001", "lr-width-t003", "lr-width-t000",
                                                                 "lr-width-t004"]


async def test_the_best_trials_test_dice_comes_from_the_study(sweep_runs: Path, monkeypatch) -> None:
    from engine.sweep.spec_build import build_spec
    from engine.sweep.study import EVAL_ATTR, open_study

    study = open_study(build_spec({"name": "lr-width", "params": ["width=choice:32,64"]}), sweep_runs)
    study.set_user_attr(EVAL_ATTR, {"trial": 1, "run": "lr-width-t001", "test_dice": 0.8765})
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        await wait_for(pilot, lambda: "test Dice 0.8765 (trial 1, photo size)" in
                       widget_text(pilot.app.screen.query_one("#sweep-title")), what="the test Dice")


async def test_the_columns_follow_the_sweeps_own_order_of_its_parameters(sweep_runs: Path, monkeypatch) -> None:
    """A sweep of --param width=... --param learning_rate=... showed learning_rate first (config.json
    keeps a trial's values sorted by name) while petseg sweep --show, from the study, showed width
    first: both now follow the spec."""
    from engine.sweep.spec_build import build_spec
    from engine.sweep.study import open_study

    open_study(build_spec({"name": "lr-width", "params": ["width=choice:32,64", "learning_rate=log:1e-4:3e-3"]}),
               sweep_runs)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        table = pilot.app.screen.query_one("#sweep-table")
        headers = lambda: [str(c.label) for c in table.columns.values()]  # noqa: E731
        await wait_for(pilot, lambda: headers()[:3] == ["trial", "width", "learning_rate"],
                       what="the spec's order", timeout=10)


async def test_a_sweep_kept_in_a_database_shows_its_test_dice_and_budget(runs_dir: Path, monkeypatch) -> None:
    """``petseg sweep --storage sqlite:///sweeps.db`` typed in another folder: the screen reads the
    same study as ``--show NAME --storage URL`` (the best trial's test Dice), and its title counts
    the trials against the budget as --show does, not the run folders (2 of 4: none has a run
    folder, their train refused to start)."""
    from engine.cli import main
    from engine.sweep.study import EVAL_ATTR, load_study

    _fake_trials(monkeypatch)
    work = runs_dir.parent / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)  # a relative sqlite file, as a user types it
    flags = ["sweep", "--runs", str(runs_dir), "--name", "db", "--storage", "sqlite:///sweeps.db", "--param",
             "learning_rate=log:1e-3:1e-2", "--sampler", "random", "--eval_best", "no", "--epochs", "1"]
    assert main([*flags, "--trials", "2"]) == 0
    load_study("db", runs_dir, f"sqlite:///{work / 'sweeps.db'}").set_user_attr(
        EVAL_ATTR, {"trial": 1, "run": "db-t001", "test_dice": 0.8765})
    monkeypatch.setenv("FAKE_REFUSE", "--pretrained /gone.pth: no such file")
    assert main([*flags, "--trials", "6"]) == 1  # 2 more trials fail at start: 4 of 6, 2 run folders
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        title = lambda: widget_text(pilot.app.screen.query_one("#sweep-title"))
        await wait_for(pilot, lambda: "test Dice 0.8765 (trial 1, photo size)" in title(), what="the test Dice")
        assert "sweep db  4 of 6 trials" in title(), title()


def test_a_storage_record_never_holds_the_password(runs_dir: Path) -> None:
    from engine.sweep.where import record_storage, recorded_storage

    record_storage(runs_dir, "pg", "postgresql+psycopg2://me:s3cret@db.lab:5432/sweeps?password=s3cret")
    assert "s3cret" not in (runs_dir / ".sweeps" / "pg.storage.json").read_text()
    assert recorded_storage(runs_dir, "pg") == "postgresql+psycopg2://me@db.lab:5432/sweeps"


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_sweep_screen(sweep_runs: Path, monkeypatch, snap_compare, size) -> None:
    assert snap_compare(_app(sweep_runs, monkeypatch), terminal_size=size, run_before=_open_sweeps)


async def test_x_asks_then_stops_the_sweep_and_says_what_happened(sweep_runs: Path, monkeypatch) -> None:
    """x on a running sweep asks first; no leaves it alone, yes asks the sweep's process to stop
    (here a stand-in process recorded in the sweep's pid file) and says so."""
    import socket
    import subprocess
    import sys

    from engine.runs.layout import sweep_pid_file, write_json_atomic

    # a harmless process whose command line names a sweep, as petseg sweep's does
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "sweep"])
    try:
        sweep_pid_file(sweep_runs, "lr-width").parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(sweep_pid_file(sweep_runs, "lr-width"), {"pid": proc.pid, "host": socket.gethostname()})
        async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
            await _open_sweeps(pilot)
            screen = pilot.app.screen
            from tui_helpers import footer_text

            await wait_for(pilot, lambda: "Stop sweep" in footer_text(screen), what="x offered")
            await pilot.press("x")
            await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmScreen", what="the question")
            await pilot.press("n")
            await wait_for(pilot, lambda: pilot.app.screen is screen, what="back, nothing done")
            await pilot.pause(0.2)
            assert "sweep lr-width" not in toasts(pilot.app) and proc.poll() is None
            await pilot.press("x")
            await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmScreen", what="the question")
            await pilot.press("y")
            await wait_for(pilot, lambda: f"sweep lr-width: asked process {proc.pid} to stop" in toasts(pilot.app),
                           what="the notification")
            assert proc.wait(timeout=10) != 0
    finally:
        proc.kill()
        proc.wait()


async def test_a_sweep_that_ends_while_x_asks_is_said_not_running(sweep_runs: Path, monkeypatch) -> None:
    """x, then the sweep ends on its own (its best trial's test scored, its pid file removed)
    before y: y said "sweep lr-width is not running here (no readable lr-width.pid)", a file the
    user never heard of; it says what x says on a sweep that runs no more."""
    import socket
    import subprocess
    import sys

    from engine.runs.layout import sweep_pid_file, write_json_atomic

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "sweep"])
    pid_file = sweep_pid_file(sweep_runs, "lr-width")
    try:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(pid_file, {"pid": proc.pid, "host": socket.gethostname()})
        async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
            await _open_sweeps(pilot)
            from tui_helpers import footer_text

            await wait_for(pilot, lambda: "Stop sweep" in footer_text(pilot.app.screen), what="x offered")
            await pilot.press("x")
            await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmScreen", what="the question")
            proc.kill()  # the sweep ends as petseg sweep does: its process gone, its pid file removed
            proc.wait()
            pid_file.unlink()
            await pilot.press("y")
            await wait_for(pilot, lambda: "sweep lr-width is not running: nothing to stop" in toasts(pilot.app),
                           what="the notification")
            assert ".pid" not in toasts(pilot.app)
    finally:
        proc.kill()
        proc.wait()


async def test_x_on_a_finished_sweep_says_at_once_it_is_not_running(sweep_runs: Path, monkeypatch) -> None:
    """No process runs the sweep (it finished): x is not in the footer, and pressed it says so at
    once, without asking "Stop sweep ...?" first (it asked, then said "not running here")."""
    from tui_helpers import footer_text

    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        assert "Stop sweep" not in footer_text(screen)
        await pilot.press("x")
        await wait_for(pilot, lambda: "sweep lr-width is not running: nothing to stop" in toasts(pilot.app),
                       what="the notification")
        assert "3 finished, 2 pruned" in toasts(pilot.app)
        assert pilot.app.screen is screen


async def test_with_no_sweep_only_the_keys_that_act_are_offered(runs_dir: Path, monkeypatch) -> None:
    """No sweep in the runs folder: x (stop), P (next plot), c and > cannot act, so the footer
    leaves them out (the title says n starts one); x and P were shown and did nothing."""
    from tui_helpers import footer_text

    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        assert "no sweep in this runs folder yet" in widget_text(screen.query_one("#sweep-title"))
        shown = footer_text(screen)
        assert "New sweep" in shown and "Back" in shown
        for label in ("Stop sweep", "Next plot", "Compare top", "Next sweep", "Select", "Compare selected"):
            assert label not in shown, label


async def test_the_keys_come_with_the_sweep_and_one_trial_reads_singular(runs_dir: Path, monkeypatch) -> None:
    """A sweep of one running trial: the title says '1 trial (1 running)', and P is offered as
    soon as the trial's folder appears; c needs two trials with a Dice, > two sweeps, x a process
    running the sweep (enter is the table's own key, never in the footer)."""
    from tui_helpers import footer_text, make_run

    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        # the sweep record in config.json from the start, as `petseg sweep` writes a trial's (added
        # afterwards, a poll between the two writes read the run as no sweep's, and kept that)
        writer = make_run(runs_dir, "solo-t000", epochs_done=1, total=4, state="running", close=False,
                          record={"sweep": {"name": "solo", "trial": 0, "params": {"width": 16}}})
        writer.start_heartbeat(0.5)  # alive: running, not interrupted
        try:
            title = lambda: widget_text(screen.query_one("#sweep-title"))  # noqa: E731
            await wait_for(pilot, lambda: "sweep solo" in title() and "running" in title(), what="the sweep read")
            assert "sweep solo  1 trial (1 running)" in title()
            await wait_for(pilot, lambda: "Next plot" in footer_text(screen), what="the sweep's keys")
            shown = footer_text(screen)
            assert "Compare top" not in shown and "Next sweep" not in shown
            assert "Stop sweep" not in shown  # no sweep process runs it (its pid file): nothing for x to stop
        finally:
            writer.close()


async def test_a_trial_folder_seen_before_its_config_json_joins_its_sweep(runs_dir: Path, monkeypatch) -> None:
    """A trial's folder exists a moment before its config.json (its writer opens events.jsonl
    first): a poll in between read the folder as a broken run without a sweep and kept that,
    so the trial never showed (the suite caught it, under load, as a flaky title wait)."""
    from tui_helpers import make_run

    early = runs_dir / "solo-t000"
    early.mkdir(parents=True)
    (early / "events.jsonl").write_text("")  # RunStore.create's first file, before config.json
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        title = lambda: widget_text(screen.query_one("#sweep-title"))  # noqa: E731
        assert "no sweep in this runs folder yet" in title()  # the folder was read before its config
        writer = make_run(runs_dir, "solo-t000", epochs_done=1, total=4, state="running", close=False,
                          record={"sweep": {"name": "solo", "trial": 0, "params": {"width": 16}}})
        writer.start_heartbeat(0.5)
        try:
            await wait_for(pilot, lambda: "sweep solo  1 trial (1 running)" in title(), timeout=10,
                           what="the trial in its sweep")
        finally:
            writer.close()


async def test_at_80_columns_the_title_and_footer_say_other_sweeps_exist(sweep_runs: Path, monkeypatch) -> None:
    """Two sweeps at 80x24: the title's "N of 2: > next" and the best trial both fit (the hint
    was at the end of the title, cut to "· 2"), and the footer offers > (it hid it below 120)."""
    from tui_helpers import footer_text

    make_sweep_runs(sweep_runs, "zeta")
    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        title = lambda: widget_text(screen.query_one("#sweep-title"))  # noqa: E731
        await wait_for(pilot, lambda: "of 2: > next)" in title(), what="the other sweep in the title")
        assert "best valid Dice 0.8100 (trial 1)" in title()
        await wait_for(pilot, lambda: "> Next sweep" in footer_text(screen), what="> in the footer")
        assert footer_text(screen).endswith("? Help")
        first = title().split()[1]
        await pilot.press("greater_than_sign")
        await wait_for(pilot, lambda: title().split()[1] != first, what="the next sweep")


async def test_at_80_columns_the_best_trials_test_dice_is_not_cut_off(sweep_runs: Path, monkeypatch) -> None:
    """Two sweeps at 80x24, the best trial scored on the test split: the title line ended at the
    best valid Dice, its test Dice (the figure a sweep ends on) cut off past the 80th column."""
    from engine.sweep.spec_build import build_spec
    from engine.sweep.study import EVAL_ATTR, open_study

    make_sweep_runs(sweep_runs, "zeta")
    study = open_study(build_spec({"name": "lr-width", "params": ["width=choice:32,64"]}), sweep_runs)
    study.set_user_attr(EVAL_ATTR, {"trial": 1, "run": "lr-width-t001", "test_dice": 0.8765})
    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        if "sweep lr-width" not in widget_text(screen.query_one("#sweep-title")):
            await pilot.press("greater_than_sign")
        title = lambda: " ".join(widget_text(screen.query_one("#sweep-title")).split())  # noqa: E731
        await wait_for(pilot, lambda: "sweep lr-width" in title(), what="sweep lr-width shown")
        await wait_for(pilot, lambda: "test Dice 0.8765 (trial 1, photo size)" in title(),
                       what=f"the test Dice in the title (it reads: {title()!r})")
        assert "of 2: > next)" in title() and "best valid Dice 0.8100 (trial 1)" in title()



async def _open_with_a_deleted_trial(pilot):
    """The sweeps screen, once the trial whose run folder was deleted has its row (from the study)."""
    await _open_sweeps(pilot)
    screen = pilot.app.screen
    await wait_for(pilot, lambda: len(screen.board.trials) == 5, what="the deleted trial's row", timeout=15)
    return screen

def _record_trials_in_the_study(runs: Path) -> None:
    """The sweep's study as its process left it: each trial of `make_sweep_runs` with its values,
    each epoch's valid Dice and its run's name."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState, create_trial

    from engine.sweep.spec_build import build_spec
    from engine.sweep.study import RUN_ATTR, open_study
    from tui_run_folders import SWEEP_TRIALS

    study = open_study(build_spec({"name": "lr-width", "trials": 5, "base": {"epochs": 4},
                                   "params": ["learning_rate=log:1e-4:3e-3", "width=choice:32,64"]}), runs)
    dists = {"learning_rate": FloatDistribution(1e-4, 3e-3, log=True), "width": CategoricalDistribution([32, 64])}
    for trial, lr, width, dices, pruned in SWEEP_TRIALS:
        study.add_trial(create_trial(
            params={"learning_rate": lr, "width": width}, distributions=dists,
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE, value=None if pruned else max(dices),
            intermediate_values=dict(enumerate(dices, 1)), user_attrs={RUN_ATTR: f"lr-width-t{trial:03d}"}))


async def test_a_trial_whose_run_folder_was_deleted_keeps_its_row_from_the_study(sweep_runs: Path, monkeypatch,
                                                                                  capsys) -> None:
    """The best trial's run deleted (the runs table's D): the title read "5 of 5 trials" over four
    rows, and nothing said where the fifth went. Its row is now the study's (its values, Dice and
    epochs), its status says the folder was deleted as petseg sweep --show does, enter says it has
    nothing to open, and c compares the trials that have a run."""
    import shutil

    from engine.cli import main

    _record_trials_in_the_study(sweep_runs)
    shutil.rmtree(sweep_runs / "lr-width-t001")
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        screen = await _open_with_a_deleted_trial(pilot)
        title = widget_text(screen.query_one("#sweep-title"))
        assert "5 of 5 trials" in title and "best valid Dice 0.8100 (trial 1)" in title
        deleted = screen.board.trials[0]
        assert (deleted.trial, deleted.params, deleted.best_dice, deleted.epoch, deleted.total_epochs) == \
            (1, {"learning_rate": 2e-3, "width": 64}, 0.81, 4, 4)
        said = "finished (run folder lr-width-t001 deleted)"
        assert deleted.status == said  # its cell cut to the table's width: the line under it has it whole
        assert " ".join(widget_text(screen.query_one("#sweep-why")).split()) == f"trial 1 {said}"
        await pilot.press("enter")  # its row is highlighted first (the best)
        await wait_for(pilot, lambda: "trial 1: its run folder lr-width-t001 was deleted" in toasts(pilot.app),
                       what="why there is nothing to open")
        assert type(pilot.app.screen).__name__ == "SweepScreen"
        await pilot.press("c")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "CompareScreen", what="compare")
        assert "lr-width-t001" not in [p.name for p in pilot.app.screen.run_paths]
    # petseg sweep --show says it in the same words
    monkeypatch.chdir(sweep_runs.parent)
    assert main(["sweep", "--runs", str(sweep_runs), "--name", "lr-width", "--show"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == "sweep lr-width: 5 of 5 trials"
    assert [line.split()[0] for line in shown[2:7]] == ["1", "3", "0", "4", "2"] and shown[2].endswith(said)


def _ticked(pilot) -> list[str]:
    """The trial numbers the leaderboard shows with a ✓ before them, top to bottom, as seen."""
    from tui_helpers import screen_rows

    table = pilot.app.screen.query_one("#sweep-table")
    rows = screen_rows(pilot.app)[table.region.y + 1: table.region.bottom]  # under the header
    return [row.split()[1] for row in rows if row.split()[:1] == ["✓"]]


async def test_space_selects_trials_and_c_compares_those(sweep_runs: Path, monkeypatch) -> None:
    """c compared a fixed top 4: the trials to put side by side (the best and a pruned one, say)
    could not be chosen. At 80x24 space ticks the highlighted trial (a ✓ before its number; the
    cursor goes on to the next, as the runs table's space does), the footer's c then reads "Compare
    selected" and compares the ticked trials in the order ticked; space again unticks, and with
    none ticked c compares the 4 best, as before."""
    from tui_helpers import footer_text

    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        assert "space Select" in footer_text(screen) and "c Compare top" in footer_text(screen)
        await pilot.press("space")  # trial 1, the best; the cursor on to trial 3
        await pilot.press("down", "down", "down", "space")  # trial 2, pruned (the last row)
        await wait_for(pilot, lambda: _ticked(pilot) == ["1", "2"], what="trials 1 and 2 ticked")
        assert "c Compare selected" in footer_text(screen) and footer_text(screen).endswith("? Help")
        await pilot.press("c")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "CompareScreen", what="compare")
        assert [p.name for p in pilot.app.screen.run_paths] == ["lr-width-t001", "lr-width-t002"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: pilot.app.screen is screen, what="back on the sweeps")
        assert _ticked(pilot) == ["1", "2"]  # kept while the comparison was open
        await pilot.press("space")  # trial 2 again (the cursor is still on its row, the last): unticked
        await wait_for(pilot, lambda: _ticked(pilot) == ["1"], what="trial 2 unticked")
        await pilot.press("up", "up", "up", "up", "space")  # trial 1, the first row
        await wait_for(pilot, lambda: _ticked(pilot) == [], what="none ticked")
        assert "c Compare top" in footer_text(screen)
        await pilot.press("c")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "CompareScreen", what="compare")
        assert [p.name for p in pilot.app.screen.run_paths] == ["lr-width-t001", "lr-width-t003", "lr-width-t000",
                                                                 "lr-width-t004"]


async def test_more_trials_selected_than_compare_shows_compares_the_best_by_dice(runs_dir: Path,
                                                                                 monkeypatch) -> None:
    """Ten trials ticked, more than a comparison can colour: as the runs table does, c compares the
    best 7 by valid Dice and says so, naming them."""
    from tui_helpers import SWEEP_TRIALS, make_sweep_runs

    more = [(5 + i, 5e-4, 32, [0.3, 0.36 + 0.05 * i], False) for i in range(5)]  # best valid Dice 0.36 .. 0.56
    make_sweep_runs(runs_dir, trials=[*SWEEP_TRIALS, *more])
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        await wait_for(pilot, lambda: len(screen.board.trials) == 10, what="ten trials")
        await pilot.press(*["space"] * 10)
        await wait_for(pilot, lambda: len(_ticked(pilot)) == 10, what="all ten ticked")
        await pilot.press("c")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "CompareScreen", what="compare")
        # valid Dice 0.81, 0.79, 0.70, 0.57, 0.56, 0.51, 0.46; left out: 0.45, 0.41, 0.36
        best = [f"lr-width-t{n:03d}" for n in (1, 3, 0, 4, 9, 8, 7)]
        assert [p.name for p in pilot.app.screen.run_paths] == best
        assert f"10 trials selected: comparing the best 7 by Dice ({', '.join(best)})" in \
            " ".join(toasts(pilot.app).split())


async def test_a_trial_whose_run_folder_is_gone_cannot_be_selected(sweep_runs: Path, monkeypatch) -> None:
    """Trial 1's run deleted: its row is the study's, with no run to compare. Space on it says so,
    as enter does, and ticks nothing; a ticked trial whose run is deleted afterwards loses its ✓,
    and c goes back to comparing the best trials that have a run."""
    import shutil

    from tui_helpers import footer_text

    _record_trials_in_the_study(sweep_runs)
    shutil.rmtree(sweep_runs / "lr-width-t001")
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        screen = await _open_with_a_deleted_trial(pilot)
        await pilot.press("space")  # its row is highlighted first (the best)
        await wait_for(pilot, lambda: "trial 1: its run folder lr-width-t001 was deleted; there is no run to compare"
                       in toasts(pilot.app), what="why it cannot be ticked")
        assert _ticked(pilot) == [] and "c Compare top" in footer_text(screen)
        await pilot.press("down", "space")
        await wait_for(pilot, lambda: _ticked(pilot) == ["3"], what="trial 3 ticked")
        assert "c Compare selected" in footer_text(screen)
        shutil.rmtree(sweep_runs / "lr-width-t003")
        await wait_for(pilot, lambda: _ticked(pilot) == [] and "c Compare top" in footer_text(screen),
                       what="trial 3's tick gone with its run", timeout=20)
        await pilot.press("c")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "CompareScreen", what="compare")
        assert [p.name for p in pilot.app.screen.run_paths] == ["lr-width-t000", "lr-width-t004", "lr-width-t002"]


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 30)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_fullest_footer_still_fits_its_row(sweep_runs: Path, monkeypatch, size) -> None:
    """The fullest footer: two sweeps, the one shown running (x), trials ticked (space, "Compare
    selected"). At 80, 100 and 120 columns every key it shows is on its row, Quit and Help last
    (the palette's key after them from 120): the keys that do not fit are left out, n first, then
    > (? lists them, and the title says "> next"); space, c and x stay."""
    import socket
    import subprocess
    import sys

    from engine.runs.layout import sweep_pid_file, write_json_atomic
    from tui_helpers import footer_text, make_sweep_runs, screen_rows

    make_sweep_runs(sweep_runs, "zeta")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "sweep"])
    try:
        for name in ("lr-width", "zeta"):  # whichever is shown runs
            sweep_pid_file(sweep_runs, name).parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(sweep_pid_file(sweep_runs, name), {"pid": proc.pid, "host": socket.gethostname()})
        async with _app(sweep_runs, monkeypatch).run_test(size=size) as pilot:
            await _open_sweeps(pilot)
            screen = pilot.app.screen
            await wait_for(pilot, lambda: "Stop sweep" in footer_text(screen), what="x offered")
            await pilot.press("space")
            await wait_for(pilot, lambda: "Compare selected" in footer_text(screen), what="c on the selection")
            shown = footer_text(screen)
            assert all(key in shown for key in ("space Select", "c Compare selected", "x Stop sweep", "q Quit ? Help"))
            assert " ".join(screen_rows(pilot.app)[-1].replace("▏", " ").split()) == shown  # all of it on the row
    finally:
        proc.kill()
        proc.wait()
