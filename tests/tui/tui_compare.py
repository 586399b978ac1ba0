"""Helpers of the compare screen's tests: two data folders whose paths differ at their end, three
run names too long for 80 columns, and the compare table of some runs once it holds them."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import wait_for

from petseg_tui.app import PetsegApp


MINI, SAMPLE = "/work/shared/data/oxford-pet-mini", "/work/shared/data/oxford-pet-sample"


async def _compare_table(app: PetsegApp, pilot, runs: list[Path]):
    """The compare table of ``runs``, once it holds a row for each."""
    app.open_compare(runs)
    await wait_for(pilot, lambda: len(getattr(app.screen, "snapshots", [])) == len(runs), what="compare data")
    table = app.screen.query_one("#compare-table")
    await wait_for(pilot, lambda: table.row_count == len(runs), what="the compare table")
    return table


LONG_NAMES = ("unet-baseline-strong-augmentation-lr3e-4-width32-long-name-20261207-041233",
              "resnet34-unet-pretrained-encoder-imagenet-lr1e-3-width16-20261207-041533",
              "densenet-encoder-unet-lr1e-3-width8-20261207-042011")
