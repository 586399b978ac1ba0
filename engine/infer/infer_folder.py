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

from engine.data.images import IMAGE_SUFFIXES, load_rgb
from engine.errors import PetsegError, first_line
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
        elif entry.suffix.lower() == ".png" and is_petseg_output(entry):
            plan.skipped.append((entry, "written by petseg (an earlier output), not segmented again"))
        else:
            photos.append(entry)
    same_folder = dst.is_dir() and same_file(src, dst)
    blocked: set[str] = set()
    if same_folder:
        blocked |= {p.name for p in photos}
    if dst.is_dir():
        for entry in dst.iterdir():
            if entry.is_dir() or (not overwrite and not (entry.suffix.lower() == ".png" and is_petseg_output(entry))):
                blocked.add(entry.name)
    names = plan_names([p.name for p in photos], blocked, kind)
    plan.items = [(photo, dst / names[photo.name]) for photo in photos]
    return plan


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


def default_batch_size(device: torch.device, image_size: int) -> int:
    """Photos per forward pass for ``device`` and the model's input size (at least 1)."""
    base = BATCH_AT_256["cuda" if device.type == "cuda" else "cpu"]
    return max(1, round(base * (256 / image_size) ** 2))


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
) -> None:
    """Predict and write every (photo, output) of ``items``; ``on_result`` is called once per
    item, in the calling thread, as outputs are written or photos fail."""
    batch_size = batch_size or default_batch_size(predictor.device, predictor.image_size)
    workers = workers or default_workers()
    window = 2 * batch_size + workers  # photos decoded ahead: bounded memory, a full next batch
    pin = predictor.device.type == "cuda"
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="petseg-infer") as pool:
        queue = iter(items)
        loading: deque[tuple[Path, Path, Future[Any]]] = deque()
        writing: deque[tuple[Path, Path, Future[Path]]] = deque()
        groups: dict[tuple[int, ...], list[tuple[Path, Path, np.ndarray, torch.Tensor, Any]]] = {}

        def load_ahead() -> None:
            while len(loading) < window:
                nxt = next(queue, None)
                if nxt is None:
                    return
                loading.append((nxt[0], nxt[1], pool.submit(_load, predictor, nxt[0])))

        def report_written(wait: bool) -> None:
            # in submission order, so the report reads like the folder listing
            while writing and (wait or writing[0][2].done() or len(writing) > window):
                src, out, fut = writing.popleft()
                try:
                    on_result(ItemResult(src, fut.result()))
                except Exception as exc:
                    on_result(ItemResult(src, None, _item_error(out, exc), stage="write"))

        def run_group(group: list[tuple[Path, Path, np.ndarray, torch.Tensor, Any]]) -> None:
            batch = torch.stack([x for _, _, _, x, _ in group])
            if pin:
                batch = batch.pin_memory()
            probs = photo_probabilities(predictor.probabilities(batch, tta=tta),
                                        [image.shape[:2] for _, _, image, _, _ in group])
            for (src, out, image, _, size), prob in zip(group, probs):
                writing.append((src, out, pool.submit(_write, image, prob, size, out, threshold, overlay)))

        load_ahead()
        while loading:
            src, out, fut = loading.popleft()
            load_ahead()
            try:
                image, x, size = fut.result()
            except Exception as exc:
                on_result(ItemResult(src, None, _item_error(src, exc), stage="read"))
                continue
            group = groups.setdefault(tuple(x.shape), [])
            group.append((src, out, image, x, size))
            if len(group) >= batch_size:
                run_group(groups.pop(tuple(x.shape)))
            report_written(wait=False)
        for group in groups.values():
            run_group(group)
        report_written(wait=True)
