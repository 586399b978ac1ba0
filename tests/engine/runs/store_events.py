"""Events as a trainer writes them, for the run store's tests: a run's start and an epoch's end
with figures that follow from the epoch number."""

from __future__ import annotations

from engine.events import EpochEnded, RunStarted


def epoch_ended(epoch: int, dice: float, total: int = 5) -> EpochEnded:
    return EpochEnded(
        epoch=epoch, total_epochs=total, train_loss=1.0 / epoch, train_dice=dice, valid_loss=1.1 / epoch,
        valid_dice=dice, valid_iou=dice * 0.8, valid_dice_per_image=dice, valid_iou_per_image=dice * 0.8,
        lr=1e-3, seconds=1.0, images_per_s=10.0 * epoch, best_dice=dice, best_epoch=epoch,
    )


def started(total: int = 5, start_epoch: int = 1) -> RunStarted:
    return RunStarted(run="r", total_epochs=total, start_epoch=start_epoch, train_size=9, valid_size=1,
                      device="cpu", data="generated")
