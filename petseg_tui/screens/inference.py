"""The inference screen: pick a trained run and an image, see the image, the mask and the overlay.

Nothing here imports torch or ``engine.infer.inference`` at module import: the model is loaded and
run in a thread worker (`_infer`), the first time it is needed, so the app starts fast and the
UI never freezes. The probability map of the last prediction is kept, so changing the
threshold or the outline only re-thresholds it (`_rerender`, also off the UI thread); flip TTA
and a new image re-run the model.

Every expected failure (a non-image file, a truncated photo, a missing, corrupt or foreign
checkpoint) is a `PetsegError` with a one-line message: it is shown in red in the screen and
as a notification, and the screen stays usable.

Around the screen: `petseg_tui.screens.prediction` (what the workers compute),
`petseg_tui.widgets.run_image_picker` (the left column), `petseg_tui.widgets.inference_result`
(the right column and its two text lines), `petseg_tui.screens.image_screen` (image mode, error line).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import var
from textual.widgets import DirectoryTree, Input, OptionList
from textual.worker import get_current_worker

from engine.errors import PetsegError, one_line
from engine.runs import checkpoint_for
from engine.runs.layout import PREDICTION_THRESHOLD, PREDICTIONS_DIR
from petseg_tui.screens.base import PetsegFooter
from petseg_tui.screens.image_screen import ImageScreen
from petseg_tui.screens.prediction import Rendered, Truth, at_photo_size, load_predictor, render_prediction, truth_for
from petseg_tui.widgets.header import PetsegHeader
from petseg_tui.widgets.image_picker import ImageTree
from petseg_tui.widgets.image_view import ImageView
from petseg_tui.widgets.inference_result import (
    FIRST_STEP_HINT,
    OVERLAY_HINT,
    PICK_PHOTO,
    InferenceResult,
    describe_model,
    describe_result,
)
from petseg_tui.widgets.run_image_picker import RunImagePicker, default_start_dir, list_runs_with_checkpoints

THRESHOLD_STEP = 0.05
THRESHOLD_MIN, THRESHOLD_MAX = 0.05, 0.95


class InferenceScreen(ImageScreen):
    """Run a trained model on an image and show image, mask and overlay.

    Styles: the ``/* --- inference screen --- */`` section of ``petseg_tui/app.tcss``.
    """

    HELP = ("A run's model on a photo: image, mask and overlay (one large overlay below 120 columns), "
            "Dice against the trimap when the photo has one.")
    _THRESHOLD = Binding.Group("Thr", compact=True)
    BINDINGS = [
        Binding("r", "run", "Run", tooltip="Run the model on the selected image"),
        Binding("plus,equals_sign", "threshold(1)", "Threshold +0.05", key_display="+",
                tooltip="Raise the mask threshold by 0.05 (re-thresholds, no model re-run)", group=_THRESHOLD),
        Binding("minus", "threshold(-1)", "Threshold -0.05", key_display="-",
                tooltip="Lower the mask threshold by 0.05 (re-thresholds, no model re-run)", group=_THRESHOLD),
        Binding("o", "toggle_overlay", "Overlay", tooltip="One large overlay, or image and mask side by side"),
        Binding("u", "toggle_outline", "Outline", tooltip="Toggle the mask outline in the overlay"),
        Binding("t", "toggle_tta", "TTA", tooltip="Toggle horizontal-flip test-time augmentation (re-runs the model)"),
        Binding("S", "save", "Save", tooltip=f"Save overlay and mask PNGs to <run>/{PREDICTIONS_DIR}/"),
        Binding("M", "cycle_mode", "Mode", tooltip="Next image drawing mode this terminal can show (halfcell, sixel, kitty)"),
        Binding("escape", "back", "Back", tooltip="Leave the path box, else the inference screen"),
    ]
    NARROW_FOOTER_HIDES = frozenset({"toggle_outline", "cycle_mode"})
    ERROR_LINE = "#inf-error"
    ERROR_TITLE = "Inference"

    # What the screen shows; each change redraws the two text lines (`_show_texts`); `image_mode`
    # and `error` are ImageScreen's.
    run_path: var[Path | None] = var(None, init=False)
    threshold: var[float] = var(PREDICTION_THRESHOLD, init=False)
    outline: var[bool] = var(True, init=False)
    tta: var[bool] = var(False, init=False)
    busy: var[bool] = var(False, init=False)
    model_loading: var[bool] = var(False, init=False)
    prediction: var[Any] = var(None, init=False, always_update=True)  # arrays inside: never compared
    prediction_tta = False  # whether `prediction` was made with TTA (`tta` flips before the re-run ends)
    truth: var[Truth] = var(Truth(), init=False, always_update=True)
    rendered: var[Rendered | None] = var(None, init=False, always_update=True)
    no_run_text: var[str] = var("Pick a run, then an image.", init=False)
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
        self._overlay_chosen = False  # the user pressed o: the layout no longer follows the width

    # ---- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield PetsegHeader()  # the title bar every other screen has: which screen, on which run
        with Horizontal(id="inf-body"):
            yield RunImagePicker(self.start_dir, self.choose_run, id="inf-side")
            yield InferenceResult(id="inf-main")
        yield PetsegFooter()

    def on_mount(self) -> None:
        self.watch_run_path()  # the title: the run it was opened on, or none yet
        self.start_image_mode()
        if self.choose_run:
            self.no_run_text = self.query_one(RunImagePicker).show_listing()
            self._list_runs(self.petseg_app.runs_dir)
        else:
            self._start_load_model()
        self._show_texts()
        if self.choose_run:  # the first step, while it says "listing runs …": its runs take the cursor when listed
            self.query_one("#inf-runs").focus()
        else:
            self.query_one(RunImagePicker).focus_first()

    def watch_width_class(self) -> None:
        super().watch_width_class()
        # below 120 columns one large overlay (two panes of 40 columns are unreadable); `o` splits it.
        # A choice made with `o` holds: a widen and narrow again undid it
        if not self._overlay_chosen:
            self.overlay_view = not self.at_least("-wide")

    def on_resize(self) -> None:
        # the model line fits its run name to its width, known once the new size is laid out
        self.call_after_refresh(self._show_texts)

    def watch_overlay_view(self, overlay_view: bool) -> None:
        self.set_class(overlay_view, "-overlay-view")
        # alone, the overlay pane says what to do first, as the image pane does beside it: at 80
        # columns the screen opened on an empty box that said only "image + mask"
        for pane in self.query("#pane-overlay").results(ImageView):
            pane.set_hint(FIRST_STEP_HINT if overlay_view else OVERLAY_HINT)

    def watch_image_mode(self, mode: str) -> None:
        super().watch_image_mode(mode)
        self._show_texts()

    def _show_texts(self) -> None:
        # composed is enough: `is_mounted` only turns true after on_mount, and the lines on_mount
        # sets (the run list's "Pick a run", "loading model…") must show at once, not at the next change
        results = self.query(InferenceResult)
        if not results:
            return
        ready = self._predictor if self._predictor_for == self.run_path else None
        width = self.query_one("#inf-model").content_size.width
        model = describe_model(self.run_path, self.no_run_text, ready, self.model_loading, self._checkpoint_note,
                               width)
        result = describe_result(threshold=self.threshold, tta=self.tta, outline=self.outline,
                                 image_mode=self.image_mode, busy=self.busy, loading=self.model_loading,
                                 prediction=self.prediction, rendered=self.rendered, truth=self.truth,
                                 next_step=PICK_PHOTO if self.run_path is not None else "")
        results.first().show_texts(model, result)

    def watch_run_path(self) -> None:
        self.sub_title = f"inference · {self.run_path.name}" if self.run_path is not None else "inference"
        self._show_texts()
        self.refresh_bindings()  # S needs a run to save next to

    def watch_prediction(self) -> None:
        self._show_texts()
        self.refresh_bindings()  # S: offered once there is a result to save

    watch_threshold = watch_outline = watch_tta = watch_busy = _show_texts
    watch_model_loading = watch_truth = watch_rendered = watch_no_run_text = _show_texts

    # ---- run selection --------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="list-runs", exit_on_error=False)
    def _list_runs(self, runs_dir: Path) -> None:
        """The runs with a checkpoint, off the UI thread: each run's checkpoint folder and config are
        read (some 250 ms for 500 runs on a cold disk, the screen frozen meanwhile)."""
        worker = get_current_worker()
        try:
            runs = list_runs_with_checkpoints(runs_dir)
        except Exception as exc:  # an unreadable runs folder: said on the error line, never a crash
            self.fail_from_worker(worker, exc, self._runs_listed, runs_dir, [],
                                  where="cannot list the runs: ")  # the line names the folder
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._runs_listed, "", runs_dir, runs)

    def _runs_listed(self, error: str, runs_dir: Path, runs: list[tuple[Path, str]]) -> None:
        if not self.is_attached:  # left while the runs were listed
            return
        picker = self.query_one(RunImagePicker)
        # the list takes the focus it had while it said "listing runs …", not the focus the user moved on
        first = self.focused is None or self.focused.id == "inf-runs"
        self.no_run_text = picker.show_runs(runs_dir, runs)
        if error:
            self.set_error(error)
        if first:
            picker.focus_first()

    @on(OptionList.OptionSelected, "#inf-runs")
    def _on_run_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is None:
            return
        path = Path(event.option.id)
        if path == self.run_path and self._predictor is not None:
            return
        self._predictor, self._predictor_for = None, None
        self.run_path = path
        self.set_error("")
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
        # selected: the next path typed replaces this one (typed after it, it was appended:
        # "cat.jpg/photos/dog.jpg: no such file"); Enter again still re-runs it
        event.input.select_all()
        path = Path(text).expanduser()
        if path.is_dir():
            self.query_one("#inf-tree", ImageTree).path = path
            self.set_error("")
            return
        self.selected_image = path
        self._start_inference(path)  # focus stays in the box: the next path is typed, not run as keys

    # ---- actions --------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The path box types every printable key: while it has focus, `+` is a "+" in a path, not
        # the threshold, so the footer offers only Esc. Textual hides most such keys by itself,
        # but not `+` and `-` (it finds no character for the key names "plus" and "minus").
        if action != "back" and self.is_mounted and self.query_one("#inf-path", Input).has_focus:
            return False
        if action == "save" and (self.prediction is None or self.run_path is None):
            return False  # nothing to save yet (or nowhere): S is not offered, as no key that cannot act is
        return True

    def action_run(self) -> None:
        if self.selected_image is None:
            text = self.query_one("#inf-path", Input).value.strip()
            if text:
                self.selected_image = Path(text).expanduser()
        if self.selected_image is None:
            self.set_error("Pick an image first (file tree or path box).", notify=True)
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
        self._overlay_chosen = True
        self.overlay_view = not self.overlay_view

    def action_toggle_tta(self) -> None:
        self.tta = not self.tta
        if self.prediction is not None:
            self._start_inference(Path(self.prediction.source))

    def action_save(self) -> None:
        if self.prediction is None:
            self.set_error("Nothing to save yet: run the model on an image first (r).", notify=True)
            return
        if self.run_path is None:
            self.set_error("No run chosen: cannot tell where to save.", notify=True)
            return
        self._save(self.prediction, self.run_path, self.threshold, self.outline, self.prediction_tta)

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
            self.set_error("Pick a run first (list at the top left).", notify=True)
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
            from engine.eval.mask_scores import trimap_for_image

            # a dataset photo is predicted from its trimap's (stored) pixels, as petseg eval does,
            # then shown upright; any other photo is predicted upright (engine.data.images.load_photo)
            prediction = predictor.predict_file(image, tta=tta, with_trimap=trimap_for_image(image) is not None)
            self.model_runs += 1
            truth = truth_for(prediction, getattr(predictor, "mask_rule", "pet_border"))
            rendered = render_prediction(prediction, threshold, outline, truth=truth)
        except Exception as exc:  # expected (a PetsegError names its file) or a bug or an odd file: never a crash
            named = image is None or isinstance(exc, PetsegError) or str(image) in str(exc)
            where = "" if named else f"{image}: "  # say which file, once
            self.fail_from_worker(worker, exc, self._failed, image is None, where=where)
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
            self.fail_from_worker(worker, exc, self.set_error, True, where="could not draw the mask: ")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_rendered, prediction, rendered)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def _save(self, prediction: Any, run_path: Path, threshold: float, outline: bool, tta: bool) -> None:
        try:
            from engine.exit_writes import whole_write
            from engine.infer.outputs import made_folder
            from engine.infer.render import save_png
            from engine.runs.layout import prediction_path

            rendered = render_prediction(prediction, threshold, outline)
            stem = Path(prediction.source).stem
            overlay_path, mask_path = (prediction_path(run_path, stem, kind, threshold, tta) for kind in ("overlay", "mask"))
            # at the photo's own size, as petseg infer writes them (a huge photo was predicted downscaled)
            size = rendered.photo_size
            overlay, mask = at_photo_size(rendered.overlay, size, mask=False), at_photo_size(rendered.mask, size, mask=True)
            # the dashboard's end does not wait for this worker: the folder is made only now, with the
            # pair, and that write is waited for (no empty predictions/, temp file nor half a pair)
            with whole_write(), made_folder(overlay_path.parent):
                replaced = overlay_path.exists() or mask_path.exists()  # said, for the earlier pair is gone
                save_png(overlay, overlay_path)
                save_png(mask, mask_path)
        except (PetsegError, OSError, MemoryError) as exc:
            self.app.call_from_thread(self.set_error, f"could not save: {one_line(exc)}", True)
            return
        self.app.call_from_thread(self._saved, overlay_path, mask_path, size or rendered.mask.size, replaced)

    # ---- results (UI thread) --------------------------------------------------------------
    def _model_ready(self, predictor: Any) -> None:
        self.model_loading = False
        for warning in getattr(predictor, "warnings", ()):
            self.notify(warning, title="Checkpoint", severity="warning", timeout=10, markup=False)

    def _show_prediction(self, prediction: Any, truth: Truth, rendered: Rendered, tta: bool) -> None:
        self.prediction, self.prediction_tta = prediction, tta
        self.truth = truth
        self.set_error("")
        self._show_rendered(prediction, rendered)
        self.busy = False
        # the threshold/outline may have changed while the model ran
        if (rendered.threshold, rendered.outline) != (self.threshold, self.outline):
            self._start_rerender()

    def _show_rendered(self, prediction: Any, rendered: Rendered) -> None:
        if prediction is not self.prediction:
            return  # a newer prediction replaced it meanwhile
        self.rendered = rendered
        self.query_one(InferenceResult).show_pictures(rendered)

    def _failed(self, message: str, loading_model: bool) -> None:
        self.busy = False
        self.model_loading = False
        if loading_model or self._predictor is None:
            self._predictor, self._predictor_for = None, None
        else:
            # the image failed: keep no picture of an earlier file under this file's error
            self.prediction, self.rendered, self.truth = None, None, Truth()
            self.query_one(InferenceResult).show_pictures(None)
        self.set_error(message, notify=True)

    def _saved(self, overlay_path: Path, mask_path: Path, size: tuple[int, int], replaced: bool) -> None:
        self.set_error("")
        title = f"Saved overlay and mask ({size[0]}×{size[1]})"
        if replaced:
            title += ", replacing the earlier pair"
        self.notify(f"{overlay_path}\n{mask_path}", title=title, timeout=6, markup=False)
