"""How the sweeps screen tells what became of a sweep and its trials: draws refused before they
started, a sweep that gave up and why, trials that failed (with or without a run folder) and why,
a stopped trial and who stopped it, a long reason cut in the table and whole below it, and the
trials' states legible in the light themes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tui_helpers import settled, wait_for, widget_text
from tui_sweep import _app, _fake_trials, _open_sweeps


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


async def test_a_stopped_trial_says_who_stopped_it_as_sweep_show_does(sweep_runs: Path, monkeypatch) -> None:
    """`petseg sweep --show` follows a stopped trial with its reason ("stopped: stopped by user",
    "stopped by SIGTERM", that the process that started it ended); the sweeps screen said
    "stopped" alone."""
    why = "stopped by SIGTERM"
    table = await _table_with_first_trial(sweep_runs, monkeypatch, "stopped", why)
    assert f"stopped: {why}" in table, table


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
