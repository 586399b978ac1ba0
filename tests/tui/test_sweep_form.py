"""The new-sweep form (n on the sweeps screen): a bad field is one line and a good one starts
the sweep, a sweep that exits at once or a re-run of another search space is refused, the
trials-at-once warning, each field's hint, and its keys, buttons and footer as the new-run form's."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import make_sweep_runs, screen_rows, seen_at, settled, toasts, wait_for, widget_text
from tui_sweep import _Child, _app, _open_sweeps, _record_starts

from engine.config import TrainConfig
from petseg_tui.app import PetsegApp


async def _open_sweep_form(pilot):
    """The sweeps screen, then `n`: the new-sweep form, once it is up."""
    await _open_sweeps(pilot)
    await pilot.press("n")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SweepFormScreen", what="the form")
    return pilot.app.screen


async def test_a_burst_of_tab_then_a_key_in_the_sweep_form_lands_in_the_next_field(sweep_runs: Path,
                                                                                      monkeypatch) -> None:
    """Tab and the next key in one read (typed fast over SSH): the key went to the field focused
    before the Tab moved the focus (the sweep's name read "w", the next field unchanged)."""
    from textual import events
    from textual.widgets import Input

    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        form = await _open_sweep_form(pilot)
        name, spec = form.query_one("#sweep-name", Input), form.query_one("#sweep-spec", Input)
        name.focus()
        await pilot.pause()
        for key, character in (("tab", "\t"), ("w", "w")):  # one burst
            pilot.app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: spec.has_focus and spec.value == "w", timeout=10, what="w in Spec file")
        assert name.value == ""


async def test_a_key_then_ctrl_s_in_one_burst_starts_the_sweep_the_form_shows(sweep_runs: Path,
                                                                             monkeypatch) -> None:
    """The sweep's name typed, its last letter and ctrl+s in one read: ctrl+s (a priority key)
    checked the form before the field had taken that letter, and started sweep "nex"."""
    from textual import events
    from textual.widgets import Input

    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        form = await _open_sweep_form(pilot)
        name = form.query_one("#sweep-name", Input)
        name.value = "nex"
        name.focus()
        await wait_for(pilot, lambda: name.has_focus, what="the name focused")
        name.action_end()  # the cursor after "nex", nothing selected
        for key, character in (("t", "t"), ("ctrl+s", None)):  # one burst
            pilot.app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: bool(started), timeout=10, what="the sweep started")
        assert started[0].name == "next"


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


async def test_a_bad_number_in_the_sweep_form_reads_as_petseg_sweep_says_it(sweep_runs: Path, monkeypatch) -> None:
    """The form said "--trials many: must be an integer" where petseg sweep --trials many, its train
    flags and the new-run form say "expected an integer, got 'many'": one wording for one mistake."""
    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        form = await _open_sweep_form(pilot)
        form.query_one("#sweep-name").value = "next"
        error = lambda: widget_text(form.query_one("#sweep-form-error"))  # noqa: E731
        form.query_one("#sweep-trials").value = "many"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "--trials many: expected an integer, got 'many'" in error(), what="trials refused")
        form.query_one("#sweep-trials").value = "4"
        form.query_one("#sweep-train").value = "--learning_rate abc"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "--learning_rate abc: expected a number, got 'abc'" in error(), what="lr refused")
        assert not started


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
        dialog = form.query_one("#sweep-form-dialog")  # its fields, the lines under them, the buttons
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
        assert form.query_one("#sweep-spec").has_focus
        await pilot.press("enter", "enter", "enter")  # through the spec file, the search space and the trials
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


async def test_the_focused_fields_hint_is_shown_whole_at_80_columns(sweep_runs: Path, monkeypatch) -> None:
    """A field's hint was its placeholder alone: a field with a default ("Never prune 1", "GPUs a
    trial 1") never showed it, and at 80 columns an empty one was cut ("an Optuna storage URL
    (blank: "). The focused field's hint is written whole under the fields, with what a blank
    field means (the defaults are no longer typed into the fields, where they overrode a spec file)."""
    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        form = await _open_sweep_form(pilot)
        hint = lambda: " ".join(widget_text(form.query_one("#sweep-form-hint")).split())  # noqa: E731
        form.query_one("#sweep-prune_warmup").focus()
        await wait_for(pilot, lambda: hint() == "Never prune: the first N epochs of a trial (blank: 1)",
                       what="its hint")
        form.query_one("#sweep-storage").focus()
        await wait_for(pilot, lambda: hint().endswith("(blank: runs/.sweeps/NAME.journal)"), what="the whole hint")


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


async def test_the_form_sets_whether_the_best_trial_is_scored_on_the_test_split(sweep_runs: Path,
                                                                                monkeypatch) -> None:
    """`petseg sweep --eval_best no` skips the test evaluation of the best trial; the form had no
    field for it (nor could its train flags take it), so a sweep started from the dashboard was
    always scored. "Score best" is that flag: yes by default, no skips it, anything else is the
    flag's one line. At 80x24 the fields and both buttons still fit on the screen."""
    from textual.widgets import Button

    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        form = await _open_sweep_form(pilot)
        await settled(pilot)
        rows = "\n".join(screen_rows(pilot.app))
        assert "Score best" in rows and "Start  ctrl+s" in rows and "Cancel  esc" in rows
        assert all(b.region.bottom <= 23 for b in form.query(Button))  # above the footer, not scrolled away
        form.query_one("#sweep-name").value = "scored"
        form.query_one("#sweep-params").value = "width=choice:16,32"
        form.query_one("#sweep-eval_best").value = "maybe"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "--eval_best maybe" in widget_text(form.query_one("#sweep-form-error")),
                       what="the flag's one line")
        assert not started
        form.query_one("#sweep-eval_best").value = "no"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(started), what="the sweep started")
        assert started[0].eval_best is False
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        form = await _open_sweep_form(pilot)
        form.query_one("#sweep-name").value = "scored-default"
        form.query_one("#sweep-params").value = "width=choice:16,32"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(started) == 2, what="the second sweep started")
        assert started[1].eval_best is True


async def test_a_key_then_ctrl_q_in_one_burst_asks_before_the_typed_edit_is_lost(sweep_runs: Path,
                                                                                 monkeypatch) -> None:
    """A field's last key and ctrl+q in one read: ctrl+q (a priority key) read the form before the
    field had taken the key, found no edits and quit at once, the typed name lost unasked."""
    from textual import events
    from textual.widgets import Input

    from petseg_tui.screens.confirm import ConfirmScreen

    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        form = await _open_sweep_form(pilot)
        name = form.query_one("#sweep-name", Input)
        name.focus()
        await wait_for(pilot, lambda: name.has_focus, what="the name focused")
        for key, character in (("z", "z"), ("ctrl+q", None)):  # one burst
            pilot.app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) or pilot.app.return_code is not None,
                       what="the quit's answer")
        assert pilot.app.return_code is None and isinstance(pilot.app.screen, ConfirmScreen), "quit, the edit lost"
        await pilot.press("n")
        await wait_for(pilot, lambda: pilot.app.screen is form, what="back on the form")
        assert name.value == "z"


async def test_ctrl_s_then_ctrl_q_in_one_burst_starts_the_sweep_and_names_it(sweep_runs: Path, monkeypatch) -> None:
    """ctrl+s and ctrl+q in one read: ctrl+q acted first, on a form with edits (the discard
    question, over a sweep being started); read after ctrl+s, the quit came while the sweep was
    being started, in a thread the app's exit leaves: dropped or left running unsaid. The quit
    now waits for the start and its last words name the sweep."""
    import threading

    from textual import events

    from engine.sweep import launch
    from tui_helpers import exit_messages

    started, release = _record_starts(monkeypatch), threading.Event()
    recorded = launch.start_sweep

    def slow_start(spec, runs_dir):
        release.wait(30)  # petseg sweep being spawned as the quit comes
        return recorded(spec, runs_dir)

    monkeypatch.setattr(launch, "start_sweep", slow_start)
    app = _app(sweep_runs, monkeypatch)
    exits = exit_messages(app, monkeypatch)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        form = await _open_sweep_form(pilot)
        form.query_one("#sweep-name").value = "next"
        form.query_one("#sweep-name").focus()
        await pilot.pause()
        for key in ("ctrl+s", "ctrl+q"):  # one burst
            app.post_message(events.Key(key, None))
        await wait_for(pilot, lambda: "Quitting once sweep next has started" in toasts(app), what="the quit waiting")
        assert not exits and not started
        release.set()
        await wait_for(pilot, lambda: bool(exits), timeout=30, what="the app ending")
    assert [spec.name for spec in started] == ["next"]
    assert exits[0] is not None and "petseg-tui: sweep next started (pid" in exits[0]


def _cli_spec(argv: list[str]):
    """The spec `petseg sweep ARGV` would start (its own parser, merge and checks)."""
    from engine.cli.parser import build_parser
    from engine.cli.sweep import settings_from_args
    from engine.sweep.launch import checked_spec

    return checked_spec(settings_from_args(build_parser().parse_args(["sweep", *argv])))


async def test_a_spec_file_in_the_form_starts_what_petseg_sweep_spec_starts(sweep_runs: Path, tmp_path: Path,
                                                                            monkeypatch) -> None:
    """The form had no field for petseg sweep's --spec FILE: a sweep written as a TOML file could
    only be started from a shell. "Spec file" is that flag: the fields left blank take the file's
    values (its parallel, its eval_best, its epochs: the form's "--epochs 10" and its search start
    step aside rather than override them), and what is typed wins as on the command line (a typed
    search replaces the file's search of that field, a typed train flag its [train] value)."""
    toml = tmp_path / "sweep.toml"
    toml.write_text('name = "from-file"\ntrials = 6\nparallel = 2\neval_best = "no"\nprune = "none"\n'
                    '[params]\nlearning_rate = "log:1e-4:3e-3"\nwidth = [8, 16]\n'
                    '[train]\nepochs = 3\nimage_size = 64\n')
    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        form = await _open_sweep_form(pilot)
        form.query_one("#sweep-spec").value = str(toml)
        await wait_for(pilot, lambda: form.query_one("#sweep-train").value == "", what="the start's train flags gone")
        assert form.query_one("#sweep-params").value == ""  # its learning_rate search too
        form.query_one("#sweep-trials").value = "4"
        form.query_one("#sweep-params").value = "learning_rate=log:1e-3:1e-2"
        form.query_one("#sweep-train").value = "--image_size 96"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(started), what="the sweep started")
    spec = started[0]
    cli = _cli_spec(["--spec", str(toml), "--trials", "4", "--param", "learning_rate=log:1e-3:1e-2",
                     "--image_size", "96"])
    assert spec == cli and spec.to_dict() == cli.to_dict()
    assert (spec.name, spec.trials, spec.parallel, spec.eval_best, spec.prune) == ("from-file", 4, 2, False, "none")
    assert [p.text for p in spec.params] == ["width=choice:8,16", "learning_rate=log:1e-3:1e-2"]
    assert spec.base == {"epochs": 3, "image_size": 96}


async def test_a_bad_spec_file_is_one_line_beside_its_field_as_petseg_sweep_says_it(sweep_runs: Path, tmp_path: Path,
                                                                                  monkeypatch, capsys) -> None:
    """A missing file, one that is not TOML, and a bad key or value: each is petseg sweep --spec's
    own line (the file and the key), beside the Spec file field, and nothing starts; a missing
    file is said as soon as the field is left, not only on Start."""
    from textual.widgets import Input

    from engine.cli import main

    missing, garbled, bad_key, bad_value = (tmp_path / n for n in ("gone.toml", "garbled.toml", "key.toml",
                                                                    "value.toml"))
    garbled.write_text("name = \n")
    bad_key.write_text('name = "b"\nwidht = 3\n')
    bad_value.write_text('name = "b"\n[params]\nwidth = [8, 16]\n[train]\nepochs = 0\n')

    def cli_line(toml: Path) -> str:
        assert main(["sweep", "--runs", str(tmp_path / "cli-runs"), "--spec", str(toml)]) == 1
        return capsys.readouterr().err.strip().removeprefix("petseg: error: ")

    said = {toml: cli_line(toml) for toml in (missing, garbled, bad_key, bad_value)}
    assert said[missing] == f"--spec {missing}: no such file"
    assert said[bad_value].startswith(f"--spec {bad_value}: train.epochs = 0: ")
    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(160, 48)) as pilot:
        form = await _open_sweep_form(pilot)
        beside = lambda: " ".join(widget_text(form.query_one("#sweep-spec-error")).split())  # noqa: E731
        field = form.query_one("#sweep-spec", Input)
        field.focus()
        await wait_for(pilot, lambda: field.has_focus, what="the spec field focused")
        await pilot.press(*str(missing), "tab")  # left: said at once
        await wait_for(pilot, lambda: beside() == said[missing], what="the missing file said on leaving the field")
        for toml in (garbled, bad_key, bad_value):
            field.value = str(toml)
            await wait_for(pilot, lambda: beside() == "", what="the old line gone as the field changes")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: beside() == said[toml], what=f"{toml.name} said beside the field")
            assert widget_text(form.query_one("#sweep-form-error")).strip() == ""  # said once, there
        assert not started and pilot.app.screen is form



async def test_a_spec_file_typed_then_ctrl_s_in_one_burst_starts_the_files_sweep(sweep_runs: Path, tmp_path: Path,
                                                                              monkeypatch) -> None:
    """The spec file's path typed and ctrl+s in one read (a fast typist over SSH, a paste): the
    form's start ("learning_rate=log:..." and "--epochs 10") was still in Search and Train flags
    when ctrl+s read the form, so the sweep searched learning_rate too and trained 10 epochs over
    the file's own, without a word. The fields step aside as the path's first key is taken."""
    from textual import events
    from textual.widgets import Input

    toml = tmp_path / "s.toml"
    toml.write_text('name = "burst"\n[params]\nwidth = [8, 16]\n[train]\nepochs = 3\n')
    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        form = await _open_sweep_form(pilot)
        field = form.query_one("#sweep-spec", Input)
        field.focus()
        await wait_for(pilot, lambda: field.has_focus, what="the spec field focused")
        for character in str(toml):  # one burst, ctrl+s last
            pilot.app.post_message(events.Key(character, character))
        pilot.app.post_message(events.Key("ctrl+s", None))
        await wait_for(pilot, lambda: bool(started), timeout=10, what="the sweep started")
    assert started[0] == _cli_spec(["--spec", str(toml)])
    assert [p.name for p in started[0].params] == ["width"] and started[0].base == {"epochs": 3}


async def test_with_a_spec_file_named_a_blank_fields_hint_says_the_files_value(sweep_runs: Path, tmp_path: Path,
                                                                              monkeypatch) -> None:
    """A spec file with trials = 2 named in the form: Trials still said "the budget (blank: 10)",
    though a blank Trials takes the file's 2. Once the file is read (the field left) the blank
    fields it sets say its value; the others keep their own words."""
    from textual.widgets import Input

    toml = tmp_path / "sweep.toml"
    toml.write_text('name = "from-file"\ntrials = 2\neval_best = "no"\n'
                    '[params]\nlearning_rate = "log:1e-4:3e-3"\n[train]\ntime_budget = "8s"\n')
    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        form = await _open_sweep_form(pilot)
        spec = form.query_one("#sweep-spec", Input)
        spec.focus()
        await wait_for(pilot, lambda: spec.has_focus, what="the spec field focused")
        spec.value = str(toml)
        await pilot.press("tab")  # on to Search
        hint = form.query_one("#sweep-form-hint")
        await wait_for(pilot, lambda: "learning_rate=log:1e-4:3e-3" in widget_text(hint), what="the file's search")
        await pilot.press("tab")  # on to Trials
        await wait_for(pilot, lambda: widget_text(hint).strip() == "Trials: blank: the spec file's 2",
                       what="the file's trials in the hint")
        assert form.query_one("#sweep-train", Input).placeholder == "blank: the spec file's --time_budget 8s"
        assert form.query_one("#sweep-sampler", Input).placeholder == "tpe, random or grid (blank: tpe)"


async def test_the_buttons_stay_on_screen_at_80x24_with_a_spec_error_and_a_warning(sweep_runs: Path, tmp_path: Path,
                                                                                  monkeypatch) -> None:
    """At 80x24 a spec file's error beside its field (Start refused its train.epochs = 0) and
    petseg sweep's warning for At once 8 pushed Start and Cancel below the terminal's last row:
    they were the end of the scrolled fields. The buttons stay in sight under the fields that
    scroll, with both lines still on screen, and every field is still reached by scrolling."""
    from textual.widgets import Input

    from engine import cores
    from engine.sweep import slots

    monkeypatch.setattr(cores, "available_cores", lambda: 2)
    monkeypatch.setattr(slots, "visible_gpu_count", lambda: 0)
    bad_value = tmp_path / "value.toml"
    bad_value.write_text('name = "b"\n[params]\nwidth = [8, 16]\n[train]\nepochs = 0\n')
    started = _record_starts(monkeypatch)
    async with _app(sweep_runs, monkeypatch).run_test(size=(80, 24)) as pilot:
        form = await _open_sweep_form(pilot)
        form.query_one("#sweep-spec", Input).value = str(bad_value)
        parallel = form.query_one("#sweep-parallel", Input)
        parallel.focus()
        await wait_for(pilot, lambda: parallel.has_focus, what="At once focused")
        await pilot.press("8", "ctrl+s")
        said = lambda: (" ".join(widget_text(form.query_one("#sweep-spec-error")).split()),  # noqa: E731
                        " ".join(widget_text(form.query_one("#sweep-form-warning")).split()))
        await wait_for(pilot, lambda: "train.epochs = 0" in said()[0] and "time-slice" in said()[1],
                       what="the file's error and the warning both said")
        await settled(pilot)
        assert not started and pilot.app.screen is form
        screen = pilot.app.screen.region
        for button in ("#sweep-start", "#sweep-cancel"):
            region = form.query_one(button).region
            assert region.height >= 1 and screen.contains_region(region), f"{button} at {region}, screen {screen}"
        assert seen_at(pilot.app, form.query_one("#sweep-start")) == "Start ctrl+s"
        assert seen_at(pilot.app, form.query_one("#sweep-cancel")) == "Cancel esc"
        # both lines in sight, each read where it lies (the screen's rows joined broke a line that
        # wraps around the chart behind the dialog, where the path's length put the fold)
        assert "train.epochs = 0" in seen_at(pilot.app, form.query_one("#sweep-spec-error"))
        assert "every trial trains slowly" in seen_at(pilot.app, form.query_one("#sweep-form-warning"))
        train = form.query_one("#sweep-train", Input)
        train.focus()  # the last field, below what the dialog shows: scrolled to
        await wait_for(pilot, lambda: train.has_focus, what="Train flags focused")
        await settled(pilot)
        assert "Train flags" in seen_at(pilot.app, train.parent)
        assert seen_at(pilot.app, form.query_one("#sweep-start")) == "Start ctrl+s"
