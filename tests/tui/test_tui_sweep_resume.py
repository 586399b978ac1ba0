"""Resuming a sweep from the dashboard: R on the sweeps screen starts the sweep again from the
settings its study recorded (a sweep started from the form had no command to re-type), and R on
a sweep trial's run resumes the trial's sweep, or says in a line why not, instead of training the
trial alone outside its sweep. Studies are made here without training; the launch is faked."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from optuna.trial import TrialState
from tui_sweep import _app, _open_sweeps, _record_starts
from tui_helpers import (
    footer_text,
    highlight,
    make_run,
    run_detail,
    toasts,
    wait_for,
    widget_text,
)

from engine.cli import main
from engine.sweep.launch import sweep_argv
from engine.sweep.spec import SweepSpec
from engine.sweep.spec_build import build_spec
from engine.sweep.study import OWNER_ATTR, RUN_ATTR, ask_within_budget, open_study
from tests.engine.sweep.stopped_studies import dead_pid, sweep_process

SETTINGS = {"name": "halt", "params": ["width=choice:8,16"], "trials": 4, "sampler": "random", "parallel": 2,
            "eval_best": "no", "base": {"epochs": 3, "image_size": 64}}


def _stopped_sweep(runs: Path, *, open_trial: bool = True) -> SweepSpec:
    """Sweep "halt" as x on the sweeps screen leaves it: trial 0 finished, trial 1 stopped after
    epoch 1 (its last.pt saved); trial 1 still open in the study, its sweep process ended (with
    ``open_trial`` False, told failed: what a sweep that runs does with a trial its user stopped);
    2 of its 4 trials left."""
    spec = build_spec(SETTINGS)
    study = open_study(spec, runs)
    gone = dead_pid()
    for number, state in ((0, "finished"), (1, "stopped")):
        trial = ask_within_budget(study, spec, "cpu")
        run = f"halt-t{number:03d}"
        trial.set_user_attr(RUN_ATTR, run)
        record = {"sweep": {"name": "halt", "trial": number, "params": dict(trial.params)}}
        make_run(runs, run, epochs_done=1 if state == "stopped" else 3, total=3, state=state, record=record,
                 width=trial.params["width"], image_size=64)
        if state == "finished":
            study.tell(trial, 0.6)
        elif open_trial:
            trial.set_user_attr(OWNER_ATTR, gone)
        else:
            study.tell(trial, state=TrialState.FAIL)
    (runs / "halt-t001" / "checkpoints" / "last.pt").write_bytes(b"saved")  # never loaded here
    return spec


async def test_r_resumes_a_stopped_sweep_from_the_settings_its_study_recorded(runs_dir: Path, monkeypatch) -> None:
    """A sweep stopped with x: R is offered, asks what it does, and starts the same petseg sweep
    command in the background (it had to be re-typed field by field under the same name)."""
    spec = _stopped_sweep(runs_dir)
    started = _record_starts(monkeypatch)
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        await wait_for(pilot, lambda: "Resume sweep" in footer_text(screen), what="R offered")
        await pilot.press("R")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmScreen", what="the question")
        question = " ".join(widget_text(pilot.app.screen.query_one("#confirm-question")).split())
        assert question.startswith("Resume sweep halt? Its 1 unfinished trial (1) goes on where it stopped and 2 of its "
                                   "4 trials are left to run, in a petseg sweep process in the background"), question
        await pilot.press("y")
        await wait_for(pilot, lambda: "sweep halt resumed (pid" in toasts(pilot.app), what="the resumed toast")
        assert [sweep_argv(s) for s in started] == [sweep_argv(spec)]


async def test_no_leaves_the_sweep_stopped(runs_dir: Path, monkeypatch) -> None:
    _stopped_sweep(runs_dir)
    started = _record_starts(monkeypatch)
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        await wait_for(pilot, lambda: "Resume sweep" in footer_text(screen), what="R offered")
        await pilot.press("R")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmScreen", what="the question")
        await pilot.press("n")
        await wait_for(pilot, lambda: pilot.app.screen is screen, what="back")
        await pilot.pause(0.3)
        assert not started


async def test_r_is_not_offered_on_a_sweep_with_nothing_left_and_says_why(sweep_runs: Path, monkeypatch) -> None:
    """A finished sweep (every trial ended, its study long gone): R is not in the footer, and
    pressed it says so in a line, nothing started."""
    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        await _open_sweeps(pilot)
        await pilot.press("R")
        await wait_for(pilot, lambda: "sweep lr-width cannot be resumed from here: its study" in toasts(pilot.app),
                       what="the line")
        assert not started and type(pilot.app.screen).__name__ == "SweepScreen"
        # the study has been read (the line says what it holds), and the footer is drawn: no R in it
        await wait_for(pilot, lambda: "Stop sweep" in footer_text(pilot.app.screen) or "Compare" in
                       footer_text(pilot.app.screen), what="the footer")
        assert "Resume sweep" not in footer_text(pilot.app.screen)


async def test_r_on_a_sweep_whose_study_is_gone_says_so_and_starts_nothing(sweep_runs: Path, monkeypatch) -> None:
    """A stopped trial, but the sweep's journal deleted: R says in one line that the settings
    cannot be read, and asks nothing."""
    make_run(sweep_runs, "lr-width-t009", epochs_done=1, total=4, state="stopped",
             record={"sweep": {"name": "lr-width", "trial": 9, "params": {"width": 16}}}, width=16)
    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        await wait_for(pilot, lambda: "Resume sweep" in footer_text(screen), what="R offered")
        await pilot.press("R")
        await wait_for(pilot, lambda: "sweep lr-width cannot be resumed from here: its study" in toasts(pilot.app),
                       what="the line")
        assert "is gone" in toasts(pilot.app)
        await pilot.pause(0.3)
        assert not started and pilot.app.screen is screen


@pytest.mark.parametrize("where", ["sweeps screen", "trial's run"])
async def test_r_on_a_postgresql_sweep_without_a_password_says_where_it_goes(where: str, runs_dir: Path, tmp_path: Path,
                                                                             monkeypatch) -> None:
    """Its record keeps no password: with neither PGPASSWORD nor ~/.pgpass (and its server down
    here) R says so in its one line, naming the storage, and starts nothing."""
    pytest.importorskip("psycopg2")
    from engine.sweep.where import record_storage

    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no.pgpass"))
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    record_storage(runs_dir, "pg", f"postgresql+psycopg2://petseg:secret@127.0.0.1:{port}/petseg")
    make_run(runs_dir, "pg-t000", epochs_done=1, total=3, state="stopped",
             record={"sweep": {"name": "pg", "trial": 0, "params": {"width": 16}}}, width=16)
    started = _record_starts(monkeypatch)
    app = _app(runs_dir, monkeypatch)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        if where == "sweeps screen":
            await _open_sweeps(pilot)
            await wait_for(pilot, lambda: "Resume sweep" in footer_text(pilot.app.screen), what="R offered")
        else:
            await _runs_table_on(pilot, "pg-t000")
        await pilot.press("R")
        await wait_for(pilot, lambda: "~/.pgpass" in toasts(pilot.app), what="the line")
        said = " ".join(toasts(pilot.app).split())
        assert (f"sweep pg cannot be resumed from here: --storage postgresql+psycopg2://petseg@127.0.0.1:{port}/petseg: "
                "cannot connect (") in said, said
        assert said.endswith("neither PGPASSWORD nor ~/.pgpass gives one: set PGPASSWORD or add a ~/.pgpass line for "
                             "this server"), said
        assert "secret" not in said and not started


async def test_the_stop_question_names_r(runs_dir: Path, monkeypatch) -> None:
    """x asked "...; the same petseg sweep command resumes them": a sweep started from the form
    has no command; the question names R."""
    _stopped_sweep(runs_dir)
    with sweep_process(runs_dir, "halt"):
        async with _app(runs_dir, monkeypatch).run_test(size=(160, 48)) as pilot:
            await _open_sweeps(pilot)
            screen = pilot.app.screen
            await wait_for(pilot, lambda: "Stop sweep" in footer_text(screen), what="x offered")
            assert "Resume sweep" not in footer_text(screen)  # it runs: nothing to resume
            await pilot.press("x")
            await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmScreen", what="the question")
            question = " ".join(widget_text(pilot.app.screen.query_one("#confirm-question")).split())
            assert "R on this screen resumes them" in question, question
            await pilot.press("n")


def _no_lone_resume(app, monkeypatch) -> list:
    """The trial's own resume (``petseg train --resume``, outside its sweep), recorded if started."""
    lone: list = []
    monkeypatch.setattr(app.launcher, "resume", lambda path, **kw: lone.append(path) or 4_000_000)
    return lone


async def _runs_table_on(pilot, run: str):
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.loaded, what="first scan")
    await highlight(pilot, screen.table, run)
    return screen


async def test_r_on_a_stopped_trial_resumes_its_sweep_not_the_trial_alone(runs_dir: Path, monkeypatch) -> None:
    """R on a trial its sweep's stop left open ("halt-t001 stopped ... R resumes it") trained the
    run alone, outside its sweep: Optuna never heard of it. It now resumes the sweep, which
    resumes the trial (and runs the budget left), after saying so."""
    spec = _stopped_sweep(runs_dir)
    started = _record_starts(monkeypatch)
    app = _app(runs_dir, monkeypatch)
    lone = _no_lone_resume(app, monkeypatch)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        screen = await _runs_table_on(pilot, "halt-t001")
        assert "R: it resumes only with its sweep halt" in run_detail(screen)
        await pilot.press("R")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmScreen", what="the question")
        question = " ".join(widget_text(pilot.app.screen.query_one("#confirm-question")).split())
        assert question.startswith("Resume sweep halt? halt-t001 is trial 1 of sweep halt: it resumes with its "
                                   "sweep, which tells Optuna how it ends. Its 1 unfinished trial (1) goes on where it stopped"), question
        await pilot.press("y")
        await wait_for(pilot, lambda: "sweep halt resumed (pid" in toasts(pilot.app), what="the resumed toast")
        assert [sweep_argv(s) for s in started] == [sweep_argv(spec)] and not lone


async def test_r_on_a_trial_its_sweep_counted_failed_says_why_in_a_line(runs_dir: Path, monkeypatch) -> None:
    """A trial stopped while its sweep ran is failed in the study: a re-run of the sweep does not
    resume it. R says so in one line; nothing is asked, nothing trains."""
    _stopped_sweep(runs_dir, open_trial=False)
    started = _record_starts(monkeypatch)
    app = _app(runs_dir, monkeypatch)
    lone = _no_lone_resume(app, monkeypatch)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        screen = await _runs_table_on(pilot, "halt-t001")
        await pilot.press("R")
        await wait_for(pilot, lambda: "its study counts it failed" in toasts(pilot.app), what="the line")
        assert ("halt-t001 is trial 1 of sweep halt: its study counts it failed, so the sweep does not resume it"
                in " ".join(toasts(pilot.app).split()))
        await pilot.pause(0.3)
        assert pilot.app.screen is screen and not started and not lone


async def test_r_on_a_trials_live_screen_resumes_its_sweep(runs_dir: Path, monkeypatch) -> None:
    spec = _stopped_sweep(runs_dir)
    started = _record_starts(monkeypatch)
    app = _app(runs_dir, monkeypatch)
    lone = _no_lone_resume(app, monkeypatch)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await _runs_table_on(pilot, "halt-t001")
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "LiveRunScreen", what="the live screen")
        live = pilot.app.screen
        await wait_for(pilot, lambda: "R: it resumes only with its sweep halt." in " ".join(
            widget_text(w) for w in live.query("Static")), what="the hint")
        await pilot.press("R")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmScreen", what="the question")
        assert "halt-t001 is trial 1 of sweep halt" in widget_text(pilot.app.screen.query_one("#confirm-question"))
        await pilot.press("y")
        await wait_for(pilot, lambda: "sweep halt resumed (pid" in toasts(pilot.app), what="the resumed toast")
        assert [sweep_argv(s) for s in started] == [sweep_argv(spec)] and not lone


async def test_r_on_a_trial_stopped_while_its_sweep_runs_says_the_sweep_counted_it_failed(runs_dir: Path,
                                                                                          monkeypatch) -> None:
    """x on a trial's live screen while its sweep runs: the sweep counts the trial failed and goes
    on. R on it said "sweep halt is running: ... this one has ended in it" without saying how; it
    now says what its study counts it, as when the sweep is stopped."""
    _stopped_sweep(runs_dir, open_trial=False)
    started = _record_starts(monkeypatch)
    with sweep_process(runs_dir, "halt"):
        app = _app(runs_dir, monkeypatch)
        lone = _no_lone_resume(app, monkeypatch)
        async with app.run_test(size=(160, 48), notifications=True) as pilot:
            await _runs_table_on(pilot, "halt-t001")
            await pilot.press("R")
            await wait_for(pilot, lambda: "its study counts it failed" in toasts(pilot.app), what="the line")
            assert not started and not lone


def _ended_sweep(runs: Path) -> None:
    """Sweep "halt" with its budget spent: its 2 trials finished, its study still readable."""
    spec = build_spec({**SETTINGS, "trials": 2})
    study = open_study(spec, runs)
    for number in range(2):
        trial = ask_within_budget(study, spec, "cpu")
        trial.set_user_attr(RUN_ATTR, f"halt-t{number:03d}")
        make_run(runs, f"halt-t{number:03d}", epochs_done=3, total=3, state="finished",
                 record={"sweep": {"name": "halt", "trial": number, "params": dict(trial.params)}},
                 width=trial.params["width"], image_size=64)
        study.tell(trial, 0.6)


def _cli_says(runs: Path, capsys) -> str:
    """What ``petseg sweep --resume halt`` refuses with, its own way on (a flag) left out."""
    assert main(["sweep", "--runs", str(runs), "--resume", "halt"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("petseg: error: ") and " (petseg sweep --show halt" in err, err
    return err.removeprefix("petseg: error: ").rsplit(" (petseg sweep --show halt", 1)[0]


async def test_r_on_a_sweep_that_runs_says_what_petseg_sweep_resume_says(runs_dir: Path, monkeypatch,
                                                                         capsys) -> None:
    """R where it cannot act said it in the dashboard's own words; it now says `petseg sweep
    --resume`'s line (with the sweep's process), then its own way on (x)."""
    _stopped_sweep(runs_dir)
    started = _record_starts(monkeypatch)
    with sweep_process(runs_dir, "halt") as pid:
        said = _cli_says(runs_dir, capsys)
        assert said == f"sweep halt is running (process {pid}): nothing to resume"
        async with _app(runs_dir, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
            await _open_sweeps(pilot)
            await wait_for(pilot, lambda: "Stop sweep" in footer_text(pilot.app.screen), what="x offered")
            await pilot.press("R")
            await wait_for(pilot, lambda: f"{said} (x stops it)" in toasts(pilot.app), what="the line")
    assert not started


async def test_r_on_a_sweep_with_its_budget_spent_says_what_petseg_sweep_resume_says(runs_dir: Path, monkeypatch,
                                                                                    capsys) -> None:
    """It said "sweep halt has nothing left to resume"; now the CLI's line, and how its trials ended."""
    _ended_sweep(runs_dir)
    said = _cli_says(runs_dir, capsys)
    assert said == "sweep halt: nothing is left to run: its 2 trials have ended"
    started = _record_starts(monkeypatch)
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48), notifications=True) as pilot:
        await _open_sweeps(pilot)
        screen = pilot.app.screen
        await wait_for(pilot, lambda: "Compare" in footer_text(screen), what="the sweep read")
        await pilot.press("R")
        await wait_for(pilot, lambda: f"{said} (trials: 2 finished)" in toasts(pilot.app), what="the line")
    assert not started


async def test_r_on_an_open_trial_of_a_sweep_that_runs_again_says_it_takes_it_over(runs_dir: Path, monkeypatch,
                                                                                   capsys) -> None:
    """A trial left open by a stopped sweep, whose sweep runs again (started from a shell): R on
    the trial's run says the CLI's line, and that the sweep takes the trial over; nothing starts."""
    _stopped_sweep(runs_dir)
    started = _record_starts(monkeypatch)
    with sweep_process(runs_dir, "halt"):
        said = _cli_says(runs_dir, capsys)
        app = _app(runs_dir, monkeypatch)
        lone = _no_lone_resume(app, monkeypatch)
        async with app.run_test(size=(160, 48), notifications=True) as pilot:
            await _runs_table_on(pilot, "halt-t001")
            await pilot.press("R")
            line = f"halt-t001 is trial 1 of sweep halt: {said} (it takes its open trials over itself)"
            await wait_for(pilot, lambda: line in " ".join(toasts(pilot.app).split()), what="the line")
            assert not started and not lone
