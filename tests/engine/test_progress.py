"""The CLI's progress lines (`engine.cli.progress.ProgressReporter`), fed events as a trainer sends them."""

from __future__ import annotations

from pathlib import Path

from engine.cli.progress import ProgressReporter
from engine.events import RunFinished, RunStarted, RunWarning, TrainEvent
from engine.console_log import plain
from engine.runs import RunStore

T0 = 1_000_000.0


class _Lines:
    """A console that keeps what is printed."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, text: str, markup: bool = False) -> None:
        self.lines.append(plain(text, markup))


def _train(tmp_path: Path, events: list[TrainEvent]) -> tuple[list[str], str]:
    """Write ``events`` to a run as the trainer does (appended, then heard), return the printed
    lines and the runs table's Time cell of the run."""
    from engine.durations import format_duration

    w = RunStore(tmp_path).create({"model": "unet", "epochs": 2}, "r")
    console = _Lines()
    reporter = ProgressReporter(console, plain=True, run_path=tmp_path / "r")
    for ev in events:
        w.append(ev)
        reporter(ev)
    w.set_status("finished")
    w.close()
    return console.lines, format_duration(RunStore(tmp_path).summary("r").duration)


def _started(t: float, resumed: bool = False) -> RunStarted:
    return RunStarted(run="r", total_epochs=2, start_epoch=2 if resumed else 1, train_size=9, valid_size=1,
                      device="cpu", data="generated", resumed=resumed, t=t)


def test_the_finished_line_says_its_time_includes_setup_beside_the_tables_training_time(tmp_path: Path) -> None:
    """`petseg train` ended with "(3s)" while the runs table's Time said 1s for the same run: the
    CLI's figure counts the setup too (data cache, model build, precision probe)."""
    lines, table_time = _train(tmp_path, [
        _started(T0),
        RunFinished(epochs=2, best_dice=0.8, best_epoch=2, seconds=3.0, t=T0 + 1.0),
    ])
    assert table_time == "1s"
    assert lines[-1] == "finished: best valid Dice 0.8000 at epoch 2 (3s in all, 1s training)"


def test_a_resumed_run_says_its_training_time_covers_every_session(tmp_path: Path) -> None:
    """The table adds up the run's sessions; the wall time is only this process's."""
    lines, table_time = _train(tmp_path, [
        _started(T0),
        RunWarning(message="the last event of a session killed after 70 s of training", t=T0 + 70.0),
        _started(T0 + 130.0, resumed=True),  # a minute later
        RunFinished(epochs=2, best_dice=0.8, best_epoch=2, seconds=65.0, t=T0 + 135.0),
    ])
    assert table_time == "1m15s"
    assert lines[-1] == "finished: best valid Dice 0.8000 at epoch 2 (1m05s this session, 1m15s training over all sessions)"


def bars(reporter: ProgressReporter) -> list[str]:
    """The Rich bars as drawn now, a line each."""
    import io

    from rich.console import Console

    shown = Console(file=io.StringIO(), width=120, record=True)
    shown.print(reporter.progress.make_tasks_table(reporter.progress.tasks))
    return shown.export_text().splitlines()


def test_the_bars_elapsed_time_leaves_out_a_pause(tmp_path: Path) -> None:
    """Paused from the dashboard for ten minutes, `petseg train`'s bars kept counting: the epoch's
    bar read 0:10:10 elapsed for an epoch its own line timed at 10 s (README: paused time is not
    training time). The bars' clocks stop while the run is paused."""
    import io

    from rich.console import Console

    from engine.events import EpochStarted, RunPaused, RunResumed

    now = [0.0]
    console = Console(file=io.StringIO(), force_terminal=True, width=120, get_time=lambda: now[0])

    with ProgressReporter(console, plain=False) as reporter:
        reporter(_started(T0))
        reporter(EpochStarted(epoch=1, total_epochs=2, batches=4))
        now[0] = 5.0
        reporter(RunPaused(epoch=1, batch=2))
        now[0] = 300.0
        assert all("0:00:05" in line for line in bars(reporter))  # stopped at the pause
        now[0] = 605.0
        reporter(RunResumed(epoch=1, batch=2))
        now[0] = 610.0
        shown = bars(reporter)
    assert len(shown) == 2 and all("0:00:10" in line for line in shown), shown


def test_a_stop_inside_an_epoch_says_how_far_it_got(tmp_path: Path) -> None:
    """Stopped from the dashboard after batch 1 of epoch 3, `petseg train` said "stopped after
    epoch 2; last.pt saved", and the resume then said "epoch 3 goes on after batch 1": the batch
    trained in epoch 3 is in last.pt, and the stop line now says so."""
    from engine.events import EpochStarted, RunStopped

    (tmp_path / "r" / "checkpoints").mkdir(parents=True)
    (tmp_path / "r" / "checkpoints" / "last.pt").write_bytes(b"saved")
    console = _Lines()
    reporter = ProgressReporter(console, plain=True, run_path=tmp_path / "r")
    reporter(_started(T0))
    reporter(EpochStarted(epoch=3, total_epochs=6, batches=2))
    reporter(RunStopped(epoch=2, batch=1))
    assert console.lines[-1] == "stopped in epoch 3 after batch 1 of 2; last.pt saved"
    reporter(RunStopped(epoch=2))  # at an epoch's end, as before
    assert console.lines[-1] == "stopped after epoch 2; last.pt saved"


def test_a_stop_not_asked_by_its_user_says_why_under_the_stop_line(tmp_path: Path) -> None:
    """The surviving node of a two-node torchrun run printed "stopped after epoch 165; last.pt
    saved" and nothing more: the run's status knew rank 1 on the other node had been stopped
    (its torchrun killed), the terminal did not. A user's own stop adds nothing."""
    from engine.events import RunStopped

    (tmp_path / "r" / "checkpoints").mkdir(parents=True)
    (tmp_path / "r" / "checkpoints" / "last.pt").write_bytes(b"saved")
    console = _Lines()
    reporter = ProgressReporter(console, plain=True, run_path=tmp_path / "r")
    reporter(_started(T0))
    why = "stopped by rank 1 of this 2-process run (on another node): a signal to it, or its launcher ended"
    reporter(RunStopped(epoch=2, reason=why))
    assert console.lines[-2:] == ["stopped after epoch 2; last.pt saved", why]
    reporter(RunStopped(epoch=2, reason="stopped by user"))
    assert console.lines[-1] == "stopped after epoch 2; last.pt saved"


def test_a_stopped_event_of_an_older_petseg_has_no_batch() -> None:
    from engine.events import RunStopped, event_from_dict

    assert event_from_dict({"kind": "stopped", "epoch": 2, "reason": "stopped by user", "t": T0}) == \
        RunStopped(epoch=2, reason="stopped by user", batch=0, t=T0)


def test_the_batch_bar_shows_the_batch_a_stop_came_after() -> None:
    """Batch events are throttled: the bar read 3/16 when the stop came after batch 4 (user7)."""
    import io

    from rich.console import Console

    from engine.events import BatchProgress, EpochStarted, RunStopped

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with ProgressReporter(console, plain=False) as reporter:
        reporter(_started(T0))
        reporter(EpochStarted(epoch=1, total_epochs=2, batches=16))
        reporter(BatchProgress(epoch=1, batch=3, batches=16, loss=0.5, images_per_s=10.0))
        reporter(RunStopped(epoch=0, batch=4))
        assert any("epoch 1" in line and "4/16" in line for line in bars(reporter))
