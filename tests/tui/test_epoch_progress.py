"""A run's epochs read the same in the runs table and on its live screen: the count is always the
finished epochs, an epoch begun and not finished is named by its number."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import (
    highlight,
    make_run,
    open_live,
    run_detail,
    wait_for,
    widget_text,
)

from engine.events import BatchProgress, EpochStarted, RunStopped
from engine.runs import EpochProgress, RunState
from petseg_tui.app import PetsegApp


def _stopped_in_epoch_16(root: Path) -> None:
    """15 of 300 epochs finished, stopped by the user in the 16th (3 of its 10 batches trained)."""
    writer = make_run(root, "cut", epochs_done=15, total=300, state="running", close=False)
    t = 1_800_000_000.0
    writer.append(EpochStarted(epoch=16, total_epochs=300, batches=10, t=t))
    for b in (1, 2, 3):
        writer.append(BatchProgress(epoch=16, batch=b, batches=10, loss=0.5, images_per_s=8.0, t=t + b))
    writer.append(RunStopped(epoch=15, batch=3, reason="stopped by user", t=t + 4))
    writer.set_status("stopped", "stopped by user")
    writer.close()


async def test_a_run_stopped_during_an_epoch_reads_the_same_in_the_table_and_on_its_live_screen(
        runs_dir: Path) -> None:
    """The live screen read "Epoch 16/300", its bar at 5 %, for a run stopped during epoch 16
    (15 finished), while the runs table read "15/300"."""
    _stopped_in_epoch_16(runs_dir)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one("#runs-table")
        await highlight(pilot, table, "cut")
        assert "15/300" in widget_text(table)
        words = "15/300 epochs done, stopped in epoch 16"
        assert words in run_detail(app.screen)
        live = await open_live(pilot, runs_dir / "cut")
        label = live.query_one("#epoch-label")
        await wait_for(pilot, lambda: widget_text(label).strip() == "15/300 done", what="the epoch row's count")
        assert "16/300" not in widget_text(live)
        await wait_for(pilot, lambda: words in widget_text(live.query_one("#live-messages")).replace("\n", " "),
                       what="the same words under the charts")


def test_the_count_is_finished_epochs_and_the_unfinished_one_is_named() -> None:
    assert EpochProgress(15, 300, 16, RunState.STOPPED).words == "15/300 epochs done, stopped in epoch 16"
    assert EpochProgress(15, 300, 16, RunState.RUNNING).words == "15/300 epochs done, in epoch 16"
    assert EpochProgress(15, 300, 16, RunState.PAUSED).words == "15/300 epochs done, paused in epoch 16"
    assert EpochProgress(300, 300, 300, RunState.FINISHED).words == "300/300 epochs done"
    assert EpochProgress(0, 0).count == "—" and EpochProgress(0, 5, 1, RunState.FAILED).words == \
        "0/5 epochs done, failed in epoch 1"
    assert EpochProgress(1000, 1000).label == "1000/1000 done"  # fits the live screen's 14 columns
