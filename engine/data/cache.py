"""Decoded-image cache: each split decoded and resized once, then memory-mapped every epoch.

``load_split_arrays`` returns every image of a split as one uint8 (N, S, S, 3) array and its
trimaps as (N, S, S). Images are resized straight to S x S with area interpolation (aspect
ratio NOT preserved, as in the smp Oxford Pet example); trimaps with nearest-neighbour and kept
as trimap values 1/2/3 (not a binary mask) so that changing the mask rule reuses the cache.
Dataset images are decoded WITHOUT applying EXIF orientation, because the official trimaps (and
torchvision's loader) use the stored pixel orientation (`engine.data.images`, the rule pairing a
photo with its trimap). Unreadable images, bad or missing
trimaps and image/trimap size mismatches are skipped with a reason, never a crash.

On disk (``cache_dir``, default ``<cache root>/decoded``) an entry is three files named by
``cache_key``: ``KEY-images.npy``, ``KEY-trimaps.npy`` and ``KEY.json`` (names kept, skips),
the json written last so an entry without it is ignored; an entry damaged in any way
(truncated, foreign, of the wrong shape, not a regular file) is decoded again and rewritten. The key hashes the format version,
the dataset's absolute path, the names, each file's size and mtime, and S: editing, replacing
or touching a file, or changing the size, gives a new entry. Arrays are decoded straight into
a temporary memory-mapped file that is renamed into place, so a full-size split never has to
fit in RAM twice; if the folder is not writable everything stays in memory. After a new entry is
written, entries of older formats, entries the new one supersedes and, over the cache's budget,
the least recently used ones are removed (`engine.data.cache_evict`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engine.atomic import remove_stale_temp_files
from engine.data.cache_evict import MAX_META_BYTES, evict, mark_used
from engine.data.dirs import cache_root
from engine.data.images import decode_rgb, load_trimap
from engine.data.layout import PetLayout
from engine.errors import PetsegError, first_line

# 2: JPEGs decoded whole (1 decoded photos at least twice S at a reduced libjpeg scale, so
# training saw other pixels than eval and infer: 0.002 Dice at 96 px)
CACHE_FORMAT_VERSION = 2
# temp files of an entry being written: KEY-images[-c].tmp-PID-TID.npy, KEY.json.tmp-PID-TID
_CACHE_TEMP = re.compile(r"^[0-9a-f]+(?:-(?:images|trimaps)(?:-c)?\.tmp-|\.json\.tmp-)(\d+)-\d+(?:\.npy)?$")


@dataclass
class SplitArrays:
    """One split, decoded: ``images`` (N,S,S,3) uint8, ``trimaps`` (N,S,S) uint8 values 1/2/3.

    From the cache the arrays are READ-ONLY memory maps (shared by forked DataLoader workers
    without copying): copy a sample before modifying it.
    """

    images: np.ndarray
    trimaps: np.ndarray
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.names)


def default_cache_dir() -> Path:
    return cache_root() / "decoded"


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return None


def _split_digest(names: list[str]) -> str:
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:32]


def entry_meta(layout: PetLayout, names: list[str], size: int) -> dict[str, object]:
    """What an entry's JSON says it holds besides its names: the format, the dataset folder, the
    split (its names) and the size; `engine.data.cache_evict` compares these."""
    return {"v": CACHE_FORMAT_VERSION, "root": str(Path(layout.root).resolve()), "split": _split_digest(names),
            "size": size}


def cache_key(layout: PetLayout, names: list[str], size: int) -> str:
    """Hex key of a cache entry (see the module docstring for what it covers)."""
    h = hashlib.sha256()
    header = {"v": CACHE_FORMAT_VERSION, "root": str(Path(layout.root).resolve()), "size": size}
    h.update(json.dumps(header, sort_keys=True).encode())
    for name in names:
        entry = [name, _stat(layout.image_path(name)), _stat(layout.trimap_path(name))]
        h.update(json.dumps(entry).encode())
        h.update(b"\n")
    return h.hexdigest()[:32]


def decode_pair(image_path: Path, trimap_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(RGB, trimap) of one dataset pair in stored pixel orientation (no EXIF rotation, like
    the trimaps), or PetsegError/ValueError with a one-line reason if unreadable or their
    sizes differ. Decoded whole, never at a reduced libjpeg scale: training, validation,
    ``petseg eval`` and ``petseg infer`` then give the model the same pixels."""
    trimap = load_trimap(trimap_path)
    rgb, stored = decode_rgb(image_path, exif=False)
    th, tw = trimap.shape
    if stored != (tw, th):
        # both files named: the user must find which of the two is wrong (a truncated trimap's line names it too)
        raise ValueError(
            f"{trimap_path}: trimap is {tw}×{th} but its photo {image_path} is {stored[0]}×{stored[1]}; they must match"
        )
    return rgb, trimap


def square_pair(rgb: np.ndarray, trimap: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(image S,S,3, trimap S,S): the straight resize every split gets (see the module docstring)."""
    img = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    # NEAREST_EXACT samples pixel centres like INTER_AREA does; plain NEAREST shifts by up to
    # half a source pixel, misaligning the mask against the image.
    tri = cv2.resize(trimap, (size, size), interpolation=cv2.INTER_NEAREST_EXACT)
    return img, tri


def _decode_pair(layout: PetLayout, name: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(image S,S,3, trimap S,S) or PetsegError/ValueError with a one-line reason."""
    rgb, trimap = decode_pair(layout.image_path(name), layout.trimap_path(name))
    return square_pair(rgb, trimap, size)


def _regular_file(path: Path) -> bool:
    """True for a regular file (not a FIFO that would hang np.load, not a folder)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _load_entry(folder: Path, key: str, size: int, names: list[str]) -> SplitArrays | None:
    """The cached entry ``key``, or None when it is missing or damaged in any way (then the
    split is decoded again and the entry rewritten): a cache file is untrusted, never a raw
    exception (truncated or foreign arrays, JSON of the wrong shape, a FIFO in its place)."""
    paths = [folder / f"{key}.json", folder / f"{key}-images.npy", folder / f"{key}-trimaps.npy"]
    if not all(_regular_file(p) for p in paths):
        return None
    try:
        if paths[0].stat().st_size > MAX_META_BYTES:
            return None
        meta = json.loads(paths[0].read_text(encoding="utf-8"))
        kept, skipped = meta["names"], meta.get("skipped", [])
        if not (isinstance(kept, list) and isinstance(skipped, list)
                and all(isinstance(n, str) for n in kept)
                and all(isinstance(s, list) and len(s) == 2 and all(isinstance(x, str) for x in s) for s in skipped)):
            return None
        wanted = set(names)
        if len(kept) + len(skipped) != len(names) or not wanted.issuperset(kept) \
                or not wanted.issuperset(s[0] for s in skipped):
            return None  # not this split's entry
        images = np.load(paths[1], mmap_mode="r", allow_pickle=False)
        trimaps = np.load(paths[2], mmap_mode="r", allow_pickle=False)
    except Exception:  # damaged: unreadable, not JSON, wrong shape, truncated .npy, …
        return None
    n = len(kept)
    if images.shape != (n, size, size, 3) or trimaps.shape != (n, size, size) \
            or images.dtype != np.uint8 or trimaps.dtype != np.uint8:
        return None  # damaged or foreign entry: rebuild
    return SplitArrays(images, trimaps, list(kept), [(a, b) for a, b in skipped], from_cache=True)


def _alloc(folder: Path | None, key: str, suffix: str, shape: tuple[int, ...], temps: list[Path] | None = None):
    """(array, temp path or None): a temp .npy memmap in ``folder``, or RAM if that fails.

    The temp path is appended to ``temps`` before the file exists, so an interruption at any
    moment (a signal turned into an exception) knows what to remove."""
    if folder is not None and shape[0] > 0:  # numpy cannot memory-map an empty array
        tmp = folder / f"{key}-{suffix}.tmp-{os.getpid()}-{threading.get_ident()}.npy"
        if temps is not None:
            temps.append(tmp)
        try:
            return np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape), tmp
        except (OSError, ValueError):
            tmp.unlink(missing_ok=True)
    return np.empty(shape, np.uint8), None


def load_split_arrays(
    layout: PetLayout,
    names: list[str],
    size: int,
    cache_dir: Path | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    *,
    threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> SplitArrays:
    """Decoded ``names`` of ``layout`` at ``size`` x ``size``, from the cache if possible.

    ``on_skip(name, reason)`` is called for every skipped pair (also on a cache hit);
    ``on_progress(done, total)`` while decoding. ``threads``: decoder threads (default up to 4).
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    names = list(names)
    key = cache_key(layout, names, size)
    folder: Path | None = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = None  # not writable: memory only

    if folder is not None:
        hit = _load_entry(folder, key, size, names)
        if hit is not None:
            mark_used(folder, key)
            for name, reason in hit.skipped:
                if on_skip is not None:
                    on_skip(name, reason)
            return hit

    if folder is not None:
        remove_stale_temp_files(folder, _CACHE_TEMP)  # an interrupted decode of a dead process
    temps: list[Path] = []
    try:
        result = _decode_split(layout, names, size, folder, key, threads, on_skip, on_progress, temps,
                               entry_meta(layout, names, size))
    except BaseException:
        # an error, Ctrl-C or a SIGTERM turned into an exception (petseg's CLI): no 200 MB debris
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise
    if folder is not None and (folder / f"{key}.json").exists():
        evict(folder, key, entry_meta(layout, names, size), CACHE_FORMAT_VERSION)
    return result


def _decode_split(layout, names, size, folder, key, threads, on_skip, on_progress, temps, meta) -> SplitArrays:
    """Decode into temp memmaps (their paths appended to ``temps``), then rename into the cache."""
    n = len(names)
    images, img_tmp = _alloc(folder, key, "images", (n, size, size, 3), temps)
    trimaps, tri_tmp = _alloc(folder, key, "trimaps", (n, size, size), temps)
    ok = np.zeros(n, bool)
    reasons: dict[int, str] = {}

    def work(i: int) -> None:
        try:
            images[i], trimaps[i] = _decode_pair(layout, names[i], size)
            ok[i] = True
        except (PetsegError, ValueError, OSError, cv2.error) as exc:
            reasons[i] = first_line(exc)

    workers = threads or min(4, os.cpu_count() or 1)
    done = 0
    # PIL's JPEG decoder and cv2.resize release the GIL, so threads give a real speed-up.
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        for _ in pool.map(work, range(n)):
            done += 1
            if on_progress is not None:
                on_progress(done, n)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # interrupted: do not decode the rest first
        raise
    pool.shutdown(wait=True)

    skipped = [(names[i], reasons[i]) for i in sorted(reasons)]
    for name, reason in skipped:
        if on_skip is not None:
            on_skip(name, reason)
    kept = [names[i] for i in range(n) if ok[i]]
    if skipped:
        # Compact: a fresh (smaller) array, on disk if that is where we are writing.
        idx = np.flatnonzero(ok)
        old = (images, img_tmp, trimaps, tri_tmp)
        images, img_tmp = _alloc(folder, key, "images-c", (len(idx), size, size, 3), temps)
        trimaps, tri_tmp = _alloc(folder, key, "trimaps-c", (len(idx), size, size), temps)
        for start in range(0, len(idx), 256):  # chunks: bounded extra memory
            part = idx[start : start + 256]
            images[start : start + len(part)] = old[0][part]
            trimaps[start : start + len(part)] = old[2][part]
        for tmp in (old[1], old[3]):
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        del old

    result = SplitArrays(images, trimaps, kept, skipped, from_cache=False)
    if folder is not None and img_tmp is not None and tri_tmp is not None:
        try:
            images.flush()
            trimaps.flush()
            os.replace(img_tmp, folder / f"{key}-images.npy")
            os.replace(tri_tmp, folder / f"{key}-trimaps.npy")
            meta_tmp = folder / f"{key}.json.tmp-{os.getpid()}-{threading.get_ident()}"
            temps.append(meta_tmp)
            meta_tmp.write_text(json.dumps({**meta, "names": kept, "skipped": skipped}))
            os.replace(meta_tmp, folder / f"{key}.json")  # last: marks the entry complete
        except OSError:
            pass  # the arrays are still valid in memory; only reuse is lost
    else:
        for tmp in (img_tmp, tri_tmp):
            if tmp is not None:
                tmp.unlink(missing_ok=True)
    return result
