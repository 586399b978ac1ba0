"""The sweeps screen: g from the runs table, the live leaderboard and plots of a fixture sweep
(run folders with their sweep records), enter / c to a trial and to the comparison of the best,
the new-sweep form (a bad field is one line; a good one starts the sweep), and its snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tui_helpers import make_sweep_runs, seen_at, settled, toasts, wait_for, widget_text

from engine.config import TrainConfig
from petseg_tui.app import PetsegApp

@pytest.fixture
def sweep_runs(runs_dir: Path) -> Path:
    make_sweep_runs(runs_dir)
    return runs_dir


def _app(runs: Path, monkeypatch) -> PetsegApp:
    monkeypatch.chdir(runs.parent)
    return PetsegApp(runs_dir=Path("runs"), image_mode="halfcell")


async def _open_sweeps(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen.loaded, what="first scan")
    await pilot.press("g")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SweepScreen" and pilot.app.screen.loaded,
                   what="the sweeps screen")
    await settled(pilot)


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


def _fake_trials(monkeypatch) -> None:
    """Each trial's ``petseg train`` is fake_train.py (no torch): the sweep's own code runs."""
    import os
    import sys

    from engine.train import launch
    from tests.engine.sweep.fake_sweep import FAKE

    monkeypatch.setattr(launch, "train_command", lambda config, runs, name: [
        sys.executable, str(FAKE), "train", "--runs", str(runs), "--run_name", name, *config.to_argv()])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.05")


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


async def test_the_draws_a_sweep_refused_are_counted_with_a_reason(runs_dir: Path, monkeypatch) -> None:
    """A refused draw starts no run, so the screen (run folders) showed fewer trials than were
    drawn and no reason; the study's count and the last reason are a line under the title."""
    from engine.cli import main

    _fake_trials(monkeypatch)
    assert main(["sweep", "--runs", str(runs_dir), "--name", "half", "--param", "warmup_epochs=int:2:5",
                 "--param", "epochs=int:3:5", "--sampler", "random", "--sampler_seed", "3", "--eval_best", "no",
                 "--trials", "3"]) == 0
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        refused = lambda: " ".join(widget_text(pilot.app.screen.query_one("#sweep-refused")).split())  # noqa: E731
        await wait_for(pilot, lambda: "refused" in refused(), what="the refused draws")
        assert refused() == ("1 draw refused before it started, not counted in the budget: --warmup_epochs 5: "
                             "must be fewer than --epochs (5)")
        assert len(pilot.app.screen.board.trials) == 3


def _refused_sweep(runs_dir: Path, monkeypatch, *, epochs: int, trials: int) -> str:
    """Sweep "dead" run whose trials' petseg train all refuse to start (no config.json written):
    it stops after its first 2 alike; returns the reason they gave."""
    from engine.cli import main

    _fake_trials(monkeypatch)
    why = "--pretrained /gone.pth: no such file"
    monkeypatch.setenv("FAKE_REFUSE", why)
    assert main(["sweep", "--runs", str(runs_dir), "--name", "dead", "--param", "learning_rate=log:1e-3:1e-2",
                 "--sampler", "random", "--eval_best", "no", "--epochs", str(epochs), "--trials", str(trials)]) == 1
    return why


async def test_a_sweep_that_gave_up_says_why_under_its_title(runs_dir: Path, monkeypatch) -> None:
    """A sweep whose first 2 trials failed alike stops asking for trials; the screen showed
    "2 of 6 trials" and nothing else (the reason was in the sweep's log alone). Now one line
    under the title says it stopped, and why."""
    why = _refused_sweep(runs_dir, monkeypatch, epochs=1, trials=6)
    async with _app(runs_dir, monkeypatch).run_test(size=(80, 24)) as pilot:
        await _open_sweeps(pilot)
        stopped = lambda: " ".join(widget_text(pilot.app.screen.query_one("#sweep-stopped")).split())  # noqa: E731
        await wait_for(pilot, lambda: "stopped" in stopped(), what="why the sweep stopped")
        assert stopped() == (f"sweep dead stopped: its first 2 trials failed before an epoch with the same error "
                             f"({why}); fix it and run the same command again")


async def test_trials_that_failed_before_writing_their_run_have_rows(runs_dir: Path, monkeypatch) -> None:
    """Trials whose petseg train refused to start (no config.json) had no row: the table was empty
    under "2 of 6 trials", where `petseg sweep --show` listed each as failed with its reason."""
    why = _refused_sweep(runs_dir, monkeypatch, epochs=3, trials=6)
    assert not (runs_dir / "dead-t000" / "config.json").exists()
    async with _app(runs_dir, monkeypatch).run_test(size=(200, 48)) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        await wait_for(pilot, lambda: len(screen.board.trials) == 2, what="a row for each failed trial")
        await settled(pilot)
        rows = [" ".join(line.split()) for line in widget_text(screen.query_one("#sweep-table")).splitlines()]
        for trial in (0, 1):
            (row,) = [r for r in rows if r.startswith(f"{trial} ")]
            assert row.endswith(f"0/3 failed: {why}"), row
        assert "2 failed" in widget_text(screen.query_one("#sweep-title"))


async def test_enter_on_a_trial_that_failed_before_writing_its_run_says_why(runs_dir: Path, monkeypatch) -> None:
    """Enter on such a trial opened a live screen titled 'broken' that said "status.json: missing;
    config.json: missing"; it must say the trial's reason, the one its row says."""
    why = _refused_sweep(runs_dir, monkeypatch, epochs=3, trials=2)
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        await wait_for(pilot, lambda: len(screen.board.trials) == 2, what="a row for each failed trial")
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "LiveRunScreen"
                       and pilot.app.screen.snapshot is not None, what="the trial's live screen")
        await settled(pilot)
        live = pilot.app.screen
        title = widget_text(live.query_one("#live-title"))
        said = widget_text(live.query_one("#live-messages")) + widget_text(live.query_one("#loss-chart"))
        assert "failed" in title and "broken" not in title, title
        assert why in " ".join(said.split()) and "missing" not in said, said


async def test_no_stopped_line_for_a_sweep_that_did_not_give_up(sweep_runs: Path, monkeypatch) -> None:
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        assert not pilot.app.screen.query_one("#sweep-stopped").display


async def test_no_refused_line_without_refused_draws(sweep_runs: Path, monkeypatch) -> None:
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        assert not pilot.app.screen.query_one("#sweep-refused").display


def test_a_storage_record_never_holds_the_password(runs_dir: Path) -> None:
    from engine.sweep.where import record_storage, recorded_storage

    record_storage(runs_dir, "pg", "postgresql+psycopg2://me:s3cret@db.lab:5432/sweeps?password=s3cret")
    assert "s3cret" not in (runs_dir / ".sweeps" / "pg.storage.json").read_text()
    assert recorded_storage(runs_dir, "pg") == "postgresql+psycopg2://me@db.lab:5432/sweeps"


class _Child:
    """Stands in for the ``petseg sweep`` process the form starts: running (None) or exited."""

    def __init__(self, pid: int, code: int | None) -> None:
        self.pid, self.code = pid, code

    def poll(self) -> int | None:
        return self.code

    def wait(self, timeout: float | None = None) -> int | None:
        return self.code


def _record_starts(monkeypatch) -> list:
    """The specs the sweep form starts, each as a child that opened its study and claimed the sweep."""
    import os

    from engine.sweep import launch

    started: list = []

    def start(spec, runs_dir):
        started.append(spec)
        launch.claim_sweep(runs_dir, spec.name)
        return _Child(os.getpid(), None)

    monkeypatch.setattr(launch, "start_sweep", start)
    return started


async def _open_sweep_form(pilot):
    """The sweeps screen, then `n`: the new-sweep form, once it is up."""
    await _open_sweeps(pilot)
    await pilot.press("n")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SweepFormScreen", what="the form")
    return pilot.app.screen


async def test_a_burst_of_tab_then_a_key_in_the_sweep_form_lands_in_the_next_field(sweep_runs: Path,
                                                                                      monkeypatch) -> None:
    """Tab and the next key in one read (typed fast over SSH): the key went to the field focused
    before the Tab moved the focus (the sweep's name read "w", its search unchanged)."""
    from textual import events
    from textual.widgets import Input

    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        form = await _open_sweep_form(pilot)
        name, params = form.query_one("#sweep-name", Input), form.query_one("#sweep-params", Input)
        name.focus()
        await pilot.pause()
        for key, character in (("tab", "\t"), ("w", "w")):  # one burst
            pilot.app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: params.has_focus and params.value == "w", timeout=10, what="w in Search")
        assert name.value == ""


async def test_new_sweep_form_checks_then_starts(sweep_runs: Path, monkeypatch) -> None:
    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        form = await _open_sweep_form(pilot)
        form.query_one("#sweep-name").value = "next"
        form.query_one("#sweep-params").value = "lr=log:1e-4:1e-3"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "unknown train field 'lr'" in widget_text(form.query_one("#sweep-form-error")),
                       what="the one-line error")
        assert not started
        form.query_one("#sweep-params").value = "learning_rate=log:1e-4:1e-3 width=choice:16,32"
        form.query_one("#sweep-train").value = "--epochs 3 --image_size 64"
        form.query_one("#sweep-parallel").value = "2"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SweepScreen", what="back on the sweeps")
        spec = started[0]
        assert (spec.name, spec.parallel, [p.name for p in spec.params]) == ("next", 2, ["learning_rate", "width"])
        assert spec.trial_config({"learning_rate": 5e-4, "width": 16}) == TrainConfig(
            epochs=3, image_size=64, learning_rate=5e-4, width=16)


async def test_the_started_toast_names_the_log_in_the_runs_folder_given(tmp_path: Path, monkeypatch) -> None:
    """petseg-tui --runs /tmp/elsewhere: the started toast said "its output: runs/.sweeps/NAME.log",
    a file that is not there (a runs folder of the working directory); it names the real one."""
    from engine.runs.layout import sweep_log

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    make_sweep_runs(elsewhere)
    monkeypatch.chdir(tmp_path)
    _record_starts(monkeypatch)
    async with PetsegApp(runs_dir=elsewhere, image_mode="halfcell").run_test(size=(160, 48),
                                                                            notifications=True) as pilot:
        form = await _open_sweep_form(pilot)
        form.query_one("#sweep-name").value = "next"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "sweep next started" in toasts(pilot.app), what="the started toast")
        assert f"its output: {sweep_log(elsewhere, 'next')}" in toasts(pilot.app)
        assert "runs/.sweeps" not in toasts(pilot.app)


async def test_more_trials_at_once_than_cores_is_said_as_petseg_sweep_says_it(sweep_runs: Path,
                                                                               monkeypatch) -> None:
    """At once (CPU) 99 on 2 cores: petseg sweep warns that the trials time-slice the cores; the
    form started them without a word. The sweep still starts (a warning, not a refusal)."""
    from engine import cores
    from engine.sweep import slots

    monkeypatch.setattr(cores, "available_cores", lambda: 2)
    monkeypatch.setattr(slots, "visible_gpu_count", lambda: 0)
    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        form = await _open_sweep_form(pilot)
        form.query_one("#sweep-name").value = "wide"
        form.query_one("#sweep-trials").value = "99"
        form.query_one("#sweep-parallel").value = "99"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SweepScreen", what="back on the sweeps")
        await wait_for(pilot, lambda: "time-slice" in toasts(pilot.app), what="the warning toast")
        assert ("--parallel 99: 99 training processes at once on the 2 CPU cores available here time-slice them"
                in toasts(pilot.app))
        assert "--parallel 2 gives each one a core" in toasts(pilot.app)
        assert started[0].parallel == 99


async def test_the_trials_at_once_warning_is_in_the_form_as_the_value_is_typed(sweep_runs: Path,
                                                                               monkeypatch) -> None:
    """At 80x24, At once (CPU) typed above the cores: petseg sweep's warning came only as a toast
    once the sweep had started and the form was gone. It is under the fields as the value is typed,
    in the engine's words, gone when the value fits the cores, and Start still starts."""
    from textual.containers import VerticalScroll

    from engine import cores
    from engine.sweep import slots

    monkeypatch.setattr(cores, "available_cores", lambda: 2)
    monkeypatch.setattr(slots, "visible_gpu_count", lambda: 0)
    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        form = await _open_sweep_form(pilot)
        form.query_one("#sweep-name").value = "wide"
        parallel = form.query_one("#sweep-parallel")
        parallel.focus()
        dialog = form.query_one(VerticalScroll)
        shown = lambda: " ".join(seen_at(pilot.app, dialog).replace("│", " ").split())  # noqa: E731
        await pilot.press("end", "backspace", "8")
        await wait_for(pilot, lambda: "At once (CPU) 8" in shown(), what="8 typed")
        await settled(pilot)
        assert ("⚠ --parallel 8: 8 training processes at once on the 2 CPU cores available here time-slice them, "
                "so every trial trains slowly; --parallel 2 gives each one a core") in shown()
        assert type(pilot.app.screen).__name__ == "SweepFormScreen" and not started  # said before any start
        assert seen_at(pilot.app, form.query_one("#sweep-start")) == "Start ctrl+s"  # and Start still on screen
        await pilot.press("backspace", "2")
        await wait_for(pilot, lambda: "time-slice" not in shown(), what="the warning gone at 2")
        await pilot.press("backspace", "8")
        await wait_for(pilot, lambda: "time-slice" in shown(), what="the warning back at 8")
        await pilot.press("ctrl+s")  # a word, not a refusal
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SweepScreen", what="back on the sweeps")
        assert started[0].parallel == 8


async def test_enter_in_the_sweep_form_goes_to_the_next_field_and_starts_nothing(sweep_runs: Path,
                                                                                  monkeypatch) -> None:
    """The form says ctrl+s starts the sweep: Enter after typing the name moves to the next field,
    as in the new-run form. It used to start the sweep at once with whatever the other fields held
    (the defaults: 10 trials of 10 epochs at 256 px) and close the form."""
    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        form = await _open_sweep_form(pilot)
        await wait_for(pilot, lambda: form.query_one("#sweep-name").has_focus, what="the name field focused")
        await pilot.press(*"mine", "enter")
        await settled(pilot)
        assert pilot.app.screen is form and not started
        assert form.query_one("#sweep-params").has_focus
        await pilot.press("enter", "enter")  # through the search space and the trials
        await settled(pilot)
        assert form.query_one("#sweep-sampler").has_focus and not started
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SweepScreen", what="back on the sweeps")
        assert [spec.name for spec in started] == ["mine"]


async def test_q_on_a_sweep_form_button_quits_nothing_and_ctrl_q_asks_first_with_edits(sweep_runs: Path,
                                                                                        monkeypatch) -> None:
    """The new-run form's rule, in the sweep form too: q never quits from a form (on its Start or
    Cancel button it quit the app, the typed fields lost); ctrl+q quits, asking first when a
    field was edited."""
    from textual.widgets import Button

    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        app = pilot.app
        form = await _open_sweep_form(pilot)
        await wait_for(pilot, lambda: form.query_one("#sweep-name").has_focus, what="the name field focused")
        await pilot.press(*"mine")
        start = form.query_one("#sweep-start", Button)
        start.focus()
        await wait_for(pilot, lambda: start.has_focus, what="the Start button focused")
        await pilot.press("q")
        await settled(pilot)
        assert app.is_running and app.screen is form and app.return_code is None
        await pilot.press("ctrl+q")  # edited: asks, and "no" keeps the form
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", what="the question")
        assert "Discard them and quit?" in widget_text(app.screen.query_one("#confirm-question"))
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is form, what="back on the form")
        assert form.query_one("#sweep-name").value == "mine" and app.is_running


def _fake_popen(monkeypatch, log_line: str) -> list:
    """``petseg sweep`` started by the form writes ``log_line`` to its log and exits 2 at once
    (what a re-run the engine refuses does); returns the argv of each start."""
    import subprocess

    from engine.sweep import launch

    calls = []

    class Popen:
        def __init__(self, argv, stdout=None, **kwargs) -> None:
            calls.append(argv)
            stdout.write(f"{log_line}\n".encode())
            stdout.flush()
            self.pid, self.returncode = 31337, 2

        def poll(self) -> int:
            return 2

        def wait(self, timeout: float | None = None) -> int:
            return 2

    monkeypatch.setattr(launch, "subprocess", type("subprocess", (), {"Popen": Popen, "DEVNULL": subprocess.DEVNULL,
                                                                      "STDOUT": subprocess.STDOUT}))
    return calls


async def _submit_sweep(pilot, name: str, params: str):
    form = await _open_sweep_form(pilot)
    form.query_one("#sweep-name").value = name
    form.query_one("#sweep-params").value = params
    await pilot.press("ctrl+s")
    return form


async def test_a_sweep_that_exits_at_once_shows_its_error_not_started(sweep_runs: Path, monkeypatch) -> None:
    """The sweep process fails as it starts: the form and an error toast show its `petseg: error:`
    line from runs/.sweeps/NAME.log, and nothing says it started (it said "started (pid N)")."""
    line = "petseg: error: --storage x: cannot open the study (boom)"
    calls = _fake_popen(monkeypatch, line)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        form = await _submit_sweep(pilot, "fresh", "width=choice:16,32")
        await wait_for(pilot, lambda: line in widget_text(form.query_one("#sweep-form-error")).replace("\n", " "),
                       what="the child's error line in the form")
        assert calls and pilot.app.screen is form
        assert "cannot open the study (boom)" in toasts(pilot.app)
        assert "started" not in toasts(pilot.app)


async def test_a_rerun_with_another_search_space_is_refused_before_starting(sweep_runs: Path, monkeypatch) -> None:
    """A sweep of that name already searches another space: the form says so at once, as
    ``petseg sweep`` would, and starts no process."""
    from engine.sweep.spec_build import build_spec
    from engine.sweep.study import open_study

    open_study(build_spec({"name": "lr-width", "params": ["width=choice:32,64"]}), sweep_runs)
    calls = _fake_popen(monkeypatch, "petseg: error: the child ran")
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        form = await _submit_sweep(pilot, "lr-width", "learning_rate=log:1e-4:1e-3")
        shown = lambda: " ".join(widget_text(form.query_one("#sweep-form-error")).split())  # noqa: E731
        await wait_for(pilot, lambda: "give sweep lr-width the same search space" in shown(), what="the refusal")
        assert "does not search learning_rate" in shown()
        assert not calls and "started" not in toasts(pilot.app)


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


async def test_a_scatter_whose_trials_share_one_dice_has_a_round_tick() -> None:
    """Every trial at the same near-zero Dice (empty predictions) labels its one tick 0, not 2.14e-12."""
    from textual.app import App
    from textual_plotext import PlotextPlot

    from petseg_tui.widgets.sweep_plot import ScatterSpec, SweepPlot

    class Host(App):
        def compose(self):
            yield SweepPlot()

    async with Host().run_test(size=(60, 20)) as pilot:
        pilot.app.query_one(SweepPlot).show(ScatterSpec("best Dice", xs=(0.0, 1.0), ys=(2.14e-12, 2.14e-12)))
        await pilot.pause()
        drawn = pilot.app.query_one(PlotextPlot).plt.build()
        assert "e-12" not in drawn and "0.000┤" in drawn
        # and the axis reads in decimals as every Dice does, not 5e-3 (user7)
        assert "0.005┤" in drawn and "e-3" not in drawn


async def test_the_trials_points_are_legible_in_a_light_theme() -> None:
    """The trials' orange points were drawn for a dark background: 1.5:1 on textual-light's grey."""
    from textual.app import App
    from textual_plotext import PlotextPlot
    from tui_helpers import contrast_of

    from petseg_tui.widgets.sweep_plot import ScatterSpec, SweepPlot

    class Host(App):
        def compose(self):
            yield SweepPlot()

    async with Host().run_test(size=(60, 20)) as pilot:
        pilot.app.query_one(SweepPlot).show(ScatterSpec("best Dice", xs=(0.0, 1.0, 2.0), ys=(0.5, 0.7, 0.6),
                                                        line=((0.0, 0.5), (1.0, 0.7), (2.0, 0.7))))
        pilot.app.theme = "textual-light"  # after the first drawing, as the command palette switches it
        await pilot.pause()
        await pilot.pause()
        assert contrast_of(pilot.app.query_one(PlotextPlot), "●") >= 3.0


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
        for label in ("Stop sweep", "Next plot", "Compare top", "Next sweep"):
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


async def test_p_on_a_sweep_of_one_parameter_says_there_is_no_other_plot(runs_dir: Path, monkeypatch) -> None:
    """One searched parameter, both plots shown (120 columns and up): P has no other plot to show
    and says so (it did nothing and said nothing)."""
    make_sweep_runs(runs_dir, "solo")
    for d in runs_dir.iterdir():  # the trials record only their width
        config = json.loads((d / "config.json").read_text())
        config["sweep"]["params"] = {"width": config["sweep"]["params"]["width"]}
        (d / "config.json").write_text(json.dumps(config))
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        await _open_sweeps(pilot)
        await wait_for(pilot, lambda: pilot.app.screen.board.param_names == ["width"], what="the one parameter")
        await pilot.press("P")
        await wait_for(pilot, lambda: "searches one parameter (width)" in toasts(pilot.app), what="the toast")


def test_best_so_far_is_a_step_line() -> None:
    """The best-so-far line stays flat until the trial that beat it, then rises (it ramped
    diagonally from one trial's best to the next)."""
    from engine.sweep.board import SweepBoard, TrialRun
    from engine.runs.state import RunState
    from petseg_tui.widgets.sweep_plot import scatter_for_best

    board = SweepBoard("tiny", tuple(TrialRun(i, f"tiny-t{i:03d}", Path(f"tiny-t{i:03d}"), RunState.FINISHED,
                                              best_dice=d) for i, d in enumerate([0.5, 0.4, 0.7])))
    assert scatter_for_best(board).line == ((0.0, 0.5), (1.0, 0.5), (2.0, 0.5), (2.0, 0.7))


async def test_dice_a_few_1e_5_apart_get_distinct_y_ticks() -> None:
    """Trials at 0.565073, 0.565073, 0.565093: the y axis spans at least 0.01 and its ticks read
    differently (both read 0.565, the 2e-5 difference stretched over the plot's height)."""
    import re

    from textual.app import App
    from textual_plotext import PlotextPlot

    from petseg_tui.widgets.sweep_plot import ScatterSpec, SweepPlot

    class Host(App):
        def compose(self):
            yield SweepPlot()

    async with Host().run_test(size=(60, 20)) as pilot:
        ys = (0.565073, 0.565073, 0.565093)
        pilot.app.query_one(SweepPlot).show(ScatterSpec("best Dice", xs=(0.0, 1.0, 2.0), ys=ys))
        await pilot.pause()
        drawn = pilot.app.query_one(PlotextPlot).plt.build()
        labels = re.findall(r"([0-9][0-9.e-]*)┤", re.sub(r"\x1b\[[0-9;]*m", "", drawn))
        assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
        assert max(map(float, labels)) - min(map(float, labels)) >= 0.004


@pytest.mark.parametrize(("xs", "expected"), [
    ((0.000177,), ["177e-6"]),  # the first trial of a learning-rate sweep
    ((0.0001764, 0.0001772), None),  # two trials close together: distinct labels
    ((32.0,), ["32"]),
])
async def test_a_searched_value_is_read_on_its_own_scale(xs: tuple[float, ...], expected: list[str] | None) -> None:
    """The parameter plot (P) of a numeric search on a linear axis labels the values searched. One
    trial at learning rate 1.77e-4 sat at "0.000" on an axis from -0.060 to 0.060 (plotext's ticks
    about a range of ±0.06), one trial at width 32 on 31.940 ... 32.060; close values keep
    distinct labels."""
    import re

    from textual.app import App
    from textual_plotext import PlotextPlot

    from petseg_tui.widgets.sweep_plot import ScatterSpec, SweepPlot

    class Host(App):
        def compose(self):
            yield SweepPlot()

    async with Host().run_test(size=(80, 14)) as pilot:
        pilot.app.query_one(SweepPlot).show(ScatterSpec("learning_rate vs valid Dice", xs=xs, ys=(0.5,) * len(xs)))
        await pilot.pause()
        drawn = re.sub(r"\x1b\[[0-9;]*m", "", pilot.app.query_one(PlotextPlot).plt.build())
        labels = drawn.rstrip("\n").splitlines()[-1].split()
        assert labels, drawn
        assert all(not label.startswith("-") for label in labels), labels
        assert all(min(xs) * 0.9 <= float(label) <= max(xs) * 1.1 for label in labels), labels
        assert len(set(labels)) == len(labels), labels
        if expected is not None:
            assert labels == expected


async def test_the_focused_fields_hint_is_shown_whole_at_80_columns(sweep_runs: Path, monkeypatch) -> None:
    """A field's hint was its placeholder alone: a field with a default ("Never prune 1", "GPUs a
    trial 1") never showed it, and at 80 columns an empty one was cut ("an Optuna storage URL
    (blank: "). The focused field's hint is written whole under the fields."""
    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        form = await _open_sweep_form(pilot)
        hint = lambda: " ".join(widget_text(form.query_one("#sweep-form-hint")).split())  # noqa: E731
        form.query_one("#sweep-prune_warmup").focus()
        await wait_for(pilot, lambda: hint() == "Never prune: the first N epochs of a trial", what="its hint")
        form.query_one("#sweep-storage").focus()
        await wait_for(pilot, lambda: hint().endswith("(blank: runs/.sweeps/NAME.journal)"), what="the whole hint")


async def _table_with_first_trial(sweep_runs: Path, monkeypatch, state: str, message: str) -> str:
    """The sweeps screen's table as text (200x48), with the sweep's first trial's run ended
    ``state`` with ``message``."""
    status = sweep_runs / "lr-width-t000" / "status.json"
    status.write_text(json.dumps({**json.loads(status.read_text()), "state": state, "message": message}))
    async with _app(sweep_runs, monkeypatch).run_test(size=(200, 48)) as pilot:
        await _open_sweeps(pilot)
        return " ".join(widget_text(pilot.app.screen.query_one("#sweep-table")).split())


async def test_a_failed_trial_says_why_in_its_status(sweep_runs: Path, monkeypatch) -> None:
    """A trial that failed said "failed" alone on the sweeps screen; why (its run's message, as
    `petseg sweep --show` prints it) needed Enter on it or the sweep's log."""
    why = "--pretrained imagenet: could not fetch ImageNet weights (no internet?) — pass a local .pth path instead"
    table = await _table_with_first_trial(sweep_runs, monkeypatch, "failed", why)
    assert "failed: --pretrained imagenet: could not fetch" in table  # the rest past the table's edge
    assert "finished:" not in table and "pruned:" not in table  # only a run that went wrong says why


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_a_long_failure_is_cut_in_the_table_and_whole_below_it(sweep_runs: Path, monkeypatch, size) -> None:
    """A long failure message set the status column's width: at 80 columns the table scrolled
    sideways, the reason cut mid-word at the screen's edge with no sign of more. The cell now ends
    in an ellipsis within the table's width, and the highlighted trial's whole reason is below it."""
    why = ("--pretrained imagenet: could not fetch ImageNet weights (no internet?) — pass a local .pth path "
           "instead; the download failed with HTTP Error 503: Service Unavailable after 3 retries")
    status = sweep_runs / "lr-width-t000" / "status.json"
    status.write_text(json.dumps({**json.loads(status.read_text()), "state": "failed", "message": why}))
    async with _app(sweep_runs, monkeypatch).run_test(size=size) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        table = screen.query_one("#sweep-table")
        await settled(pilot)
        assert table.max_scroll_x == 0  # no sideways scroll: every column within the table
        lines = widget_text(table).splitlines()
        row = next(line for line in lines if "failed" in line)
        assert row.rstrip().endswith("…") and "failed: --pretrained" in row
        why_line = lambda: " ".join(widget_text(screen.query_one("#sweep-why")).split())  # noqa: E731
        assert not screen.query_one("#sweep-why").display  # the best trial, finished: nothing cut
        trial = next(i for i, t in enumerate(screen.board.trials) if t.trial == 0)
        for _ in range(trial):
            await pilot.press("down")
        await wait_for(pilot, lambda: screen.query_one("#sweep-why").display, what="the whole reason")
        assert why_line() == f"trial 0 failed: {why}"


async def test_a_log_searched_parameter_is_plotted_on_a_log_axis(runs_dir: Path, monkeypatch) -> None:
    """`petseg sweep --param learning_rate=log:1e-4:1e-2 --trials 3` drew 2.3e-4, 5.4e-4 and 2.1e-3:
    the screen plotted them on a linear axis labelled 500e-6 1e-3 1.5e-3 2e-3 (it took a log axis
    only for draws a decade apart), though the sweep searched them log-uniformly."""
    from tui_helpers import T0, make_curve_run

    from engine.runs import RunStore
    from engine.runs.layout import write_json_atomic
    from engine.sweep.spec_build import build_spec
    from engine.sweep.study import open_study

    for trial, lr in enumerate((2.3e-4, 5.4e-4, 2.1e-3)):
        run = f"tiny-t{trial:03d}"
        make_curve_run(runs_dir, run, [0.8, 0.7], [0.3, 0.4], total=2, t0=T0 + 60 * trial, learning_rate=lr)
        config = RunStore(runs_dir).load(run).config
        config["sweep"] = {"name": "tiny", "trial": trial, "params": {"learning_rate": lr}}
        write_json_atomic(runs_dir / run / "config.json", config)
    open_study(build_spec({"name": "tiny", "params": ["learning_rate=log:1e-4:1e-2"]}), runs_dir)
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        title = pilot.app.screen.query_one("#sweep-param .sweep-plot--title")
        await wait_for(pilot, lambda: widget_text(title).strip() == "learning_rate vs valid Dice (log x)",
                       what="the log axis", timeout=10)


async def test_the_trials_states_are_legible_in_a_light_theme(sweep_runs: Path, monkeypatch) -> None:
    """The status column's colours were for a dark background: an interrupted trial (its process
    gone) in orange read at 1.6-1.8:1 on textual-light, "finished" in cyan at 2.7:1 on its zebra rows."""
    from tui_helpers import LIGHT_THEMES, contrast_of

    run = sweep_runs / "lr-width-t000"  # its process gone mid-run: the store says interrupted
    events = (run / "events.jsonl").read_text().splitlines()
    (run / "events.jsonl").write_text("".join(e + "\n" for e in events if '"kind": "finished"' not in e))
    status = run / "status.json"
    data = json.loads(status.read_text())
    data.update(state="running", pid=999_999_999, heartbeat=data.get("heartbeat", 0) - 3600)
    status.write_text(json.dumps(data))
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        table = pilot.app.screen.query_one("#sweep-table")
        for theme in LIGHT_THEMES:
            pilot.app.theme = theme  # as the command palette's Theme switches it
            await settled(pilot)
            shown = {s: round(contrast_of(table, s), 2) for s in ("finished", "pruned", "interrupted")}
            assert min(shown.values()) >= 3.0, (theme, shown)


async def test_the_sweep_forms_buttons_are_the_new_run_forms(sweep_runs: Path, monkeypatch) -> None:
    """The new-run form shows "Start  ctrl+s" then "Cancel  esc"; the sweep form showed "Cancel"
    then "Start", naming no key. Both show the same buttons in the same order, and their keys act."""
    from textual.widgets import Button

    def buttons(screen) -> list[str]:
        shown = sorted((b for b in screen.query(Button) if b.display), key=lambda b: b.region.x)
        return [str(b.label) for b in shown]

    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: pilot.app.screen.loaded, what="first scan")
        await pilot.press("n")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "NewRunScreen", what="the new-run form")
        await settled(pilot)
        new_run = buttons(pilot.app.screen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "RunsScreen", what="back on the runs")
        form = await _open_sweep_form(pilot)
        await settled(pilot)
        assert buttons(form) == new_run == ["Start  ctrl+s", "Cancel  esc"]
        await pilot.press("escape")  # the key the button names
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SweepScreen", what="back on the sweeps")
        form = await _open_sweep_form(pilot)
        form.query_one("#sweep-name").value = "mine"
        form.query_one("#sweep-params").value = "width=choice:16,32"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(started), what="the sweep started")


async def test_a_stopped_trial_says_who_stopped_it_as_sweep_show_does(sweep_runs: Path, monkeypatch) -> None:
    """`petseg sweep --show` follows a stopped trial with its reason ("stopped: stopped by user",
    "stopped by SIGTERM", that the process that started it ended); the sweeps screen said
    "stopped" alone."""
    why = "stopped by SIGTERM"
    table = await _table_with_first_trial(sweep_runs, monkeypatch, "stopped", why)
    assert f"stopped: {why}" in table, table


async def test_esc_on_a_sweep_form_with_edits_asks_first_as_the_new_run_form(sweep_runs: Path,
                                                                              monkeypatch) -> None:
    """Esc (or Cancel) on the new-sweep form closed it at once, the typed name lost; the new-run
    form asks first when it has edits. Both ask the same question; "no" keeps the form and what
    was typed, "yes" closes it and starts nothing."""
    from textual.widgets import Button

    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        app = pilot.app
        form = await _open_sweep_form(pilot)
        await wait_for(pilot, lambda: form.query_one("#sweep-name").has_focus, what="the name field focused")
        await pilot.press(*"mine")
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", what="the question")
        assert widget_text(app.screen.query_one("#confirm-question")).strip() == "Discard the settings of this new sweep?"
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is form, what="back on the form")
        assert form.query_one("#sweep-name").value == "mine"
        form.query_one("#sweep-cancel", Button).press()  # the Cancel button asks too
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", what="the question")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is form, what="back on the form")
        assert form.query_one("#sweep-name").value == "mine"
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", what="the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "SweepScreen", what="back on the sweeps")
        await settled(pilot)
        assert not started and type(app.screen).__name__ == "SweepScreen"


async def test_esc_while_the_sweep_starts_closes_the_form_without_asking(sweep_runs: Path, monkeypatch) -> None:
    """After ctrl+s the form stays up while its sweep starts (up to 10 s); Esc then asked "Discard
    the settings…?" of settings already handed to a sweep that started anyway. As the new-run form
    does once its run starts, the fields count as saved: Esc closes the form, the sweep starts."""
    import os
    import threading

    from engine.sweep import launch

    go_on, started = threading.Event(), []

    def start(spec, runs_dir):
        go_on.wait(10)
        started.append(spec)
        launch.claim_sweep(runs_dir, spec.name)
        return _Child(os.getpid(), None)

    monkeypatch.setattr(launch, "start_sweep", start)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        app = pilot.app
        form = await _open_sweep_form(pilot)
        await wait_for(pilot, lambda: form.query_one("#sweep-name").has_focus, what="the name field focused")
        await pilot.press(*"mine", "ctrl+s")
        await wait_for(pilot, lambda: "starting sweep mine" in widget_text(form.query_one("#sweep-form-error")),
                       what="the sweep starting")
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ != "SweepFormScreen", what="the form closed")
        assert type(app.screen).__name__ == "SweepScreen", "asked to discard settings already handed over"
        go_on.set()
        await wait_for(pilot, lambda: started, what="the sweep started")


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_footer_under_the_sweep_form_lists_the_forms_own_keys(sweep_runs: Path, monkeypatch,
                                                                       size) -> None:
    """The footer under the new-sweep form was the sweeps screen's ("esc Back c Compare top P Next
    plot n New sweep ? Help": n typed into the form) and never said ctrl+s starts or ctrl+q quits.
    It reads the form's keys now, as the new-run form's footer shows them, at 80 and 160 columns."""
    from tui_helpers import screen_rows

    async with _app(sweep_runs, monkeypatch).run_test(size=size) as pilot:
        await _open_sweep_form(pilot)
        await settled(pilot)
        rows = screen_rows(pilot.app)
        assert len(rows) == size[1]
        assert " ".join(rows[-1].split()) == "^s Start esc Cancel ^q Quit"  # the footer, the last row
        assert any("Start  ctrl+s" in row for row in rows[:-1])  # the form whole above it
        await pilot.press("ctrl+q")  # the key it names acts: no edits, the app quits
        await wait_for(pilot, lambda: not pilot.app.is_running, what="the app quit")
