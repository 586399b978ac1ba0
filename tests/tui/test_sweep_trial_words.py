"""The sweeps screen words a trial's status as ``petseg sweep --show`` does: a trial its sweep's
Ctrl-C (or x on the sweeps screen) stopped and one its user stopped (``petseg stop``, x on its
live screen) have the same run ("stopped by user") and read alike on the screen, but the study
keeps the first open (a re-run resumes it) and counts the second failed; ``--show`` tells them
apart, and so does the screen now, in its words, legible in dark and light themes."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import LIGHT_THEMES, contrast_of, settled, wait_for
from tui_sweep import _app, _open_sweeps

from engine.cli import main
from engine.sweep.board import board
from tests.engine.sweep.stopped_studies import stopped_both_ways


def _show_statuses(runs: Path, capsys) -> dict[str, str]:
    """Each trial's status as ``petseg sweep --show halt`` prints it, by trial number (its row's
    end: the status column is last)."""
    assert main(["sweep", "--runs", str(runs), "--show", "halt"]) == 0
    return {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()}


def _cell(table, run: str) -> str:
    return str(table.get_row(run)[-1])


async def test_a_trial_stopped_with_its_sweep_and_one_its_user_stopped_read_as_sweep_show_says(
        runs_dir: Path, monkeypatch, capsys) -> None:
    """Both read "stopped: stopped by user" on the sweeps screen; they now read "stopped (its sweep
    process ended)" and "stopped: stopped by user", as the rows of --show end."""
    stopped_both_ways(runs_dir)
    shown = _show_statuses(runs_dir, capsys)
    assert shown["1"].endswith("stopped (its sweep process ended)"), shown
    assert shown["2"].endswith("stopped: stopped by user"), shown
    async with _app(runs_dir, monkeypatch).run_test(size=(160, 48)) as pilot:
        await _open_sweeps(pilot)
        table = pilot.app.screen.query_one("#sweep-table")
        await wait_for(pilot, lambda: "its sweep process ended" in _cell(table, "halt-t001"), what="the study's words")
        cells = {n: _cell(table, f"halt-t00{n}") for n in "012"}
        assert cells == {"0": "finished", "1": "stopped (its sweep process ended)", "2": "stopped: stopped by user"}
        for n, cell in cells.items():
            assert shown[n].endswith(cell), (shown[n], cell)
        for theme in ("textual-dark", *LIGHT_THEMES):
            pilot.app.theme = theme  # as the command palette's Theme switches it
            await settled(pilot)
            for text in ("stopped", "its sweep process ended", "stopped by user"):
                assert contrast_of(table, text) >= 3.0, (theme, text)


async def test_a_trial_resumed_since_the_study_was_read_reads_as_its_run(runs_dir: Path) -> None:
    """Words of an older read of the study ("stopped (its sweep process ended)") are not put on a
    trial whose run has been resumed since: it reads running, as its run says."""
    from engine.events import RunStarted
    from engine.runs import RunState, RunStore

    stopped_both_ways(runs_dir)
    summaries = RunStore(runs_dir).list_runs()
    said = {1: "stopped (its sweep process ended)", 2: "stopped: stopped by user"}
    words = {t.trial: t.status for t in board("halt", summaries).with_study_words(said).trials}
    assert words == {0: "finished", 1: "stopped (its sweep process ended)", 2: "stopped: stopped by user"}
    writer = RunStore(runs_dir).open_for_resume("halt-t001")  # as the re-run's petseg train --resume
    writer.append(RunStarted(run="halt-t001", total_epochs=3, start_epoch=2, train_size=16, valid_size=4,
                             device="cpu", data="fake", resumed=True), sync=True)
    writer.set_status(RunState.RUNNING)
    (resumed,) = [t for t in board("halt", RunStore(runs_dir).list_runs()).with_study_words(said).trials
                  if t.trial == 1]
    writer.close()
    assert (resumed.state, resumed.status) == (RunState.RUNNING, "running")
