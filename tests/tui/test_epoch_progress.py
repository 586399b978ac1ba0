"""A run's epochs read the same in the runs table and on its live screen: the count is always the
finished epochs, an epoch begun and not finished is named by its number."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import (
    T0,
    epoch_event,
    highlight,
    open_live,
    run_detail,
    wait_for,
    widget_text,
)

from engine.config import TrainConfig
from engine.events import BatchProgress, EpochStarted, RunStarted, RunStopped
from engine.runs import EpochProgress, RunState, RunStore
from petseg_tui.app import PetsegApp

LONG_DATA = ("generated (synthetic) pet-like dataset (@generated), not real photographs; "
             "/root/.cache/petseg/generated-v1: 120 trainval, 30 test images")


def _stopped_in_epoch_16(root: Path, data: str = "generated (fixture)") -> None:
    """15 of 300 epochs finished, stopped by the user in the 16th (3 of its 10 batches trained)."""
    writer = RunStore(root).create(TrainConfig(epochs=300).to_dict(), "cut")
    t = T0
    writer.append(RunStarted(run="cut", total_epochs=300, start_epoch=1, train_size=100, valid_size=10,
                             device="cpu (bfloat16)", data=data, t=t))
    for ep in range(1, 16):
        writer.append(EpochStarted(epoch=ep, total_epochs=300, batches=10, t=t))
        t += 30
        writer.append(epoch_event(ep, 300, t))
    writer.append(EpochStarted(epoch=16, total_epochs=300, batches=10, t=t))
    for b in (1, 2, 3):
        writer.append(BatchProgress(epoch=16, batch=b, batches=10, loss=0.5, images_per_s=8.0, t=t + b))
    writer.append(RunStopped(epoch=15, batch=3, reason="stopped by user", t=t + 4))
    writer.set_status("stopped", "stopped by user")
    writer.close()
    (root / "cut" / "checkpoints").mkdir(exist_ok=True)
    (root / "cut" / "checkpoints" / "last.pt").write_bytes(b"placeholder")  # saved on the stop


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
        # the same words under the table and under the live screen's charts
        words = "stopped by user · in epoch 16"
        assert words in run_detail(app.screen).splitlines()
        live = await open_live(pilot, runs_dir / "cut")
        label = live.query_one("#epoch-label")
        await wait_for(pilot, lambda: widget_text(label).strip() == "15/300 done", what="the epoch row's count")
        assert "16/300" not in widget_text(live)
        messages = live.query_one("#live-messages")
        # the epoch it was cut in, on one line with the resume offer at 80 columns
        await wait_for(pilot, lambda: widget_text(messages).strip() ==
                       f"{words}  R resumes it from last.pt.",
                       what="the epoch it was stopped in, under the charts")


async def test_why_a_run_ended_stays_in_the_runs_detail_at_80_columns_when_its_data_is_long(runs_dir: Path) -> None:
    """The detail pane holds four lines: at 80 columns a data description of three lines came
    before the run's message and hid "stopped by user"; what the run was given now comes last."""
    _stopped_in_epoch_16(runs_dir, data=LONG_DATA)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await highlight(pilot, app.screen.query_one("#runs-table"), "cut")
        detail = app.screen.query_one("#run-detail")
        def shown() -> str:
            return " ".join(widget_text(detail).split())

        await wait_for(pilot, lambda: "data: generated (synthetic)" in shown(), what="the pane laid out")
        assert "stopped by user · in epoch 16" in shown()


def test_the_count_is_finished_epochs_and_the_unfinished_one_is_named_after_the_message() -> None:
    stopped = EpochProgress(15, 300, 16, RunState.STOPPED)
    assert stopped.count == "15/300" and stopped.label == "15/300 done"
    assert stopped.noted("stopped by user") == "stopped by user · in epoch 16"
    # a message that names the epoch already, a run still in it, an epoch not begun: as it is
    diverged = EpochProgress(6, 20, 7, RunState.DIVERGED)
    assert diverged.noted("loss is NaN/Inf at epoch 7, batch 3") == "loss is NaN/Inf at epoch 7, batch 3"
    assert EpochProgress(1, 20, 17, RunState.FAILED).noted("at epoch 1 x") == "at epoch 1 x · in epoch 17"
    assert EpochProgress(15, 300, 16, RunState.RUNNING).noted("note") == "note"
    assert EpochProgress(300, 300, 300, RunState.FINISHED).noted("done") == "done"
    assert EpochProgress(0, 0).count == "—" and EpochProgress(0, 0).label == "Epochs —"
    assert EpochProgress(1000, 1000).label == "1000/1000 done"  # fits the live screen's 14 columns



def test_one_epoch_is_named_against_the_budget_never_as_a_count() -> None:
    """The live previews' header names its epoch so: "epoch 15 of 300", beside the epoch row's
    "15/300 done" (it read "epoch 15 (15/15, newest)", a second count)."""
    assert EpochProgress(15, 300, 16).of_total(15) == "epoch 15 of 300"
    assert EpochProgress(3, 0).of_total(3) == "epoch 3"  # no budget known yet
    assert "/" not in EpochProgress(15, 300).of_total(12)
