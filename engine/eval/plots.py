"""Training curves of one or more runs as a PNG (``petseg plot``).

Each run's history is read through ``engine.runs.RunStore`` (the same epochs the TUI shows,
with epochs repeated after a resume already replaced), and drawn per epoch: train and valid
loss (solid / dashed), valid Dice, valid IoU; one colour per run, the best-Dice epoch marked
(a run of one epoch as points).
matplotlib is imported only here, with the Agg backend, so it needs no display (SSH, tmux, CI)
and the rest of the engine never pays for its import.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.errors import PetsegError
from engine.runs import RunHistory, RunStore

METRICS = ("loss", "dice", "iou")
_TITLES = {"loss": "loss (train solid, valid dashed)", "dice": "valid Dice", "iou": "valid IoU"}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise PetsegError("petseg plot needs matplotlib (pip install matplotlib)") from None
    matplotlib.use("Agg", force=True)  # file output only; never try to open a window
    import matplotlib.pyplot as plt

    return plt


LOG_SPAN = 10.0  # losses whose largest is this many times their smallest get a log axis


def loss_scale(losses: Sequence[float | None]) -> str:
    """"log" when the positive, finite losses span a decade or more (the first epochs' valid loss
    can be 10x the rest: log keeps both readable), else "linear": across less than a decade a log
    axis labels one or two ticks (0.9 and 1 for losses from 0.9 to 1.35), and the curves cannot be read."""
    import math

    finite = [v for v in losses if v is not None and math.isfinite(v) and v > 0]
    if not finite:
        return "linear"
    return "log" if max(finite) >= LOG_SPAN * min(finite) else "linear"


def load_histories(runs_dir: str | Path, names: Sequence[str]) -> list[RunHistory]:
    """Each run's history, once however often it is named (by name and by path, say: it was
    drawn twice, two legend entries of one run); a run without a finished epoch is a one-line
    PetsegError."""
    store = RunStore(runs_dir)
    histories = []
    seen: set[Path] = set()
    for name in names:
        folder = store.resolve(name).resolve()
        if folder in seen:
            continue
        seen.add(folder)
        history = store.load(name)
        if not history.epochs:
            raise PetsegError(f"{store.resolve(name)}: no finished epoch to plot yet")
        histories.append(history)
    return histories


def plot_histories(histories: Sequence[RunHistory], out: str | Path, metrics: Sequence[str] = METRICS,
                   dpi: int = 110, overwrite: bool = False) -> Path:
    """Write the curves of ``histories`` to the PNG ``out``, one panel per metric; returns ``out``.

    ``out`` goes through `engine.infer.outputs.check_output`: an existing file is replaced only if
    petseg wrote it, or with ``overwrite``.
    """
    from engine.atomic import atomic_write
    from engine.infer.outputs import PNG_METADATA, check_output

    out = check_output(out, overwrite=overwrite, flag="--out")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise PetsegError(f"--metric {','.join(unknown) or '(none)'}: must be among {', '.join(METRICS)}")
    plt = _pyplot()
    fig = curves_figure(histories, metrics)
    try:  # atomic, like every PNG petseg writes: an interrupted save never leaves half a file
        atomic_write(out, lambda fh: fig.savefig(fh, format="png", dpi=dpi, metadata=PNG_METADATA))
    except OSError as exc:
        raise PetsegError(f"{out}: cannot write PNG ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
    return out


def curves_figure(histories: Sequence[RunHistory], metrics: Sequence[str] = METRICS) -> Any:
    """The matplotlib figure `plot_histories` saves: one panel per metric, each run a colour."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.6), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, history in enumerate(histories):
        colour = colours[i % len(colours)]
        epochs = history.epoch_list
        xs = [e.epoch for e in epochs]
        best = history.best
        model = history.config.get("model", "")
        label = f"{history.name}" + (f" ({model})" if model else "")
        marker = "o" if len(xs) == 1 else None  # a line through one point draws nothing: a run of one epoch
        for ax, metric in zip(axes[0], metrics):
            if metric == "loss":
                ax.plot(xs, [e.train_loss for e in epochs], color=colour, label=label, marker=marker)
                ax.plot(xs, [e.valid_loss for e in epochs], color=colour, linestyle="--", marker=marker,
                        fillstyle="none")  # hollow: the valid loss, as its dashes say for longer runs
            else:
                key = "valid_dice" if metric == "dice" else "valid_iou"
                ax.plot(xs, [getattr(e, key) for e in epochs], color=colour, label=label, marker=marker)
                if best is not None:  # where best.pt was taken
                    ax.plot([best.epoch], [getattr(best, key)], "o", color=colour, markersize=5)
    losses = [loss for h in histories for e in h.epoch_list for loss in (e.train_loss, e.valid_loss)]
    for ax, metric in zip(axes[0], metrics):
        ax.set_title(_TITLES[metric], fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))  # epochs are whole: no "epoch 2.5" tick
        ax.grid(alpha=0.3)
        if metric == "loss":
            ax.set_yscale(loss_scale(losses))
        else:
            ax.set_ylim(top=1.0)
    axes[0][0].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig
