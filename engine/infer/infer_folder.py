"""Segmenting every photo in a folder (``petseg infer --data_path DIR --output_path OUT``).

``plan_folder`` lists the folder and names every output before anything is written
(`plan_names`): each image file gets ``OUT/<stem>.png``; photos whose stems collide
(``a.jpg`` and ``A.png``) get ``<stem>_<suffix>.png``, and a name still taken (by another
photo's output, ignoring case, or by a file petseg did not write) gets ``_mask`` (``_overlay``)
and then a number, so no two photos share an output and no output replaces a photo. PNGs
petseg wrote are earlier outputs and are not segmented again. Other entries are reported as
skipped; hidden files are ignored, subfolders are not searched.

``segment_folder`` runs the model over the plan. A small thread pool decodes and preprocesses
photos ahead of the model (Pillow and OpenCV release the GIL) and renders and writes the PNGs
behind it, so the forward passes do not wait for JPEG decoding or PNG encoding. Preprocessed
photos are grouped by tensor size and each group of ``batch_size`` goes through the model in one
forward pass. An unreadable photo or a failed write is reported for that file and the rest go on.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.data.images import IMAGE_SUFFIXES, JPEG_FORMATS, jpeg_reduction, load_rgb, missing_reason, not_a_file_reason
from engine.errors import PetsegError, first_line, reading_file
from engine.infer.outputs import is_petseg_output, same_file
from engine.infer.inference import (
    DEFAULT_MAX_SIDE,
    Predictor,
    original_size,
    output_picture,
    photo_probabilities,
    save_png,
)

# Images per forward pass at 256 px; scaled by (256 / image_size)² so activations stay about
# the same size at other resolutions. On CPU a batch beyond a few images buys little (the
# convolutions already use every core) and only delays the first output.
BATCH_AT_256 = {"cuda": 32, "cpu": 8}
# Bytes of photos read ahead of the model and not yet written (decoding, decoded, being
# written): the bound on folder inference's memory beyond the model (docs/RELIABILITY.md,
# round three). 400 photos of 2048x1365 used to peak at 7 GB read ahead with a count window.
READ_AHEAD_BYTES = 768 << 20


@dataclass
class FolderPlan:
    """What a folder run will do: (photo, output PNG) pairs, and entries it will not read."""

    items: list[tuple[Path, Path]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


@dataclass
class ItemResult:
    """One photo's outcome: ``output`` written, or ``error`` (one line naming the file) and
    ``stage``: "read" (the photo could not be read or segmented) or "write" (segmented, but its
    output could not be written)."""

    source: Path
    output: Path | None
    error: str | None = None
    stage: str = ""


def plan_folder(src: Path, dst: Path, *, kind: str = "mask", overwrite: bool = False) -> FolderPlan:
    """List ``src`` (not recursively) and name each photo's output in ``dst`` (`plan_names`).

    PNGs that petseg wrote (its ``Software`` chunk, `is_petseg_output`) are earlier outputs, not
    photos: they are skipped, so a second run with the output folder equal to the input folder
    does not segment the first run's masks. ``kind`` ("mask" or "overlay") is the suffix a
    renamed output gets; ``overwrite``: files petseg did not write in ``dst`` may be replaced
    (never a photo itself), otherwise outputs are named around them.
    """
    plan = FolderPlan()
    photos: list[Path] = []
    for entry in sorted(src.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            plan.skipped.append((entry, "a folder (subfolders are not searched)"))
        elif entry.suffix.lower() not in IMAGE_SUFFIXES:
            plan.skipped.append((entry, f"not an image file (expected {', '.join(IMAGE_SUFFIXES)})"))
        elif not entry.exists():  # a link to nothing is no photo: not counted in "N photos in"
            plan.skipped.append((entry, missing_reason(entry)))
        elif special := not_a_file_reason(entry):  # its header read waited on a pipe for good
            plan.skipped.append((entry, special))
        elif entry.suffix.lower() == ".png" and is_petseg_output(entry):
            plan.skipped.append((entry, "written by petseg (an earlier output), not segmented again"))
        else:
            photos.append(entry)
    names = plan_names([p.name for p in photos], taken_names(photos, dst, overwrite=overwrite), kind)
    plan.items = [(photo, dst / names[photo.name]) for photo in photos]
    return plan


def taken_names(photos: list[Path], dst: Path, *, overwrite: bool = False) -> set[str]:
    """The names in ``dst`` an output of ``photos`` must not take: the photos themselves when
    ``dst`` is their folder, subfolders, and (unless ``overwrite``) files petseg did not write."""
    taken: set[str] = set()
    if not dst.is_dir():
        return taken
    taken |= {p.name for p in photos if same_file(p.parent, dst)}
    for entry in dst.iterdir():
        if entry.is_dir() or (not overwrite and not (entry.suffix.lower() == ".png" and is_petseg_output(entry))):
            taken.add(entry.name)
    return taken


def plan_names(photos: list[str], blocked: set[str] = frozenset(), kind: str = "mask") -> dict[str, str]:
    """The output file name of each photo name: ``<stem>.png``; ``<stem>_<suffix>.png`` when
    stems collide (``a.jpg`` and ``A.png``); then, while a name is taken (by another photo's
    output, or by a file in ``blocked`` that must not be replaced), ``<name>_<kind>.png``,
    ``<name>_<kind>_2.png``, …

    Every comparison ignores case (a case-insensitive file system would merge ``a.png`` and
    ``A.png``). The names depend only on the set of photo names and ``blocked``, never on the
    order they come in: a re-run over the same folder plans the same names.
    """
    key = str.casefold
    ordered = sorted(set(photos))
    stems: dict[str, int] = {}
    for name in ordered:
        stem = key(Path(name).stem)
        stems[stem] = stems.get(stem, 0) + 1
    wanted = {}
    for name in ordered:
        p = Path(name)
        wanted[name] = p.stem if stems[key(p.stem)] == 1 else f"{p.stem}_{p.suffix.lstrip('.').lower()}"
    counts: dict[str, int] = {}
    for base in wanted.values():
        counts[key(base)] = counts.get(key(base), 0) + 1
    taken = {key(b) for b in blocked}
    out: dict[str, str] = {}
    # first every name that nobody else wants, then the rest in name order (deterministic)
    for name in ordered:
        base = wanted[name]
        if counts[key(base)] == 1 and key(base + ".png") not in taken:
            out[name] = base + ".png"
            taken.add(key(out[name]))
    for name in ordered:
        if name in out:
            continue
        base = wanted[name]
        for cand in _alternatives(base, kind):
            if key(cand + ".png") not in taken:
                out[name] = cand + ".png"
                taken.add(key(out[name]))
                break
    return out


def _alternatives(base: str, kind: str) -> Iterator[str]:
    yield base
    yield f"{base}_{kind}"
    yield from (f"{base}_{kind}_{i}" for i in itertools.count(2))


def default_batch_size(device: torch.device, image_size: int, photo_bytes: int | None = None,
                       budget: int | None = None) -> int:
    """Photos per forward pass for ``device`` and the model's input size (at least 1); with
    ``photo_bytes`` (`photo_footprint` of the largest photos) no more than fit twice in the
    read-ahead ``budget`` (default `READ_AHEAD_BYTES`), so a batch is never waiting on
    memory that the photos of the batch before it still hold."""
    base = BATCH_AT_256["cuda" if device.type == "cuda" else "cpu"]
    batch = max(1, round(base * (256 / image_size) ** 2))
    if photo_bytes:
        batch = min(batch, max(1, (budget or READ_AHEAD_BYTES) // (2 * photo_bytes)))
    return batch


def _header(path: Path) -> tuple[int, int, str, int] | None:
    """(W, H, format, bytes per pixel) from the file's header, None if unreadable."""
    try:
        with reading_file(path), Image.open(path) as im:  # Pillow reads a JPEG's EXIF as it opens it
            bands = len(im.getbands())
            depth = 2 if im.mode in ("I;16", "I;16B", "I;16L", "I", "F") else 1
            return im.size[0], im.size[1], str(im.format), max(3, bands) * depth
    except Exception:
        return None


def decode_bytes(path: Path) -> int:
    """Memory one photo takes while it is decoded (before it is shrunk to DEFAULT_MAX_SIDE): a
    JPEG decodes at the libjpeg reduction `load_rgb` uses for the cap, anything else in full, then
    once more converted to RGB. From the header only; unreadable: a small figure (it fails fast)."""
    head = _header(path)
    if head is None:
        return 1 << 20
    w, h, fmt, px = head
    if fmt in JPEG_FORMATS:
        scale = jpeg_reduction((w, h), DEFAULT_MAX_SIDE)
        return (w // scale + 1) * (h // scale + 1) * 3 * 2
    return w * h * (px + 3)


def photo_footprint(path: Path, image_size: int, overlay: bool = False) -> int:
    """Memory one photo holds from decoded to written: the RGB at most DEFAULT_MAX_SIDE, the
    model input, the float probabilities and the output picture at the original size."""
    head = _header(path)
    if head is None:
        return 1 << 20
    w, h, _, _ = head
    s = min(1.0, DEFAULT_MAX_SIDE / max(w, h, 1))
    small = int(w * s + 1) * int(h * s + 1)
    return small * (3 + 4) + 3 * image_size * image_size * 4 + w * h * (3 if overlay else 1) * 2


def default_workers() -> int:
    """Loader threads: enough to keep one model fed, never more than the cores."""
    return max(1, min(4, os.cpu_count() or 1))


def _load(predictor: Predictor, path: Path) -> tuple[np.ndarray, torch.Tensor, tuple[int, int] | None]:
    image = load_rgb(path, max_side=DEFAULT_MAX_SIDE)
    return image, predictor.preprocess(image), original_size(path)


def _write(image: np.ndarray, prob: np.ndarray, size: tuple[int, int] | None, out: Path,
           threshold: float, overlay: bool) -> Path:
    return save_png(output_picture(image, prob, threshold, overlay, size), out)


def _item_error(path: Path, exc: BaseException) -> str:
    """One photo's failure, on one line naming the file."""
    if isinstance(exc, PetsegError):
        return first_line(exc)
    return f"{path}: unexpected {type(exc).__name__}: {first_line(exc)}"


def folder_batch_size(predictor: Predictor, photos: int, requested: int | None = None,
                      photo_bytes: int | None = None) -> int:
    """Photos per forward pass of a folder run, as `segment_folder` runs them and ``petseg infer``
    says them: a model exported for a fixed batch runs at that batch, whatever was asked (a
    shorter batch is padded to it: `OnnxPredictor`); else ``requested`` or `default_batch_size`,
    never more than the ``photos`` ("6 photos … batch 57" named a batch that never went through)."""
    if predictor.fixed_batch:
        return predictor.fixed_batch
    return max(1, min(photos, requested or default_batch_size(predictor.device, predictor.image_size, photo_bytes)))


def segment_folder(
    predictor: Predictor,
    items: list[tuple[Path, Path]],
    on_result: Callable[[ItemResult], None],
    *,
    threshold: float = 0.5,
    overlay: bool = False,
    tta: bool = False,
    batch_size: int | None = None,
    workers: int | None = None,
    max_bytes: int | None = None,
) -> None:
    """Predict and write every (photo, output) of ``items``; ``on_result`` is called once per
    item, in the calling thread, as outputs are written or photos fail.

    Memory is bounded by bytes, not by a count of photos: a photo is read ahead only while the
    photos being decoded (`decode_bytes`, from each header) and those decoded but not yet
    written (`photo_footprint`) stay within ``max_bytes`` (default `READ_AHEAD_BYTES`); one
    photo alone always goes, so a photo larger than the budget is decoded by itself. When the
    budget is held by photos waiting for a full batch, they go through as a smaller batch.
    Interrupted (a signal, Ctrl-C, an error), photos not yet started are dropped at once and
    only the decodes and writes already running finish (every write is atomic)."""
    batch_size = folder_batch_size(predictor, len(items), batch_size)
    workers = workers or default_workers()
    budget = max_bytes or READ_AHEAD_BYTES
    window = 2 * batch_size + workers  # a count cap too: never more futures than two batches need
    pin = predictor.device.type == "cuda"
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="petseg-infer")
    try:
        _segment(predictor, items, on_result, pool, threshold=threshold, overlay=overlay, tta=tta,
                 batch_size=batch_size, window=window, budget=budget, pin=pin)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # running items finish (atomic writes), no new ones
        raise
    pool.shutdown(wait=True)


def _segment(predictor: Predictor, items: list[tuple[Path, Path]], on_result: Callable[[ItemResult], None],
             pool: ThreadPoolExecutor, *, threshold: float, overlay: bool, tta: bool, batch_size: int,
             window: int, budget: int, pin: bool) -> None:
    pending = deque(items)
    loading: deque[tuple[Path, Path, int, Future[Any]]] = deque()
    writing: deque[tuple[Path, Path, int, Future[Path]]] = deque()
    groups: dict[tuple[int, ...], list[tuple[Path, Path, np.ndarray, torch.Tensor, Any, int]]] = {}
    held = {"bytes": 0, "taking": 0}  # decoded photos not yet written; the decode being taken

    def load_ahead() -> None:
        while pending and len(loading) < window:
            src, out = pending[0]
            cost = decode_bytes(src)
            in_flight = held["bytes"] + held["taking"] + sum(c for _, _, c, _ in loading)
            if in_flight + cost > budget and in_flight:
                return
            pending.popleft()
            loading.append((src, out, cost, pool.submit(_load, predictor, src)))

    def report_written(wait: bool) -> None:
        # in submission order, so the report reads like the folder listing
        while writing and (wait or writing[0][3].done() or len(writing) > window or held["bytes"] > budget):
            src, out, footprint, fut = writing.popleft()
            try:
                path = fut.result()
            except Exception as exc:
                held["bytes"] -= footprint
                on_result(ItemResult(src, None, _item_error(out, exc), stage="write"))
            else:
                held["bytes"] -= footprint
                on_result(ItemResult(src, path))

    def run_group(group: list[tuple[Path, Path, np.ndarray, torch.Tensor, Any, int]]) -> None:
        batch = torch.stack([x for _, _, _, x, _, _ in group])
        if pin:
            batch = batch.pin_memory()
        probs = photo_probabilities(predictor.probabilities(batch, tta=tta),
                                    [image.shape[:2] for _, _, image, _, _, _ in group])
        for (src, out, image, _, size, footprint), prob in zip(group, probs):
            writing.append((src, out, footprint, pool.submit(_write, image, prob, size, out, threshold, overlay)))

    while pending or loading:
        load_ahead()
        if not loading:
            # the budget is held by photos waiting for a full batch or for their writes: run
            # them as they are and let the writes finish, then read on
            for key in list(groups):
                run_group(groups.pop(key))
            report_written(wait=True)
            continue
        src, out, cost, fut = loading.popleft()
        held["taking"] = cost  # still decoding, perhaps: counted until its result is taken
        load_ahead()
        try:
            image, x, size = fut.result()
        except Exception as exc:
            on_result(ItemResult(src, None, _item_error(src, exc), stage="read"))
            continue
        finally:
            held["taking"] = 0
        footprint = image.nbytes + image.shape[0] * image.shape[1] * 4 + x.nbytes \
            + (size[0] * size[1] if size else image.shape[0] * image.shape[1]) * (3 if overlay else 1) * 2
        held["bytes"] += footprint
        group = groups.setdefault(tuple(x.shape), [])
        group.append((src, out, image, x, size, footprint))
        if len(group) >= batch_size:
            run_group(groups.pop(tuple(x.shape)))
        report_written(wait=False)
    for group in groups.values():
        run_group(group)
    report_written(wait=True)
