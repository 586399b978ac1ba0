"""The inference screen: pick a trained run and an image, see the image, the mask and the overlay.

Nothing here imports torch or ``engine.infer.inference`` at module import: the model is loaded and
run in a thread worker (`_infer`), the first time it is needed, so the app starts fast and the
UI never freezes. The probability map of the last prediction is kept, so changing the
threshold or the outline only re-thresholds it (`_rerender`, also off the UI thread); flip TTA
and a new image re-run the model.

Every expected failure (a non-image file, a truncated photo, a missing, corrupt or foreign
checkpoint) is a `PetsegError` with a one-line message: it is shown in red in the screen and
as a notification, and the screen stays usable.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.widgets import DirectoryTree, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from engine.errors import CheckpointError, PetsegError
from engine.runs import checkpoint_for
from petseg_tui.image_modes import in_multiplexer, next_mode, resolve_image_mode, usable_modes
from petseg_tui.screens.base import PetsegFooter, PetsegScreen
from petseg_tui.widgets.image_picker import ImageTree
from petseg_tui.widgets.image_view import ImageView

THRESHOLD_STEP = 0.05
THRESHOLD_MIN, THRESHOLD_MAX = 0.05, 0.95


# ---------------------------------------------------------------------------------------------
# Engine access: every import of engine.infer.inference (and so torch) happens in a worker thread
# ---------------------------------------------------------------------------------------------


def load_predictor(checkpoint: Path) -> Any:
    """Build the engine's Predictor (imports torch; call from a worker thread only)."""
    from engine.infer.inference import Predictor

    return Predictor.from_checkpoint(checkpoint, device="auto")


def render_prediction(prediction: Any, threshold: float, outline: bool, alpha: float = 0.45,
                      truth: "Truth | None" = None) -> "Rendered":
    """Threshold a cached prediction and build the mask and overlay images (numpy/PIL); with
    the photo's ``truth`` (its trimap) also Dice and IoU, counted as ``petseg eval`` counts."""
    from PIL import Image

    from engine.eval.mask_scores import trimap_overlap

    from engine.infer.render import mask_to_image, overlay_image
    mask = prediction.mask(threshold)
    dice = iou = None
    if truth is not None and truth.trimap is not None:
        scored = trimap_overlap(mask, truth.trimap, truth.rule, truth.ignore_border)
        dice, iou = scored.dice, scored.iou
    return Rendered(
        threshold=threshold,
        outline=outline,
        fraction=float(mask.mean()) if mask.size else 0.0,
        image=Image.fromarray(prediction.image),
        mask=mask_to_image(mask),
        overlay=overlay_image(prediction.image, mask, alpha=alpha, outline=outline),
        dice=dice,
        iou=iou,
    )


@dataclass(frozen=True)
class Truth:
    """The trimap of a photo that has one beside it (Oxford layout), or why it is not used."""

    trimap: Any = None  # (H, W) uint8 values 1/2/3 at the prediction's size, or None
    rule: str = ""  # the model's mask rule
    ignore_border: bool = True  # as petseg eval scores by default
    note: str = ""  # a trimap that could not be used

    @property
    def scoring(self) -> str:
        """Words for how the Dice is counted, as petseg eval says them."""
        from engine.eval.evaluate import scoring_label

        return scoring_label("photo", self.ignore_border, self.rule, 0).removeprefix("photo size, ")


def truth_for(prediction: Any, mask_rule: str) -> Truth:
    """Find and load the trimap of the predicted photo (worker thread: numpy and Pillow)."""
    from engine.config import EVAL_IGNORE_BORDER
    from engine.eval.mask_scores import load_trimap_at, trimap_for_image

    path = trimap_for_image(prediction.source)
    if path is None:
        return Truth()
    try:
        return Truth(load_trimap_at(path, prediction.image.shape[:2]), mask_rule, EVAL_IGNORE_BORDER)
    except PetsegError as exc:
        return Truth(note=f"trimap not used: {exc}")


@dataclass
class Rendered:
    """What the panes show for one prediction at one threshold."""

    threshold: float
    outline: bool
    fraction: float
    image: Any  # PIL images, full prediction resolution
    mask: Any
    overlay: Any
    dice: float | None = None  # against the photo's trimap, when it has one
    iou: float | None = None


def list_runs_with_checkpoints(runs_dir: Path) -> list[tuple[Path, str]]:
    """Runs under ``runs_dir`` that have best.pt or last.pt, with a short description."""
    from engine.runs import CONFIG_FILE, RunStore

    out = []
    for run in RunStore(runs_dir).run_dirs():
        try:
            _, note = checkpoint_for(run)
        except CheckpointError:
            continue
        model = ""
        try:
            model = str(json.loads((run / CONFIG_FILE).read_text(encoding="utf-8")).get("model", ""))
        except (OSError, ValueError, AttributeError):
            pass
        desc = model + (" · last.pt" if note else "")
        out.append((run, desc))
    return out


def default_start_dir() -> Path:
    """The bundled sample photos if present, else the working directory."""
    from engine.data.samples import sample_image_paths

    paths = sample_image_paths()
    return paths[0].parent if paths else Path.cwd()


# ---------------------------------------------------------------------------------------------
# The screen
# ---------------------------------------------------------------------------------------------


class InferenceScreen(PetsegScreen):
    """Run a trained model on an image and show image, mask and overlay.

    Styles: the ``/* --- inference screen --- */`` section of ``petseg_tui/app.tcss``.
    """

    HELP = ("A run's model on a photo: image, mask and overlay (one large overlay below 120 columns), "
            "Dice against the trimap when the photo has one.")
    _THRESHOLD = Binding.Group("Thr", compact=True)
    BINDINGS = [
        Binding("r", "run", "Run", tooltip="Run the model on the selected image"),
        Binding("plus,equals_sign,right_square_bracket", "threshold(1)", "Threshold +0.05", key_display="+",
                tooltip="Raise the mask threshold by 0.05 (re-thresholds, no model re-run)", group=_THRESHOLD),
        Binding("minus,left_square_bracket", "threshold(-1)", "Threshold -0.05", key_display="-",
                tooltip="Lower the mask threshold by 0.05 (re-thresholds, no model re-run)", group=_THRESHOLD),
        Binding("o", "toggle_overlay", "Overlay", tooltip="One large overlay, or image and mask side by side"),
        Binding("u", "toggle_outline", "Outline", tooltip="Toggle the mask outline in the overlay"),
        Binding("t", "toggle_tta", "TTA", tooltip="Toggle horizontal-flip test-time augmentation (re-runs the model)"),
        Binding("s", "save", "Save", tooltip="Save overlay and mask PNGs to <run>/predictions/"),
        Binding("m", "cycle_mode", "Mode", tooltip="Next image drawing mode this terminal can show (halfcell, sixel, kitty)"),
        Binding("escape", "back", "Back", tooltip="Leave the path box, else the inference screen"),
    ]
    NARROW_FOOTER_HIDES = frozenset({"toggle_outline", "cycle_mode"})

    # What the screen shows; each change redraws the two text lines (`_show_texts`).
    run_path: var[Path | None] = var(None, init=False)
    threshold: var[float] = var(0.5, init=False)
    outline: var[bool] = var(True, init=False)
    tta: var[bool] = var(False, init=False)
    image_mode: var[str] = var("halfcell", init=False)
    busy: var[bool] = var(False, init=False)
    model_loading: var[bool] = var(False, init=False)
    prediction: var[Any] = var(None, init=False, always_update=True)  # arrays inside: never compared
    truth: var[Truth] = var(Truth(), init=False, always_update=True)
    rendered: var[Rendered | None] = var(None, init=False, always_update=True)
    no_run_text: var[str] = var("Pick a run, then an image.", init=False)
    error: var[str] = var("", init=False)
    overlay_view: var[bool] = var(False, init=False)  # one large overlay instead of image | mask

    def __init__(
        self,
        run_path: Path | None = None,
        start_dir: Path | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.set_reactive(InferenceScreen.run_path, Path(run_path) if run_path is not None else None)
        self.choose_run = run_path is None
        self.start_dir = Path(start_dir) if start_dir is not None else default_start_dir()
        self.selected_image: Path | None = None
        self.model_runs = 0  # predictions made by the model (a threshold change is not one)
        # set in the model worker thread, read once `model_loading` goes False on the UI thread
        self._predictor: Any = None
        self._predictor_for: Path | None = None
        self._checkpoint_note = ""
        self._lock = threading.Lock()

    # ---- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="inf-body"):
            with Vertical(id="inf-side"):
                if self.choose_run:
                    yield Label("Run", classes="inf-heading")
                    yield OptionList(id="inf-runs")
                yield Label("Image", classes="inf-heading")
                yield ImageTree(self.start_dir, id="inf-tree")
                yield Input(placeholder="or type an image path ⏎", id="inf-path")
            with Vertical(id="inf-main"):
                yield Static("", id="inf-model")
                yield Static("", id="inf-result")
                yield Static("", id="inf-error")
                with Horizontal(id="inf-panes"):
                    yield ImageView("Image", hint="pick an image, then r", id="pane-image")
                    yield ImageView("Mask", hint="predicted mask", id="pane-mask")
                    yield ImageView("Overlay", hint="image + mask", id="pane-overlay")
        yield PetsegFooter()

    def on_mount(self) -> None:
        self.image_mode = resolve_image_mode(self.petseg_app.image_mode)
        if self.choose_run:
            self._fill_run_list()
        else:
            self._start_load_model()
        self._show_texts()
        runs = self.query("#inf-runs").results(OptionList)
        run_list = next(iter(runs), None)
        if run_list is not None and run_list.option_count and not run_list.get_option_at_index(0).disabled:
            run_list.highlighted = 0
            run_list.focus()  # first step: choose the run
        else:
            self.query_one("#inf-tree").focus()

    def watch_width_class(self) -> None:
        super().watch_width_class()
        # below 120 columns one large overlay (two panes of 40 columns are unreadable); `o` splits it
        self.overlay_view = not self.at_least("-wide")

    def watch_overlay_view(self, overlay_view: bool) -> None:
        self.set_class(overlay_view, "-overlay-view")

    def watch_image_mode(self, mode: str) -> None:
        for view in self.query(ImageView):
            view.set_mode(mode)
        self._show_texts()

    def watch_error(self, message: str) -> None:
        err = self.query_one("#inf-error", Static)
        err.update(f"✗ {message}" if message else "")
        err.set_class(bool(message), "-shown")

    def _show_texts(self) -> None:
        if self.is_mounted:
            self.query_one("#inf-model", Static).update(self._describe_model())
            self.query_one("#inf-result", Static).update(self._describe_result())

    watch_run_path = watch_threshold = watch_outline = watch_tta = watch_busy = _show_texts
    watch_model_loading = watch_prediction = watch_truth = watch_rendered = watch_no_run_text = _show_texts

    # ---- run selection --------------------------------------------------------------------
    def _fill_run_list(self) -> None:
        runs_dir = self.petseg_app.runs_dir
        options = self.query_one("#inf-runs", OptionList)
        options.clear_options()
        runs = list_runs_with_checkpoints(runs_dir)
        if not runs:
            options.add_option(Option(f"no trained runs in {runs_dir}/", disabled=True))
            self.no_run_text = f"No run with a checkpoint in {runs_dir}/ — train one first."
            return
        for path, desc in runs:
            options.add_option(Option(f"{path.name}  [dim]{desc}[/]", id=str(path)))
        self.no_run_text = "Pick a run (↑↓ Enter), then an image."

    @on(OptionList.OptionSelected, "#inf-runs")
    def _on_run_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is None:
            return
        path = Path(event.option.id)
        if path == self.run_path and self._predictor is not None:
            return
        self._predictor, self._predictor_for = None, None
        self.run_path = path
        self._set_error("")
        if self.prediction is not None:
            self._start_inference(Path(self.prediction.source))  # same image, new model
        else:
            self._start_load_model()
        self.query_one("#inf-tree").focus()

    def _start_load_model(self) -> None:
        if self.run_path is None:
            return
        self.model_loading = True
        self.busy = True
        self._infer(None, self.tta, self.threshold, self.outline)

    # ---- image selection ------------------------------------------------------------------
    @on(DirectoryTree.FileSelected, "#inf-tree")
    def _on_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.selected_image = Path(event.path)
        self._start_inference(self.selected_image)

    @on(ImageTree.NodeHighlighted, "#inf-tree")
    def _on_node_highlighted(self, event: ImageTree.NodeHighlighted) -> None:
        data = event.node.data
        path = getattr(data, "path", None)
        if path is not None and not Path(path).is_dir():
            self.selected_image = Path(path)

    @on(Input.Submitted, "#inf-path")
    def _on_path_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        path = Path(text).expanduser()
        if path.is_dir():
            self.query_one("#inf-tree", ImageTree).path = path
            self._set_error("")
            return
        self.selected_image = path
        self._start_inference(path)  # focus stays in the box: the next path is typed, not run as keys

    # ---- actions --------------------------------------------------------------------------
    def action_run(self) -> None:
        if self.selected_image is None:
            text = self.query_one("#inf-path", Input).value.strip()
            if text:
                self.selected_image = Path(text).expanduser()
        if self.selected_image is None:
            self._set_error("Pick an image first (file tree or path box).", notify=True)
            return
        self._start_inference(self.selected_image)

    def action_threshold(self, steps: int) -> None:
        new = min(THRESHOLD_MAX, max(THRESHOLD_MIN, round(self.threshold + steps * THRESHOLD_STEP, 2)))
        if new == self.threshold:
            return
        self.threshold = new
        self._start_rerender()

    def action_toggle_outline(self) -> None:
        self.outline = not self.outline
        self._start_rerender()

    def action_toggle_overlay(self) -> None:
        self.overlay_view = not self.overlay_view

    def action_toggle_tta(self) -> None:
        self.tta = not self.tta
        if self.prediction is not None:
            self._start_inference(Path(self.prediction.source))

    def action_cycle_mode(self) -> None:
        modes = usable_modes(self.petseg_app.image_mode)
        if modes == (self.image_mode,):
            where = ("inside tmux/screen, which do not pass sixel or kitty graphics through"
                     if in_multiplexer() else "this terminal answered neither the sixel nor the kitty query")
            self.notify(f"Only {self.image_mode} can be drawn here: {where}. "
                        "Start with --image-mode sixel (or kitty) to force one, e.g. with tmux allow-passthrough on.",
                        title="Image mode", timeout=8)
            return
        self.image_mode = next_mode(self.image_mode, modes)
        if self.image_mode != "halfcell" and in_multiplexer():
            self.notify(
                f"Image mode: {self.image_mode} (forced). tmux/screen drop {self.image_mode} graphics unless "
                "passthrough is on; press m to get back to halfcell if the panes stay empty.",
                severity="warning",
                timeout=6,
            )
        else:
            self.notify(f"Image mode: {self.image_mode}", timeout=2)

    def action_save(self) -> None:
        if self.prediction is None:
            self._set_error("Nothing to save yet: run the model on an image first (r).", notify=True)
            return
        if self.run_path is None:
            self._set_error("No run chosen: cannot tell where to save.", notify=True)
            return
        self._save(self.prediction, self.run_path, self.threshold, self.outline)

    def action_back(self) -> None:
        path_box = self.query_one("#inf-path", Input)
        if path_box.has_focus:
            self.query_one("#inf-tree").focus()  # esc leaves the box first, not the screen
            return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()

    # ---- workers --------------------------------------------------------------------------
    def _start_inference(self, image: Path) -> None:
        if self.run_path is None:
            self._set_error("Pick a run first (list at the top left).", notify=True)
            return
        self.model_loading = self._predictor is None or self._predictor_for != self.run_path
        self.busy = True
        self._infer(image, self.tta, self.threshold, self.outline)

    def _ensure_predictor(self) -> Any:
        """The Predictor for the current run, loading it if needed (worker thread only)."""
        run = self.run_path
        assert run is not None
        with self._lock:
            if self._predictor is not None and self._predictor_for == run:
                return self._predictor
            checkpoint, note = checkpoint_for(run)
            predictor = load_predictor(checkpoint)
            self._predictor, self._predictor_for, self._checkpoint_note = predictor, run, note
            return predictor

    @work(thread=True, exclusive=True, group="inference", exit_on_error=False)
    def _infer(self, image: Path | None, tta: bool, threshold: float, outline: bool) -> None:
        worker = get_current_worker()
        try:
            predictor = self._ensure_predictor()
            if worker.is_cancelled:
                return
            self.app.call_from_thread(self._model_ready, predictor)
            if image is None:
                self.app.call_from_thread(setattr, self, "busy", False)
                return
            prediction = predictor.predict_file(image, tta=tta)
            self.model_runs += 1
            truth = truth_for(prediction, getattr(predictor, "mask_rule", "pet_border"))
            rendered = render_prediction(prediction, threshold, outline, truth=truth)
        except PetsegError as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, str(exc), image is None)
            return
        except Exception as exc:  # a bug or an odd file must not take the app down
            if not worker.is_cancelled:
                where = f"{image}: " if image is not None else ""
                msg = f"{where}{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                self.app.call_from_thread(self._failed, msg, image is None)
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_prediction, prediction, truth, rendered, tta)

    def _start_rerender(self) -> None:
        if self.prediction is not None:
            self._rerender(self.prediction, self.threshold, self.outline, self.truth)

    @work(thread=True, exclusive=True, group="render", exit_on_error=False)
    def _rerender(self, prediction: Any, threshold: float, outline: bool, truth: Any) -> None:
        worker = get_current_worker()
        try:
            rendered = render_prediction(prediction, threshold, outline, truth=truth)
        except Exception as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._set_error, f"could not draw the mask: {exc}", True)
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_rendered, prediction, rendered)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def _save(self, prediction: Any, run_path: Path, threshold: float, outline: bool) -> None:
        try:
            from engine.infer.render import save_png

            rendered = render_prediction(prediction, threshold, outline)
            out_dir = run_path / "predictions"
            stem = Path(prediction.source).stem
            overlay_path, mask_path = out_dir / f"{stem}_overlay.png", out_dir / f"{stem}_mask.png"
            out_dir.mkdir(parents=True, exist_ok=True)
            save_png(rendered.overlay, overlay_path)
            save_png(rendered.mask, mask_path)
        except (PetsegError, OSError) as exc:
            self.app.call_from_thread(self._set_error, f"could not save: {exc}", True)
            return
        self.app.call_from_thread(self._saved, overlay_path, mask_path)

    # ---- results (UI thread) --------------------------------------------------------------
    def _model_ready(self, predictor: Any) -> None:
        self.model_loading = False
        for warning in getattr(predictor, "warnings", ()):
            self.notify(warning, title="Checkpoint", severity="warning", timeout=10)

    def _show_prediction(self, prediction: Any, truth: Truth, rendered: Rendered, tta: bool) -> None:
        self.prediction = prediction
        self.truth = truth
        self._set_error("")
        self._show_rendered(prediction, rendered)
        self.busy = False
        # the threshold/outline may have changed while the model ran
        if (rendered.threshold, rendered.outline) != (self.threshold, self.outline):
            self._start_rerender()

    def _show_rendered(self, prediction: Any, rendered: Rendered) -> None:
        if prediction is not self.prediction:
            return  # a newer prediction replaced it meanwhile
        self.rendered = rendered
        self.query_one("#pane-image", ImageView).set_image(rendered.image)
        self.query_one("#pane-mask", ImageView).set_image(rendered.mask)
        self.query_one("#pane-overlay", ImageView).set_image(rendered.overlay)

    def _failed(self, message: str, loading_model: bool) -> None:
        self.busy = False
        self.model_loading = False
        if loading_model or self._predictor is None:
            self._predictor, self._predictor_for = None, None
        else:
            # the image failed: keep no picture of an earlier file under this file's error
            self.prediction, self.rendered, self.truth = None, None, Truth()
            for pane in ("#pane-image", "#pane-mask", "#pane-overlay"):
                self.query_one(pane, ImageView).set_image(None)
        self._set_error(message, notify=True)

    def _saved(self, overlay_path: Path, mask_path: Path) -> None:
        self._set_error("")
        self.notify(f"{overlay_path}\n{mask_path}", title="Saved overlay and mask", timeout=6)

    # ---- helpers --------------------------------------------------------------------------
    def _set_error(self, message: str, notify: bool = False) -> None:
        self.error = message
        if message and notify:
            self.notify(message, title="Inference", severity="error", timeout=8)

    def _describe_model(self) -> str:
        if self.run_path is None:
            return self.no_run_text
        p = self._predictor
        if p is None or self._predictor_for != self.run_path:
            if self.model_loading:
                return f"[b]{self.run_path.name}[/b]: loading model…"
            return f"[b]{self.run_path.name}[/b]  (model loads on first run)"
        best = getattr(p, "best_dice", None)
        best_s = f"{best:.3f}" if isinstance(best, (int, float)) else "—"
        parts = [
            f"[b]{self.run_path.name}[/b]",
            str(getattr(p, "arch_name", "?")),
            f"epoch {getattr(p, 'epoch', '?')}",
            f"best Dice {best_s}",
        ]
        text = " · ".join(parts)
        if self._checkpoint_note:
            text += f"  [yellow]({self._checkpoint_note})[/]"
        return text

    def _describe_result(self) -> str:
        settings = (
            f"thr {self.threshold:.2f} · TTA {'on' if self.tta else 'off'} · "
            f"outline {'on' if self.outline else 'off'} · {self.image_mode}"
        )
        # said in the info line, not with a loading overlay on the panes: an overlay wipes sixel and
        # kitty pictures, which then have to be sent again (over SSH) when it goes
        busy = "  [b yellow]running the model …[/]" if self.busy else ""
        pred, r = self.prediction, self.rendered
        if pred is None or r is None:
            return settings + busy
        h, w = pred.image.shape[:2]
        score = ""
        if r.dice is not None:
            score = f" · [b]Dice {r.dice:.3f}[/b] IoU {r.iou:.3f} vs its trimap ({self.truth.scoring})"
        elif self.truth.note:
            score = f" · [yellow]{self.truth.note}[/]"
        return (
            f"[b]{Path(pred.source).name}[/b] {w}×{h} · {pred.seconds:.2f} s · "
            f"pet [b]{100 * r.fraction:.1f}%[/b]{score}\n{settings}{busy}"
        )
