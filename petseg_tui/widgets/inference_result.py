"""`InferenceResult`: the right column of the inference screen: what model it is, what the last
prediction found (and under which settings), the error line, and the image, mask and overlay panes.

`describe_model` and `describe_result` write its two text lines from plain values; the screen
decides when to redraw them. Names and notes in them (a run folder, a photo, a runs folder) are
escaped: "alpha [copy]" is shown as it is, never read as markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.markup import escape
from textual.widgets import Static

from engine.runs.short_name import shorten
from petseg_tui.format import fmt_metric
from petseg_tui.widgets.image_view import ImageView

if TYPE_CHECKING:  # pragma: no cover
    from petseg_tui.screens.prediction import Rendered, Truth

PANES = ("#pane-image", "#pane-mask", "#pane-overlay")
FIRST_STEP_HINT = "pick an image, then r"  # an empty image pane's, or the overlay's when it is alone
OVERLAY_HINT = "image + mask"
_NAME_FLOOR = 8  # cells the model line's run name keeps however narrow (its tail tells runs apart)
PICK_PHOTO = "pick a photo: ⏎ on a file in the tree, or type its path"  # a model, no result yet


def describe_model(run_path: Path | None, no_run_text: str, predictor: Any, loading: bool, checkpoint_note: str,
                   width: int = 0) -> str:
    """The model line: the run, its architecture, epoch and best Dice, or what is happening to it.
    ``predictor`` is the loaded Predictor of ``run_path``, or None. In ``width`` cells (0: no
    limit) the run's name is cut in its middle so the figures after it show: the title bar has it
    whole, and a line cut at its end lost the Dice of a default name at 80 columns."""
    if run_path is None:
        return escape(no_run_text)
    p = predictor
    if p is not None and width > 0:
        rest = describe_model(Path("x"), no_run_text, p, loading, checkpoint_note)
        name = escape(shorten(run_path.name, max(_NAME_FLOOR, width - Content.from_markup(rest).cell_length + 1)))
    else:
        name = escape(run_path.name)
    if p is None:
        if loading:
            return f"[b]{name}[/b]: loading model…"
        return f"[b]{name}[/b]  (model loads on first run)"
    best = getattr(p, "best_dice", None)
    best_s = fmt_metric(best) if isinstance(best, (int, float)) else "—"  # as the runs table shows it
    parts = [
        f"[b]{name}[/b]",
        escape(str(getattr(p, "arch_name", "?"))),
        f"epoch {getattr(p, 'epoch', '?')}",
        f"best Dice {best_s}",
    ]
    text = " · ".join(parts)
    if checkpoint_note:
        text += f"  [$text-warning]({escape(checkpoint_note)})[/]"
    return text


def describe_result(*, threshold: float, tta: bool, outline: bool, image_mode: str, busy: bool,
                    prediction: Any, rendered: Rendered | None, truth: Truth, loading: bool = False,
                    next_step: str = "") -> str:
    """The result lines: the settings the keys change first (one short line, so it shows at every
    width: at 80 columns the result below wraps onto three lines), then the photo, its size, the
    time, the pet fraction and the Dice against its trimap; before any result, what is happening
    (``busy``, ``loading`` the model) or else ``next_step``: it said "running the model …" for the
    ~15 s a model loaded, before any photo was picked, and then nothing."""
    settings = (
        f"thr {threshold:.2f} · TTA {'on' if tta else 'off'} · "
        f"outline {'on' if outline else 'off'} · {image_mode}"
    )
    # said in the info line, not with a loading overlay on the panes: an overlay wipes sixel and
    # kitty pictures, which then have to be sent again (over SSH) when it goes
    doing = "loading the model" if loading else "running the model"
    running = f"  [b $text-warning]{doing} …[/]" if busy else ""
    pred, r = prediction, rendered
    if pred is None or r is None:
        return settings + running + (f"\n{escape(next_step)}" if next_step and not busy else "")
    h, w = pred.image.shape[:2]
    score = ""
    if r.dice is not None:
        score = f" · [b]Dice {fmt_metric(r.dice)}[/b] IoU {fmt_metric(r.iou)} vs its trimap ({truth.scoring})"
    elif truth.note:
        score = f" · [$text-warning]{escape(truth.note)}[/]"
    photo = getattr(r, "photo_size", None)
    downscaled = f" (downscaled from {photo[0]}×{photo[1]})" if photo else ""
    return (
        f"{settings}{running}\n"
        f"[b]{escape(Path(pred.source).name)}[/b] {w}×{h}{downscaled} · {pred.seconds:.2f} s · pet [b]{100 * r.fraction:.1f}%[/b]{score}"
    )


class InferenceResult(Vertical):
    """Model line ``#inf-model``, result line ``#inf-result``, error line ``#inf-error`` and the panes."""

    def compose(self) -> ComposeResult:
        yield Static("", id="inf-model")
        yield Static("", id="inf-result")
        yield Static("", id="inf-error")
        with Horizontal(id="inf-panes"):
            yield ImageView("Image", hint=FIRST_STEP_HINT, id="pane-image")
            yield ImageView("Mask", hint="predicted mask", id="pane-mask")
            yield ImageView("Overlay", hint=OVERLAY_HINT, id="pane-overlay")

    def show_texts(self, model: str, result: str) -> None:
        self.query_one("#inf-model", Static).update(model)
        self.query_one("#inf-result", Static).update(result)

    def show_pictures(self, rendered: Rendered | None) -> None:
        """Draw a rendered prediction in the three panes, or empty them (None)."""
        images = (rendered.image, rendered.mask, rendered.overlay) if rendered is not None else (None, None, None)
        for pane, image in zip(PANES, images):
            self.query_one(pane, ImageView).set_image(image)
