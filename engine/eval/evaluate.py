"""Scoring a checkpoint on labelled photos the way a user judges a mask.

``score_photos`` is the one scoring path: each photo is decoded once at full size (stored pixel
orientation, like its trimap), resized to the model's square input exactly as the training
cache does, predicted in batches, and counted against its trimap twice (`ImageScore`):

* at the **photo's own size**: the probabilities are resized back bilinearly (as ``petseg
  infer`` does) and thresholded, then compared with the original trimap: what a user sees;
* at the **training size**: the thresholded S×S prediction against the nearest-resized trimap,
  as validation scores during training (the same decode and resize as the training cache), so
  on the valid split it is the run's ``best_dice`` for ``best.pt``.

Each count is a table of predicted pet/background per trimap value (pet, background, border), so
either border setting can be read off it: the border band (value 3, "not sure" by definition)
scored under the checkpoint's mask rule (pet_border: pet; pet_only: background), or left out
of prediction and truth alike, in which case both mask rules score the same pixels. Dice/IoU come
from ``engine.eval.metrics`` (the one definition); `Evaluation.figures` gives pooled and per-image
means; `Evaluation.headline` is photo size under the chosen border setting.

``evaluate_checkpoint`` runs it on a dataset split (test by default), ``score_sample_images``
on the six real photos bundled in ``engine/demo_assets``; both can keep the worst-scoring photos
with their predictions (`ScoredPhoto`) for pictures (``engine.eval.gallery``), turned as viewers
show each photo once scored (`engine.data.images.load_photo`'s rule).
"""

from __future__ import annotations

import heapq
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine import faults
from engine.config import EVAL_IGNORE_BORDER, threshold_problem
from engine.data.images import exif_orientation, orient_as_shown
from engine.errors import ConfigError, DatasetError, PetsegError, first_line
from engine.eval.scores import (  # noqa: F401  (the records this pipeline fills, importable from here too)
    N_LABELS,
    Confusion,
    confusion_of,
    Evaluation,
    Figures,
    ImageScore,
    Overlap,
    Resolution,
    ScoredPhoto,
    figures_of,
    label_groups,
    scoring_label,
)

SPLITS = ("test", "valid")


# ---------------------------------------------------------------------------------------------
# The scoring path
# ---------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    """A photo decoded and made ready on a decoder thread (numpy only)."""

    index: int
    name: str
    source: Path
    image: np.ndarray  # full size
    trimap: np.ndarray  # full size
    small_image: np.ndarray  # S×S×3, the model's input before normalisation
    small_trimap: np.ndarray  # S×S


def _prepare(index: int, name: str, image_path: Path, trimap_path: Path, size: int) -> _Prepared:
    from engine.data.cache import decode_pair, square_pair

    image, trimap = decode_pair(image_path, trimap_path)
    small_image, small_trimap = square_pair(image, trimap, size)
    return _Prepared(index, name, Path(image_path), image, trimap, small_image, small_trimap)


def _prepared_stream(
    items: Sequence[tuple[str, Path, Path]], size: int, threads: int, window: int,
    on_skip: Callable[[str, str], None],
) -> Iterable[_Prepared]:
    """Decode ``items`` on ``threads`` threads, yielding them in order, at most ``window`` ahead
    (a bounded look-ahead: a large split never sits decoded in memory all at once).

    Left early (a signal's exception raised in the scoring, a failed batch), the decodes still
    queued are dropped and those under way are not waited for: they write nothing, and a
    SIGTERM's exit waited for the whole window (``2 * batch_size`` photos) to be decoded for nothing."""
    pool = ThreadPoolExecutor(max_workers=max(1, threads))
    finished = False
    try:
        pending: deque[tuple[str, Future[_Prepared]]] = deque()
        it = iter(enumerate(items))

        def submit() -> None:
            for i, (name, image_path, trimap_path) in it:
                pending.append((name, pool.submit(_prepare, i, name, image_path, trimap_path, size)))
                return

        for _ in range(max(1, window)):
            submit()
        while pending:
            name, fut = pending.popleft()
            submit()
            try:
                yield fut.result()
            except (PetsegError, ValueError, OSError) as exc:
                on_skip(name, first_line(exc))
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=True)


def score_photos(
    predictor: Any,
    items: Sequence[tuple[str, Path, Path]],
    *,
    tta: bool = False,
    ignore_border: bool = EVAL_IGNORE_BORDER,
    threshold: float = 0.5,
    batch_size: int = 8,
    keep_worst: int = 0,
    threads: int | None = None,
    split: str = "",
    on_progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Score ``items`` ((name, image path, trimap path)) with ``predictor`` (an
    ``engine.infer.inference.Predictor``); see the module docstring for the four scorings.

    ``keep_worst``: keep that many photos with the lowest Dice at photo size, under each border
    setting (at most twice as many photos), with their images and probabilities:
    ``Evaluation.worst`` for the headline setting, ``with_border`` for the other.
    Unreadable pairs are skipped with a reason (``Evaluation.skipped``); ``on_progress(done,
    total)`` is called after each batch.
    """
    import torch

    from engine.infer.inference import preprocess, to_photo_size
    from engine.eval.metrics import label_confusion

    if batch_size < 1:
        raise ConfigError(f"--batch_size {batch_size}: must be >= 1")  # the flag as --help spells it
    if problem := threshold_problem(threshold):
        raise ConfigError(problem)
    start = time.perf_counter()
    size, rule, device = predictor.image_size, predictor.mask_rule, predictor.device
    skipped: list[tuple[str, str]] = []
    records: list[ImageScore] = []
    # per border setting, (-dice, -index, photo): a max-heap of the keep_worst lowest so far
    heaps: dict[bool, list[tuple[float, int, ScoredPhoto]]] = {False: [], True: []}
    total = len(items)
    threads = threads or min(4, os.cpu_count() or 1)

    def keep(rec: ImageScore, prob_small: Any, p: _Prepared) -> None:
        """Put the photo in each border setting's heap of the worst where it ranks."""
        photo: ScoredPhoto | None = None
        for ib, heap in heaps.items():
            key = (-rec.dice("photo", ib), -p.index)
            if len(heap) == keep_worst and key <= heap[0][:2]:
                continue
            if photo is None:
                # recomputed for the few kept photos: the same op on the same input, so the
                # same probabilities that were scored
                prob = to_photo_size(prob_small, (rec.height, rec.width))[0, 0].float().cpu().numpy()
                # scored as stored (the trimap's pixels), pictured as viewers show the photo
                turn = exif_orientation(p.source)
                photo = ScoredPhoto(rec, *(orient_as_shown(a, turn) for a in (p.image, p.trimap, prob)), p.source)
            if len(heap) < keep_worst:
                heapq.heappush(heap, (*key, photo))
            else:
                heapq.heapreplace(heap, (*key, photo))

    def score_batch(batch: list[_Prepared]) -> None:
        faults.maybe_kill("score")  # TEST-ONLY hook (PETSEG_FAULT), a no-op otherwise
        x = torch.cat([preprocess(p.small_image, size) for p in batch])
        probs = predictor.probabilities(x, tta)  # (N, 1, S, S) on the device
        with torch.inference_mode():
            small = torch.from_numpy(np.stack([p.small_trimap for p in batch])).to(device)
            tables = [label_confusion(probs[:, 0], small, N_LABELS, threshold)]  # (N, 2, L)
            for i, p in enumerate(batch):
                full = to_photo_size(probs[i : i + 1], p.trimap.shape)[:, 0]  # (1, H, W)
                trimap = torch.from_numpy(p.trimap).to(device)[None]
                tables.append(label_confusion(full, trimap, N_LABELS, threshold))
            # one device -> host copy per batch
            counts = torch.cat(tables).cpu().tolist()
        train_counts, photo_counts = counts[: len(batch)], counts[len(batch) :]
        for j, p in enumerate(batch):
            h, w = p.trimap.shape
            rec = ImageScore(p.name, h, w, rule, confusion_of(photo_counts[j]), confusion_of(train_counts[j]))
            records.append(rec)
            if keep_worst > 0:
                keep(rec, probs[j : j + 1], p)

    def on_skip(name: str, reason: str) -> None:
        skipped.append((name, reason))

    batch: list[_Prepared] = []
    done = 0
    for prepared in _prepared_stream(items, size, threads, window=2 * batch_size, on_skip=on_skip):
        batch.append(prepared)
        if len(batch) == batch_size:
            score_batch(batch)
            done = len(records) + len(skipped)
            batch = []
            if on_progress is not None:
                on_progress(done, total)
    if batch:
        score_batch(batch)
    if on_progress is not None:
        on_progress(total, total)
    kept = {ib: [e[2] for e in sorted(heap, key=lambda e: (-e[0], -e[1]))] for ib, heap in heaps.items()}
    return Evaluation(
        records=records, split=split, tta=tta, ignore_border=ignore_border, threshold=threshold,
        mask_rule=rule, image_size=size, seconds=time.perf_counter() - start, skipped=skipped,
        trained_size=predictor.trained_size,
        checkpoint=getattr(predictor, "checkpoint_path", None), kept=kept,
    )


# ---------------------------------------------------------------------------------------------
# Entry points: a dataset split, the bundled photos
# ---------------------------------------------------------------------------------------------


def evaluate_checkpoint(
    checkpoint_path: str | Path,
    data_path: str | None = None,
    split: str = "test",
    batch_size: int = 8,
    device: str = "auto",
    tta: bool = False,
    *,
    ignore_border: bool = EVAL_IGNORE_BORDER,
    threshold: float = 0.5,
    keep_worst: int = 0,
    threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    predictor: Any = None,
    ranks: Any = None,
) -> Evaluation | None:
    """Score ``checkpoint_path`` on ``split`` of the dataset at ``data_path`` (`score_photos`).

    ``data_path`` None uses the run's own data folder (from the checkpoint's config), or, if
    that was automatic too, picks the data the same way training does. ``split`` "valid" is the
    validation part of trainval under the run's own ``valid_every``. ``predictor``: an already
    loaded ``Predictor`` of that checkpoint (skips loading). ``ranks`` (a rank of ``petseg eval
    --devices N``, `engine.eval.ranks.RankShare`): score this rank's block of the split; rank 0
    returns every rank's scores joined, the others None. Raises CheckpointError /
    DatasetError / ConfigError (one line).
    """
    from engine.infer.inference import Predictor

    if split not in SPLITS:
        raise ConfigError(f"--split {split}: must be one of {', '.join(SPLITS)}")
    if batch_size < 1:
        raise ConfigError(f"--batch_size {batch_size}: must be >= 1")  # the flag as --help spells it
    start = time.perf_counter()
    if predictor is None:
        predictor = Predictor.from_checkpoint(checkpoint_path, device=device)
    load_seconds = time.perf_counter() - start
    config = predictor.config
    source, layout, names = split_names(data_path, config, split)
    items = [(n, layout.image_path(n), layout.trimap_path(n)) for n in names]
    if ranks is not None:
        items = items[ranks.block(len(items))]
    scored: Evaluation | None = score_photos(
        predictor, items, tta=tta, ignore_border=ignore_border, threshold=threshold, batch_size=batch_size,
        keep_worst=keep_worst, threads=threads, split=split, on_progress=on_progress,
    )
    if ranks is not None and (scored := ranks.gather(scored, keep_worst)) is None:
        return None  # not rank 0: it has given its scores
    result = scored
    if not result.records:
        first = f" (first: {result.skipped[0][0]}: {result.skipped[0][1]})" if result.skipped else ""
        raise DatasetError(source.path, f"none of the {len(names)} {split} images could be read{first}")
    result.data = source.description
    result.own_data = data_path is None or not _recorded_data(config) or _trained_on(layout, config)
    result.warnings = list(predictor.warnings) + list(layout.warnings)  # NaN weights; list duplicates/overlap
    result.checkpoint = Path(checkpoint_path)
    result.load_seconds = load_seconds
    return result


def split_names(data_path: str | Path | None, config: dict[str, Any], split: str) -> tuple[Any, Any, list[str]]:
    """The data source (``data_path``, else the run's own from its ``config``), its layout and
    the names of ``split`` in it; DatasetError (one line) when the split has none. Listing only:
    `petseg eval --devices N` asks it before it starts the ranks."""
    from engine.data.layout import PetLayout
    from engine.data.source import resolve_data_source

    source = resolve_data_source(config.get("data_path") if data_path is None else data_path)
    layout = source.layout or PetLayout(source.path)
    names = layout.test_names() if split == "test" else _valid_names(layout, config)
    if data_path is not None and _unlisted_photos(layout, config):
        # the user's own photos and trimaps, no split lists: every one is a test photo, whichever
        # split is asked (--split valid described the same folder as all trainval)
        source.test_every_pair()
        layout = source.layout
        if split == "valid":  # no photo of it was validated on: the mirror of `_why_no_test`'s line
            raise DatasetError(source.path, "no valid images to evaluate on (no split lists, and this model did "
                                            "not train on the folder's photos: petseg eval --split test scores "
                                            "every one)")
        names = layout.test_names()
    if not names:
        raise DatasetError(source.path, f"no {split} images to evaluate on{_why_no_test(layout, config) if split == 'test' else ''}")
    return source, layout, names


def _unlisted_photos(layout: Any, config: dict[str, Any]) -> bool:
    """A folder of photos and trimaps with no split list at all (annotations/trainval.txt,
    test.txt) that this model did not train on: all of it can be its test."""
    return not layout.has_split_files and not layout.test_list.is_file() and not _trained_on(layout, config)


def _recorded_data(config: dict[str, Any]) -> list[str]:
    """The folders the checkpoint's config records its run trained on: its ``data_source`` and
    ``data_path`` (a run of an older petseg records no data_source; a bare checkpoint neither:
    whether other data is the run's is then not known)."""
    recorded = config.get("data_source")
    paths = [recorded.get("path") if isinstance(recorded, dict) else None, config.get("data_path")]
    return [p for p in paths if isinstance(p, str) and p]


def _trained_on(layout: Any, config: dict[str, Any]) -> bool:
    """Whether the checkpoint's run trained on this folder: the one its config's ``data_source``
    records, or its ``data_path`` (a run of an older petseg records no data_source)."""
    paths = _recorded_data(config)
    from engine.data.layout import TORCHVISION_SUBDIR

    try:
        root = Path(layout.root).resolve()
        # a data_path of torchvision's layout names the folder above the photos' own
        folders = (root, root.parent) if root.name == TORCHVISION_SUBDIR else (root,)
        return any(Path(p).expanduser().resolve() in folders for p in paths)
    except OSError:
        return False


def _why_no_test(layout: Any, config: dict[str, Any]) -> str:
    """Why a dataset folder has no test photos, for the error line: the list is missing or empty
    (one naming photos that are not there is refused by the layout, with its count), or the
    folder has no lists and the model trained on its photos."""
    listed = layout.test_list
    if not listed.is_file() and not layout.has_split_files and _trained_on(layout, config):
        # the command named: the dashboard's worst samples and petseg demo say it too, and have no --split
        return (f" ({listed} is missing, and this model trained on the folder's photos: petseg eval --split "
                "valid scores the ones it held out)")
    if not listed.is_file():
        return f" ({listed} is missing: it lists the photos to score, one name per line)"
    return f" ({listed} names no photo)"


def _valid_names(layout: Any, config: dict[str, Any]) -> list[str]:
    _, valid = layout.train_valid_names(int(config.get("valid_every") or 10))
    return valid


def score_sample_images(
    predictor: Any, *, tta: bool = False, threshold: float = 0.5, ignore_border: bool = EVAL_IGNORE_BORDER
) -> Evaluation:
    """The six real photos in ``engine/demo_assets`` scored by `score_photos` (split "samples").

    ``Evaluation.worst`` holds all of them, lowest headline Dice first, with their images and
    probabilities (for overlays); ``records`` are in name order.
    """
    from engine.data.samples import sample_pairs

    items = [(img.name, img, tri) for img, tri in sample_pairs()]
    return score_photos(
        predictor, items, tta=tta, ignore_border=ignore_border, threshold=threshold,
        keep_worst=len(items), split="samples",
    )
