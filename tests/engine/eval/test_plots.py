"""`petseg plot`: training curves of fixture runs (real RunStore/RunWriter folders) as a PNG."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from PIL import Image  # noqa: E402

from engine.cli import main  # noqa: E402
from engine.config import TrainConfig  # noqa: E402
from engine.events import EpochEnded, RunFinished, RunStarted  # noqa: E402
from engine.runs import RunStore  # noqa: E402


def _run(root: Path, name: str, epochs: int, model: str = "unet") -> None:
    writer = RunStore(root).create(TrainConfig(model=model, epochs=epochs).to_dict(), name)
    writer.append(RunStarted(run=name, total_epochs=epochs, start_epoch=1, train_size=10, valid_size=2,
                             device="cpu", data="fixture"))
    for ep in range(1, epochs + 1):
        dice = 0.5 + 0.05 * ep
        writer.append(EpochEnded(epoch=ep, total_epochs=epochs, train_loss=1.0 / ep, train_dice=dice,
                                 valid_loss=1.1 / ep, valid_dice=dice, valid_iou=dice * 0.8,
                                 valid_dice_per_image=dice, valid_iou_per_image=dice * 0.8, lr=1e-3,
                                 seconds=1.0, images_per_s=10.0, best_dice=dice, best_epoch=ep))
    writer.append(RunFinished(epochs=epochs, best_dice=0.5 + 0.05 * epochs, best_epoch=epochs, seconds=3.0))
    writer.set_status("finished")
    writer.close()


def test_plot_writes_a_png_of_two_runs(tmp_path: Path, capsys) -> None:
    _run(tmp_path / "runs", "alpha", 3)
    _run(tmp_path / "runs", "beta", 5, model="resnet34_unet")
    out = tmp_path / "curves.png"
    code = main(["plot", "--runs", str(tmp_path / "runs"), "--run", "alpha", "--run", "beta", "--out", str(out)])
    assert code == 0
    with Image.open(out) as im:
        assert im.format == "PNG"
        w, h = im.size
        assert w > 2 * h  # three panels side by side
        assert len(im.convert("RGB").getcolors(1 << 16) or []) > 10  # lines drawn, not a blank canvas
    assert "curves of 2 runs, up to 5 epochs" in capsys.readouterr().out


def test_plot_one_metric_and_clear_errors(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    _run(runs, "alpha", 2)
    out = tmp_path / "dice.png"
    assert main(["plot", "--runs", str(runs), "--run", "alpha", "--out", str(out), "--metric", "dice"]) == 0
    with Image.open(out) as im:
        assert im.size[0] < 2 * im.size[1]  # a single panel
    capsys.readouterr()

    RunStore(runs).create(TrainConfig().to_dict(), "empty").close()
    assert main(["plot", "--runs", str(runs), "--run", "empty", "--out", str(out)]) == 1
    assert main(["plot", "--runs", str(runs), "--run", "nope", "--out", str(out)]) == 1
    assert main(["plot", "--runs", str(runs), "--run", "alpha", "--out", str(tmp_path / "x.jpg")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("petseg: error: ") for line in err)
    assert "no finished epoch" in err[0] and "no such run" in err[1] and ".png" in err[2]


def test_losses_within_a_decade_get_a_loss_axis_with_readable_ticks(tmp_path: Path, monkeypatch) -> None:
    """Two real runs' losses went from 1.35 to 0.9: on the log axis the loss panel labelled only
    "9x10^-1" and "10^0", so no loss could be read off it."""
    import matplotlib.pyplot as plt

    runs = tmp_path / "runs"
    writer = RunStore(runs).create(TrainConfig(epochs=6).to_dict(), "narrow")
    for ep in range(1, 7):
        writer.append(EpochEnded(epoch=ep, total_epochs=6, train_loss=1.35 - 0.07 * ep, train_dice=0.5,
                                 valid_loss=1.3 - 0.05 * ep, valid_dice=0.5, valid_iou=0.4, valid_dice_per_image=0.5,
                                 valid_iou_per_image=0.4, lr=1e-3, seconds=1.0, images_per_s=10.0, best_dice=0.5,
                                 best_epoch=1))
    writer.close()
    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    assert main(["plot", "--runs", str(runs), "--run", "narrow", "--out", str(tmp_path / "c.png"), "--metric", "loss"]) == 0
    ax = figures[0].axes[0]
    figures[0].canvas.draw()
    low, high = ax.get_ylim()
    shown = [t.get_text() for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True)
             if t.get_text() and low <= t.get_position()[1] <= high]
    assert len(shown) >= 4, shown
    # a first epoch's valid loss 10x the rest still gets the log axis
    from engine.eval.plots import loss_scale

    assert loss_scale([5.0, 0.4, 0.3, None, float("nan")]) == "log"
    assert loss_scale([1.35, 0.9]) == "linear"


def test_a_run_named_twice_is_drawn_once(tmp_path: Path, capsys) -> None:
    """`petseg plot --run alpha --run runs/alpha` drew alpha twice: "curves of 2 run(s)", two
    legend entries of one run."""
    from engine.eval.plots import load_histories

    _run(tmp_path / "runs", "alpha", 3)
    _run(tmp_path / "runs", "beta", 2)
    runs = tmp_path / "runs"
    histories = load_histories(runs, ["alpha", str(runs / "alpha"), "beta", "alpha"])
    assert [h.name for h in histories] == ["alpha", "beta"]
    assert main(["plot", "--runs", str(runs), "--run", "alpha", "--run", "alpha", "--out", str(tmp_path / "c.png")]) == 0
    assert "curves of 1 run, up to 3 epochs" in capsys.readouterr().out  # not "1 run(s)"


@pytest.mark.parametrize("epochs", [3, 20])
def test_the_epoch_axis_has_whole_epochs_only(tmp_path: Path, epochs: int) -> None:
    """A 20-epoch run's curves were ticked 2.5, 7.5, 12.5, 17.5 (and 1.25, 1.75, ... for 3 epochs):
    epochs no run has."""
    import matplotlib.pyplot as plt

    from engine.eval.plots import curves_figure, load_histories

    _run(tmp_path / "runs", "alpha", epochs)
    fig = curves_figure(load_histories(tmp_path / "runs", ["alpha"]))
    try:
        for ax in fig.axes:
            low, high = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if low <= t <= high]
            assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks
    finally:
        plt.close(fig)


def test_a_run_of_one_epoch_is_drawn_in_every_panel(tmp_path: Path) -> None:
    """A run stopped after its first epoch had a legend entry but nothing in the loss panel: a line
    through one point draws nothing, and only the Dice and IoU panels marked its best epoch. A
    series of one point is now drawn as a marker."""
    import matplotlib.pyplot as plt

    from engine.eval.plots import curves_figure, load_histories

    _run(tmp_path / "runs", "short", 1)
    _run(tmp_path / "runs", "long", 3)
    fig = curves_figure(load_histories(tmp_path / "runs", ["short", "long"]))
    try:
        for ax in fig.axes:
            points = [line for line in ax.get_lines() if len(line.get_xdata()) == 1]
            assert points, ax.get_title()
            assert all(line.get_marker() not in (None, "", "None", " ") for line in points), ax.get_title()
    finally:
        plt.close(fig)
