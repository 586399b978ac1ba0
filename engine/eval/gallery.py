"""Pictures of scored photos: each photo's truth, prediction and errors, and the contact sheet of
the worst ones (``petseg eval --worst N``; the TUI's worst-samples screen shows the same pictures).

Built from `engine.eval.evaluate.ScoredPhoto` (numpy arrays) with numpy and Pillow only; tints and
outlines come from `engine.infer.render`. `worst_gallery` is the one call the TUI makes: it runs the
evaluation (torch, in the caller's thread) and returns records and PIL images, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.config import EVAL_IGNORE_BORDER
from engine.data.masks import BORDER, trimap_to_mask
from engine.infer.render import overlay_image

TRUTH_COLOR = (40, 230, 70)  # green outline: the trimap's pet under the mask rule
BAND_COLOR = (255, 205, 0)  # yellow: the trimap's border band
PRED_COLOR = (255, 64, 64)  # red tint, cyan outline: the prediction, as `petseg infer --overlay`
TP_COLOR = (40, 230, 70)  # pet found: predicted and true
FP_COLOR = (255, 40, 40)  # predicted pet, truly background
FN_COLOR = (40, 120, 255)  # missed pet
# what the errors picture's three tints mean: its column head here and the TUI gallery's caption
ERRORS_LEGEND = "errors: found green, missed blue, extra red"
COLUMNS = ("photo", "truth (green), border band (yellow)", "prediction", ERRORS_LEGEND)
CELL = (264, 200)  # (width, height) box each picture is fitted into on the sheet
# the most photos `petseg eval --worst N` lists and puts on a sheet, a row each (~228 px): 100 are a
# sheet ~23000 px tall; --worst 100000000 wrote one of every photo of the split (1086x45222 px)
WORST_MAX = 100
_PAD, _CAPTION_H, _BG = 6, 22, (24, 24, 28)


@dataclass
class SamplePictures:
    """One scored photo as four pictures of the same size, plus a caption with its scores."""

    name: str
    dice: float  # the headline scoring (photo size, the evaluation's border setting)
    iou: float
    caption: str
    photo: Image.Image
    truth: Image.Image
    prediction: Image.Image
    errors: Image.Image

    def row(self) -> list[Image.Image]:
        return [self.photo, self.truth, self.prediction, self.errors]


def _fit(size: tuple[int, int], box: tuple[int, int] | None) -> tuple[int, int]:
    """(W, H) of a picture of ``size`` (W, H) scaled to fit ``box`` (never enlarged)."""
    if box is None:
        return size
    s = min(box[0] / size[0], box[1] / size[1], 1.0)
    return max(1, round(size[0] * s)), max(1, round(size[1] * s))


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (mask.shape[1], mask.shape[0]) == size:
        return mask.astype(bool)
    return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)) > 127


def sample_pictures(
    photo: Any,
    *,
    mask_rule: str,
    ignore_border: bool = EVAL_IGNORE_BORDER,
    threshold: float = 0.5,
    box: tuple[int, int] | None = None,
) -> SamplePictures:
    """Pictures of one `ScoredPhoto`, downscaled to fit ``box`` (W, H) if given.

    Masks are the scored ones (the trimap under ``mask_rule``, the prediction thresholded at
    photo size) shrunk with nearest-neighbour, so what is drawn is what was counted. With
    ``ignore_border`` the errors picture leaves the band uncoloured (it was not scored).
    """
    rec = photo.record
    h, w = photo.image.shape[:2]
    size = _fit((w, h), box)
    img = np.asarray(Image.fromarray(photo.image).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)) \
        if size != (w, h) else photo.image
    truth = _resize_mask(trimap_to_mask(photo.trimap, mask_rule), size)
    band = _resize_mask(photo.trimap == BORDER, size)
    pred = _resize_mask(photo.mask(threshold), size)
    thick = 2 if max(size) >= 160 else 1

    truth_img = overlay_image(img, band, alpha=0.45, color=BAND_COLOR, outline=False)
    truth_img = overlay_image(np.asarray(truth_img), truth, fill=False, outline_color=TRUTH_COLOR, thickness=thick)
    pred_img = overlay_image(img, pred, alpha=0.45, color=PRED_COLOR, thickness=thick)

    grey = np.asarray(Image.fromarray(img).convert("L"), dtype=np.float32) * 0.55
    err = np.repeat(grey[..., None], 3, axis=2)
    scored = ~band if ignore_border else np.ones_like(band)
    for region, color, alpha in (
        (pred & truth & scored, TP_COLOR, 0.35),
        (pred & ~truth & scored, FP_COLOR, 0.8),
        (~pred & truth & scored, FN_COLOR, 0.8),
    ):
        err[region] = err[region] * (1 - alpha) + np.asarray(color, np.float32) * alpha
    errors_img = Image.fromarray(np.clip(np.rint(err), 0, 255).astype(np.uint8))

    o = rec.overlap("photo", ignore_border)
    caption = f"{rec.name}  Dice {o.dice:.4f}  IoU {o.iou:.4f}  {w}x{h} px"  # as shown (EXIF-turned), 4 decimals as eval prints
    return SamplePictures(rec.name, o.dice, o.iou, caption, Image.fromarray(img), truth_img, pred_img, errors_img)


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)  # scalable (FreeType) on Pillow >= 10.1
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, font: Any) -> None:
    """Text on a dark box, readable over any photo."""
    left, top, right, bottom = draw.textbbox(xy, text, font=font)
    draw.rectangle((left - 3, top - 2, right + 3, bottom + 2), fill=(0, 0, 0))
    draw.text(xy, text, fill=(255, 255, 255), font=font)


def contact_sheet(photos: Sequence[Any], evaluation: Any, cell: tuple[int, int] = CELL) -> Image.Image:
    """One PNG-ready picture: a title, column heads, then one row per photo (worst first):
    photo | truth outline and border band | prediction with its Dice printed on it | errors."""
    font, small = _font(14), _font(12)
    pics = [sample_pictures(p, mask_rule=evaluation.mask_rule, ignore_border=evaluation.ignore_border,
                            threshold=evaluation.threshold, box=cell) for p in photos]
    cols = len(COLUMNS)
    width = _PAD + cols * (cell[0] + _PAD)
    head_h = 3 * _CAPTION_H + _PAD
    row_h = _CAPTION_H + cell[1] + _PAD
    sheet = Image.new("RGB", (width, head_h + row_h * len(pics) + _PAD), _BG)
    draw = ImageDraw.Draw(sheet)
    tta = "TTA hflip" if evaluation.tta else "no TTA"
    title = (f"worst {len(pics)} of {evaluation.n_images} {evaluation.split} images by Dice at "
             f"{evaluation.label('photo')}, {tta}, threshold {evaluation.threshold:g}")
    draw.text((_PAD, _PAD), title, fill=(255, 255, 255), font=font)
    if evaluation.checkpoint is not None:
        draw.text((_PAD, _PAD + _CAPTION_H), str(evaluation.checkpoint), fill=(170, 170, 170), font=small)
    for c, head in enumerate(COLUMNS):
        draw.text((_PAD + c * (cell[0] + _PAD), head_h - _CAPTION_H + 4), head, fill=(200, 200, 200), font=small)
    for r, pic in enumerate(pics):
        y = head_h + r * row_h
        draw.text((_PAD, y + 4), f"#{r + 1}  {pic.caption}", fill=(255, 230, 120), font=font)
        for c, im in enumerate(pic.row()):
            x0 = _PAD + c * (cell[0] + _PAD)
            y0 = y + _CAPTION_H
            sheet.paste(im, (x0 + (cell[0] - im.width) // 2, y0 + (cell[1] - im.height) // 2))
            if c == 2:
                _label(draw, (x0 + (cell[0] - im.width) // 2 + 6, y0 + (cell[1] - im.height) // 2 + 5),
                       f"Dice {pic.dice:.3f}", font)
    return sheet


def worst_sheet_path(checkpoint: str | Path, split: str, data_path: str | None = None) -> Path:
    """Where ``petseg eval --worst`` writes: ``<run>/eval/worst-<split>.png`` for a run's
    checkpoint scored on the run's own data, ``<run>/eval/worst-<split>-on-<data>-<hash>.png``
    when ``data_path`` names other data (the run's own sheet is kept: it was replaced by one of
    photos it never saw, without a word), else ``<checkpoint's folder>/<stem>-worst-<split>.png``."""
    from engine.runs import run_of_checkpoint, run_worst_sheet

    ckpt = Path(checkpoint)
    run = run_of_checkpoint(ckpt)
    if run is not None:
        sheet = run_worst_sheet(run, split)
        other = None if data_path is None else other_data_label(run, data_path)
        return sheet if other is None else sheet.with_name(f"{sheet.stem}-on-{other}{sheet.suffix}")
    return ckpt.parent / f"{ckpt.stem}-worst-{split}.png"


def other_data_label(run: Path, data_path: str) -> str | None:
    """None when ``data_path`` is the data ``run`` trained on (its config.json's ``data_path`` or
    ``data_source``; or when it records neither), else a file-name label of that data: its folder's name and a hash of its
    full path (two folders named alike never share a sheet)."""
    import hashlib
    import re

    from engine.config import GENERATED_DATA
    from engine.data.layout import TORCHVISION_SUBDIR
    from engine.errors import PetsegError
    from engine.runs.layout import read_run_config

    try:
        config = read_run_config(run)
    except PetsegError:  # the evaluation says why in its own line; the sheet keeps its own name
        return None
    source = config.get("data_source")
    recorded = [p for p in (config.get("data_path"), source.get("path") if isinstance(source, dict) else None)
                if isinstance(p, str) and p]
    if not recorded or data_path in recorded:  # nothing recorded: not known to be other data
        return None
    if data_path == GENERATED_DATA:
        return "generated"
    given = Path(data_path).expanduser().resolve()
    try:  # a folder of torchvision's layout is named by the folder above its photos, or by itself
        if any(Path(p).expanduser().resolve() in (given, given / TORCHVISION_SUBDIR) for p in recorded):
            return None
    except OSError:
        pass
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", given.name).strip("._") or "data"
    return f"{name}-{hashlib.sha256(str(given).encode()).hexdigest()[:6]}"


@dataclass
class WorstGallery:
    """The evaluation and its worst photos as pictures (worst first), for display."""

    evaluation: Any  # engine.eval.evaluate.Evaluation
    pictures: list[SamplePictures]
    box: tuple[int, int] | None = None

    @classmethod
    def of(cls, evaluation: Any, box: tuple[int, int] | None = None) -> "WorstGallery":
        """Pictures of ``evaluation.worst`` fitted into ``box``."""
        pics = [sample_pictures(p, mask_rule=evaluation.mask_rule, ignore_border=evaluation.ignore_border,
                                threshold=evaluation.threshold, box=box) for p in evaluation.worst]
        return cls(evaluation, pics, box)

    def with_border(self, ignore_border: bool) -> "WorstGallery":
        """The gallery under the other border setting: re-ranked and redrawn, not re-predicted."""
        return WorstGallery.of(self.evaluation.with_border(ignore_border), self.box)

    def sheet(self) -> Image.Image:
        return contact_sheet(self.evaluation.worst, self.evaluation)


def worst_gallery(
    checkpoint: str | Path,
    n: int = 12,
    *,
    data_path: str | None = None,
    split: str = "test",
    ignore_border: bool = EVAL_IGNORE_BORDER,
    tta: bool = False,
    device: str = "auto",
    box: tuple[int, int] | None = (768, 768),
    on_progress: Callable[[int, int], None] | None = None,
) -> WorstGallery:
    """Evaluate ``checkpoint`` on ``split`` and picture its ``n`` lowest-Dice photos (those of
    the other border setting are kept too: `WorstGallery.with_border` needs no new run).

    Imports torch and runs the model: call it from a worker thread. Raises PetsegError
    subclasses (one line) for a bad checkpoint or missing data.
    """
    from engine.eval.evaluate import evaluate_checkpoint

    ev = evaluate_checkpoint(checkpoint, data_path, split=split, device=device, tta=tta,
                             ignore_border=ignore_border, keep_worst=n, on_progress=on_progress)
    return WorstGallery.of(ev, box)
