"""The live screen's progress: ETA and elapsed without a pause, images/s as the runs table has it,
and the batch bar and its words as a run trains, validates, pauses or stops inside an epoch."""

from __future__ import annotations

import time
from pathlib import Path

from tui_helpers import (
    epoch_event,
    make_run,
    open_live,
    wait_for,
    widget_text,
)
from textual.widgets import ProgressBar

from engine.config import TrainConfig
from engine.events import BatchProgress, EpochStarted, RunStarted
from engine.runs import RunStore
from petseg_tui.app import PetsegApp


async def test_eta_and_elapsed_leave_out_a_pause(runs_dir: Path) -> None:
    """1 batch/s, then a 60 s pause, then on: the ETA is 28 s (8 batches left + one 20-batch
    epoch), not the ~3 minutes a rate over the paused wall time gives; elapsed leaves the minute out."""
    from engine.events import RunPaused, RunResumed, RunStarted

    t0 = time.time() - 75
    w = RunStore(runs_dir).create(TrainConfig(epochs=2, batch_size=4).to_dict(), "paused-once")
    w.start_heartbeat(0.5)
    w.append(RunStarted(run="paused-once", total_epochs=2, start_epoch=1, train_size=80, valid_size=8,
                        device="cpu", data="d", t=t0))
    w.append(EpochStarted(epoch=1, total_epochs=2, batches=20, t=t0))
    for b in range(1, 11):
        w.append(BatchProgress(epoch=1, batch=b, batches=20, loss=0.5, images_per_s=4.0, t=t0 + b))
    w.append(RunPaused(epoch=1, batch=10, t=t0 + 10))
    w.append(RunResumed(epoch=1, batch=10, t=t0 + 70))
    for b in (11, 12):
        w.append(BatchProgress(epoch=1, batch=b, batches=20, loss=0.5, images_per_s=4.0, t=t0 + 60 + b))

    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            live = await open_live(pilot, runs_dir / "paused-once")
            await wait_for(pilot, lambda: "ETA       ~28s" in widget_text(live.query_one("#live-stats")),
                           what="ETA without the pause")
            stats = widget_text(live.query_one("#live-stats"))
            elapsed = next(line for line in stats.splitlines() if "elapsed" in line).split()[-1]
            assert elapsed.endswith("s") and "m" not in elapsed, stats  # ~15 s, not 1m15s
    finally:
        w.close()


async def test_a_finished_runs_images_per_s_is_the_runs_table_figure(runs_dir: Path) -> None:
    """Once a run is over its screen shows the median img/s over its epochs, as the runs table
    and `petseg runs` do: it showed the last epoch's alone (a real 40-epoch run read 118 on its
    screen and 225 in the table)."""
    make_run(runs_dir, "done", epochs_done=4, state="finished")  # epochs at 121, 122, 123, 124 img/s
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one("#runs-table")
        await wait_for(pilot, lambda: "122" in widget_text(table), what="the runs table's median 122 img/s")
        live = await open_live(pilot, runs_dir / "done")
        stats = lambda: " ".join(widget_text(live.query_one("#live-stats")).split())  # noqa: E731
        await wait_for(pilot, lambda: "images/s 122 " in stats(), what="the median on the run's screen")
        assert "124" not in stats()


async def test_a_one_batch_epoch_says_what_the_run_does_not_batch_0_of_1(runs_dir: Path) -> None:
    """A data-parallel rank whose epoch is one batch (`--devices 2 --max_train_images 32
    --batch_size 16`) read "Batch 0/1" while it trained and "Batch 1/1" while it validated, epoch
    after epoch: a count that meant nothing. It says "1-batch epoch" while the batch trains, and
    "Validating" (any epoch) once its batches are done and its scores are not in."""
    from engine.events import RunStarted

    t0 = time.time() - 10
    w = RunStore(runs_dir).create(TrainConfig(epochs=30, batch_size=16).to_dict(), "one-batch")
    w.start_heartbeat(0.5)
    w.append(RunStarted(run="one-batch", total_epochs=30, start_epoch=1, train_size=32, valid_size=8,
                        device="cpu", data="d", t=t0))
    w.append(epoch_event(1, 30, t0 + 1))
    w.append(EpochStarted(epoch=2, total_epochs=30, batches=1, t=t0 + 2))
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / "one-batch")
            label = live.query_one("#batch-label")
            await wait_for(pilot, lambda: widget_text(label).strip() == "1-batch epoch",
                           what="the one batch training")
            w.append(BatchProgress(epoch=2, batch=1, batches=1, loss=0.5, images_per_s=40.0, t=t0 + 3))
            await wait_for(pilot, lambda: widget_text(label).strip() == "Validating", what="validating")
            bar = live.query_one("#batch-bar", ProgressBar)
            assert bar.percentage == 1
            # a fast epoch of 4 batches (reported at most once a second): busy, not an empty bar
            w.append(epoch_event(2, 30, t0 + 4))
            w.append(EpochStarted(epoch=3, total_epochs=30, batches=4, t=t0 + 5))
            await wait_for(pilot, lambda: widget_text(label).strip() == "Batch 0/4", what="the next epoch")
            assert bar.total is None and bar.percentage is None  # pulsing
    finally:
        w.close()


async def test_a_run_paused_before_an_epochs_first_batch_has_a_still_batch_bar(runs_dir: Path) -> None:
    """p between two epochs (seen in tmux at 80x24): "Batch 0/4", its bar pulsing as if busy, beside
    "images/s 21.4 (paused)" and "Paused — press p to resume". Paused, the bar stands empty."""
    from engine.events import RunPaused

    t0 = time.time() - 10
    w = RunStore(runs_dir).create(TrainConfig(epochs=30, batch_size=16).to_dict(), "held")
    w.start_heartbeat(0.5)
    w.append(RunStarted(run="held", total_epochs=30, start_epoch=1, train_size=64, valid_size=8,
                        device="cpu", data="d", t=t0))
    w.append(epoch_event(1, 30, t0 + 1))
    w.append(EpochStarted(epoch=2, total_epochs=30, batches=4, t=t0 + 2))
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / "held")
            bar = live.query_one("#batch-bar", ProgressBar)
            await wait_for(pilot, lambda: widget_text(live.query_one("#batch-label")).strip() == "Batch 0/4",
                           what="the epoch begun")
            assert bar.total is None  # training: busy, pulsing
            w.append(RunPaused(epoch=2, batch=0, t=t0 + 3))
            w.set_status("paused")
            await wait_for(pilot, lambda: "Paused" in widget_text(live.query_one("#live-messages")), what="paused")
            await wait_for(pilot, lambda: bar.total == 4 and bar.percentage == 0, what="a still bar")
    finally:
        w.close()


async def test_a_run_stopped_inside_an_epoch_shows_where_it_stopped_not_a_full_batch_bar(runs_dir: Path) -> None:
    """x at batch 3 of 10 of epoch 2: the live screen read "Batch —" beside a full batch bar, as if
    the epoch had finished. The bar stands at 3/10 and the words say the run stopped there."""
    from engine.events import RunStopped

    t0 = time.time() - 10
    w = RunStore(runs_dir).create(TrainConfig(epochs=30, batch_size=16).to_dict(), "cut")
    w.append(RunStarted(run="cut", total_epochs=30, start_epoch=1, train_size=160, valid_size=8,
                        device="cpu", data="d", t=t0))
    w.append(epoch_event(1, 30, t0 + 1))
    w.append(EpochStarted(epoch=2, total_epochs=30, batches=10, t=t0 + 2))
    w.append(BatchProgress(epoch=2, batch=3, batches=10, loss=0.5, images_per_s=40.0, t=t0 + 3))
    w.append(RunStopped(epoch=1, t=t0 + 4))
    w.set_status("stopped", "stopped by user")
    w.close()
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "cut")
        bar = live.query_one("#batch-bar", ProgressBar)
        label = live.query_one("#batch-label")
        await wait_for(pilot, lambda: widget_text(label).strip() == "Stopped 3/10", what="where it stopped")
        assert bar.percentage == 0.3


async def test_a_stop_between_batch_reports_shows_the_batch_the_stop_event_counts(runs_dir: Path) -> None:
    """Batches are reported at most once a second, so a 4-batch epoch of 0.6 s (a 2-rank CPU run)
    is stopped with no batch reported yet: `petseg train` said "stopped in epoch 42 after batch 1
    of 4" while the live screen read "Stopped 0/4". The stop event's own count is the latest."""
    from engine.events import RunStopped

    t0 = time.time() - 10
    w = RunStore(runs_dir).create(TrainConfig(epochs=30, batch_size=16).to_dict(), "cut")
    w.append(RunStarted(run="cut", total_epochs=30, start_epoch=1, train_size=64, valid_size=8,
                        device="cpu", data="d", t=t0))
    w.append(epoch_event(1, 30, t0 + 1))
    w.append(EpochStarted(epoch=2, total_epochs=30, batches=4, t=t0 + 2))
    w.append(RunStopped(epoch=1, batch=1, t=t0 + 3))
    w.set_status("stopped", "stopped by user")
    w.close()
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "cut")
        bar = live.query_one("#batch-bar", ProgressBar)
        label = live.query_one("#batch-label")
        await wait_for(pilot, lambda: widget_text(label).strip() == "Stopped 1/4", what="where it stopped", timeout=5)
        assert bar.percentage == 0.25


async def test_a_pause_between_batch_reports_shows_the_batch_it_paused_after(runs_dir: Path) -> None:
    """p on a 2-rank CPU run (4 batches in 0.6 s, batches reported at most once a second): the run
    paused after batch 3 of 4 (its event says so) and the live screen read "Batch 0/4", bar empty."""
    from engine.events import RunPaused

    t0 = time.time() - 10
    w = RunStore(runs_dir).create(TrainConfig(epochs=30, batch_size=16).to_dict(), "held")
    try:
        w.append(RunStarted(run="held", total_epochs=30, start_epoch=1, train_size=64, valid_size=8,
                            device="cpu", data="d", t=t0))
        w.append(epoch_event(1, 30, t0 + 1))
        w.append(EpochStarted(epoch=2, total_epochs=30, batches=4, t=t0 + 2))
        w.append(RunPaused(epoch=2, batch=3, t=t0 + 3))
        w.set_status("paused")
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / "held")
            bar = live.query_one("#batch-bar", ProgressBar)
            label = live.query_one("#batch-label")
            await wait_for(pilot, lambda: widget_text(label).strip() == "Batch 3/4", what="where it paused", timeout=5)
            assert bar.percentage == 0.75
    finally:
        w.close()


def _time_budget_run(runs_dir: Path, name: str, batches: int):
    """A ``--time_budget 100s`` run with no epoch bound, started 60 s ago: two epochs of 20 s, then
    ``batches`` of the third's 20 at 1 batch/s. Returns its writer (open) and its start time."""
    from engine.events import EpochEnded

    t0 = time.time() - 60
    w = RunStore(runs_dir).create(TrainConfig(epochs=None, time_budget="100s", batch_size=4).to_dict(), name)
    w.append(RunStarted(run=name, total_epochs=0, start_epoch=1, train_size=80, valid_size=8, device="cpu",
                        data="d", t=t0))
    for epoch in (1, 2):
        w.append(EpochStarted(epoch=epoch, total_epochs=0, batches=20, t=t0 + 20 * (epoch - 1)))
        w.append(EpochEnded(epoch=epoch, total_epochs=0, train_loss=0.5, train_dice=0.5, valid_loss=0.5,
                            valid_dice=0.5, valid_iou=0.4, valid_dice_per_image=0.5, valid_iou_per_image=0.4,
                            lr=1e-3, seconds=20.0, images_per_s=4.0, best_dice=0.5, best_epoch=1,
                            t=t0 + 20 * epoch))
    w.append(EpochStarted(epoch=3, total_epochs=0, batches=20, t=t0 + 40))
    for b in range(1, batches + 1):
        w.append(BatchProgress(epoch=3, batch=b, batches=20, loss=0.5, images_per_s=4.0, t=t0 + 40 + b))
    return w, t0


async def _budget_bar(pilot, run_path: Path):
    """The run's live screen and its epoch bar, once the bar's total is the 100 s budget."""
    live = await open_live(pilot, run_path)
    bar = live.query_one("#epoch-bar", ProgressBar)
    await wait_for(pilot, lambda: bar.total == 100.0, what="the bar's total: the budget")
    return live, bar


async def test_a_time_budget_alone_fills_the_epoch_bar_with_its_time(runs_dir: Path) -> None:
    """No epoch bound (``--time_budget 100s`` alone): the bar had no total and pulsed the whole run.
    It shows the budget's time spent: 2 epochs of 20 s and half a third of 20 batches at 1 batch/s
    (10 s) are 50 of 100 s."""
    w, _ = _time_budget_run(runs_dir, "alone", batches=10)
    w.start_heartbeat(0.5)
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            live, bar = await _budget_bar(pilot, runs_dir / "alone")
            assert bar.progress == 50.0
            assert "2 done" in widget_text(live.query_one("#epoch-label"))
    finally:
        w.close()


async def test_a_time_budget_run_stopped_shows_the_budget_spent_not_a_full_bar(runs_dir: Path) -> None:
    """x on a ``--time_budget 100s`` run (no --epochs) after 2 epochs of 20 s: the epoch bar stood
    full at 100 % as if the budget were used up, though its resume goes on for 60 s more. It shows
    40 of 100 s (the unfinished epoch is not counted: the resume runs it again)."""
    from engine.events import RunStopped

    w, t0 = _time_budget_run(runs_dir, "cut", batches=5)
    w.append(RunStopped(epoch=2, batch=5, t=t0 + 46))
    w.set_status("stopped", "stopped by user")
    w.close()
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        live, bar = await _budget_bar(pilot, runs_dir / "cut")
        assert bar.progress == 40.0
        assert "2 done" in widget_text(live.query_one("#epoch-label"))
