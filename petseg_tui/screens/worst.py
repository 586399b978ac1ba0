"""Worst samples first: a run's lowest-Dice test images as a gallery, worst at the top.

The screen asks the engine (`engine.eval.gallery.worst_gallery`, in a thread worker: it imports torch
and runs the model) for the evaluation and the pictures of the ``n`` worst photos, shown in a 2×2
grid: the photo, its true outline and border band, the prediction, and the errors (missed pet
blue, extra red).
It never touches tensors: records and PIL images come back. The same pictures make up the contact
sheet ``petseg eval --worst N`` writes; ``S`` writes it from here too.

Every failure (no checkpoint yet, no dataset, a broken checkpoint) is shown in the screen in red
and as a notification; the screen stays usable (``r`` retries). The image mode, its ``M`` key and
the error line are `ImageScreen`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.markup import escape
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from engine.config import EVAL_IGNORE_BORDER
from engine.errors import PetsegError, one_line
from engine.eval.gallery import ERRORS_LEGEND
from engine.runs.short_name import shorten
from petseg_tui.screens.base import PetsegFooter
from petseg_tui.screens.image_screen import ImageScreen
from petseg_tui.widgets.header import PetsegHeader
from petseg_tui.widgets.image_view import ImageView

WORST_N = 12  # photos in the gallery (and on a sheet saved with S)
LEGEND = f"truth green, border yellow · prediction red · {ERRORS_LEGEND}"  # two lines at 80 columns
SPLIT = "test"


class ScoringLeft(Exception):
    """Raised from the scoring's progress callback once its worker is cancelled: ends it early."""


class WorstScreen(ImageScreen):
    """The ``n`` lowest-Dice test images of one run, with their truth, prediction and errors.

    Styles: the ``/* --- worst samples screen --- */`` section of ``petseg_tui/app.tcss``.
    """

    HELP = "A run's lowest-Dice test images, worst first (Dice at photo size)."
    ERROR_LINE = "#worst-error"
    ERROR_TITLE = "Worst samples"
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back"),
        Binding("right", "step(1)", "Next", key_display="→", tooltip="Next (better-scoring) image"),
        Binding("left", "step(-1)", "Prev", key_display="←", tooltip="Previous (worse-scoring) image"),
        Binding("b", "toggle_border", "Border", tooltip="Score the trimap's border band or ignore it (re-ranks, no model run)"),
        Binding("t", "toggle_tta", "TTA", tooltip="Flip test-time augmentation on/off (re-runs)"),
        Binding("S", "save_sheet", "Save sheet", tooltip="Write the contact sheet PNG into <run>/eval/"),
        Binding("M", "cycle_mode", "Mode", tooltip="Next image drawing mode this terminal can show (halfcell, sixel, kitty)"),
        Binding("r", "rerun", "Re-run", show=False, tooltip="Evaluate again (e.g. after more training)"),
    ]

    def __init__(self, run_path: Path, n: int = WORST_N) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.n = n
        self.ignore_border = EVAL_IGNORE_BORDER
        self.tta = False
        self.gallery: Any = None  # engine.eval.gallery.WorstGallery once loaded
        self.index = 0
        self._note = ""  # e.g. "no best.pt yet: using last.pt"
        self.status_text = ""
        self.busy = False

    def compose(self) -> ComposeResult:
        yield PetsegHeader()
        yield Static(id="worst-status")
        yield Static(id="worst-error")
        with Horizontal(id="worst-body"):
            yield OptionList(id="worst-list")
            with Vertical(id="worst-main"):
                yield Static(id="worst-caption")
                with Grid(id="worst-panes"):
                    yield ImageView("Photo", hint="the photo", id="worst-photo")
                    yield ImageView("Truth", hint="the trimap's pet outline", id="worst-truth")
                    yield ImageView("Prediction", hint="the predicted mask", id="worst-pred")
                    yield ImageView("Errors", hint="where they differ", id="worst-errors")
        yield PetsegFooter()

    def on_mount(self) -> None:
        self.sub_title = f"worst test images · {self.run_path.name}"
        self.start_image_mode()
        self.query_one("#worst-list", OptionList).focus()
        self._start()

    # ---- engine work (thread) -----------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # keys that cannot act are not offered: a gallery that failed to load (no or a broken
        # checkpoint, no data) fails again under the other border or TTA setting (r retries),
        # and there is no sheet to save
        if action in ("toggle_border", "toggle_tta"):
            return self.busy or self.gallery is not None
        if action == "save_sheet":
            return self.gallery is not None and bool(self.gallery.pictures)
        return True

    def _start(self) -> None:
        self.busy = True
        self.refresh_bindings()
        self.set_error("")
        self.query_one("#worst-panes").loading = True
        self._set_status(f"Scoring the {SPLIT} images of {self.run_path.name} …")
        self._evaluate(self.ignore_border, self.tta)

    @work(thread=True, exclusive=True, group="worst", exit_on_error=False)
    def _evaluate(self, ignore_border: bool, tta: bool) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:  # the screen went, or b / t / r asked again: stop at this batch,
                # not score the rest of the split for no one (minutes of CPU beside the next scoring)
                raise ScoringLeft
            self.app.call_from_thread(self._set_status, f"Scoring {done}/{total} {SPLIT} images …")

        try:
            from engine.runs import checkpoint_for

            checkpoint, note = checkpoint_for(self.run_path)
            from engine.device import leave_a_core_for_the_ui
            from engine.eval.gallery import worst_gallery  # imports torch: only here, off the UI thread

            leave_a_core_for_the_ui()
            gallery = worst_gallery(checkpoint, self.n, split=SPLIT, ignore_border=ignore_border, tta=tta,
                                    on_progress=progress)
        except ScoringLeft:
            return
        except Exception as exc:  # expected (a PetsegError) or a bug or an odd file: never a crash
            self.fail_from_worker(worker, exc, self._failed)
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._loaded, gallery, note)

    @work(thread=True, exclusive=True, group="worst-save", exit_on_error=False)
    def _save(self, gallery: Any) -> None:
        try:
            from engine.eval.gallery import worst_sheet_path
            from engine.exit_writes import whole_write
            from engine.infer.outputs import check_output, made_folder
            from engine.infer.render import save_png

            out = worst_sheet_path(gallery.evaluation.checkpoint, SPLIT)
            # never a file petseg did not write; its folder (the run's eval/) is made as it is written
            check_output(out, inputs=(gallery.evaluation.checkpoint,), create_folder=True)
            sheet = gallery.sheet()
            # the dashboard's end does not wait for this worker: the folder is made only now, and
            # that write is waited for (no empty eval/ nor temp file left by q)
            with whole_write(), made_folder(out.parent):
                save_png(sheet, out)
        except (PetsegError, OSError) as exc:
            self.app.call_from_thread(self.set_error, f"could not save the sheet: {one_line(exc)}", True)
            return
        self.app.call_from_thread(self.notify, str(out), title="Contact sheet saved", timeout=6, markup=False)

    # ---- results (UI thread) ------------------------------------------------------------------
    def _loaded(self, gallery: Any, note: str) -> None:
        self.busy = False
        self.gallery = gallery
        self.refresh_bindings()
        self._note = note
        self.query_one("#worst-panes").loading = False
        ev = gallery.evaluation
        h = ev.headline
        tta = "TTA hflip" if ev.tta else "no TTA"
        name = escape(self.run_path.name)  # a folder "alpha [copy]" as it is, never markup
        text = (f"[b]{name}[/b] · {ev.split}: {ev.n_images} images · Dice [b]{h.dice:.4f}[/b] "
                f"(per-image {h.dice_per_image:.4f}) at {ev.label('photo')}, {tta} · {ev.seconds:.1f} s")
        if note:
            text += f"  [$text-warning]({escape(note)})[/]"
        if ev.skipped:
            text += f"  [$text-warning]{len(ev.skipped)} unreadable skipped[/]"
        if ev.data:
            text += f"\n[dim]{escape(str(ev.data))}[/]"
        self._set_status(text)
        options = self.query_one("#worst-list", OptionList)
        options.clear_options()
        for i, pic in enumerate(gallery.pictures, 1):
            # cut in the middle, as the runs table cuts run names: photos share a breed and differ
            # in their number at the end ("american_bulldog_2…" three times); the caption has it whole.
            # The Dice as the caption and petseg eval --worst give it (4 decimals)
            name = shorten(pic.name, 19)
            options.add_option(Option(Text(f"{i:2d} {name:19s} {pic.dice:.4f}"), id=str(i - 1)))
        if not gallery.pictures:
            options.add_option(Option("no images scored", disabled=True))
            self._show(None)
            return
        self.index = min(self.index, len(gallery.pictures) - 1)
        options.highlighted = self.index
        self._show(self.index)

    def _failed(self, message: str) -> None:
        self.busy = False
        self.refresh_bindings()
        self.query_one("#worst-panes").loading = False
        self._set_status(f"[b]{escape(self.run_path.name)}[/b] · no gallery")
        self.set_error(message, notify=True)

    def _show(self, index: int | None) -> None:
        pics = self.gallery.pictures if self.gallery is not None else []
        caption = self.query_one("#worst-caption", Static)
        views = [self.query_one(f"#{i}", ImageView) for i in ("worst-photo", "worst-truth", "worst-pred", "worst-errors")]
        if index is None or not pics:
            caption.update("")
            for v in views:
                v.set_image(None)
            return
        pic = pics[index]
        caption.update(f"[b]#{index + 1} of {len(pics)}[/b]  {escape(pic.caption)}\n[dim]{LEGEND}[/]")
        for view, image in zip(views, pic.row()):
            view.set_image(image)

    @on(OptionList.OptionHighlighted, "#worst-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None and self.gallery is not None:
            self.index = int(event.option.id)
            self._show(self.index)

    # ---- keys ---------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_step(self, delta: int) -> None:
        if self.gallery is None or not self.gallery.pictures:
            return
        self.index = max(0, min(len(self.gallery.pictures) - 1, self.index + delta))
        self.query_one("#worst-list", OptionList).highlighted = self.index
        self._show(self.index)

    def action_toggle_border(self) -> None:
        self.ignore_border = not self.ignore_border
        self.notify("Border band " + ("ignored" if self.ignore_border else "scored by the mask rule"), timeout=2)
        if self.gallery is None or self.busy:
            self._start()  # nothing (right) to re-rank yet: evaluate under the new setting
        else:
            self._rerank(self.gallery, self.ignore_border)  # both settings' worst were kept

    @work(thread=True, exclusive=True, group="worst", exit_on_error=False)
    def _rerank(self, gallery: Any, ignore_border: bool) -> None:
        """Redraw the gallery under the other border setting (PIL work, no model run)."""
        worker = get_current_worker()
        try:
            regallery = gallery.with_border(ignore_border)
        except Exception as exc:  # never a crash
            self.fail_from_worker(worker, exc, self._failed)
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._loaded, regallery, self._note)

    def action_toggle_tta(self) -> None:
        self.tta = not self.tta
        self.notify(f"TTA {'on' if self.tta else 'off'}", timeout=2)
        self._start()

    def action_rerun(self) -> None:
        self._start()

    def action_save_sheet(self) -> None:
        if self.gallery is None or not self.gallery.pictures:
            self.set_error("Nothing to save yet: the gallery has not loaded.", notify=True)
            return
        self._save(self.gallery)

    # ---- helpers ------------------------------------------------------------------------------
    def _set_status(self, text: str) -> None:
        self.status_text = text
        self.query_one("#worst-status", Static).update(text)
