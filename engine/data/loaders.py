"""From a ``TrainConfig`` to datasets and reproducible DataLoaders.

``build_datasets``: choose the data (``resolve_data_source``), split the official trainval list
(every ``valid_every``-th image is validation), optionally cap the train split, decode through
the cache, and wrap each split in a ``PetSegDataset`` (train: augmenting pipeline; valid and
test: resize + normalise only).

``make_loader``: seeded shuffling (a private ``torch.Generator``) and per-worker seeding of
numpy, ``random`` and the albumentations pipeline, which otherwise draws from OS entropy and,
in forked workers, would repeat the same augmentations in every worker.

``shutdown_loader``: stop a loader's worker processes and pin-memory thread NOW. Persistent
workers are otherwise left for interpreter teardown, which can hang with pinned memory
(docs/RELIABILITY.md, "Clean exit").
"""

from __future__ import annotations

import functools
import os
import random
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from engine.config import TrainConfig
from engine.data.cache import load_split_arrays
from engine.data.dataset import PetSegDataset
from engine.data.layout import PetLayout
from engine.data.source import DataSource, resolve_data_source, trainval_shortage
from engine.data.transforms import eval_transform, seed_transform, train_transform
from engine.errors import DatasetError
from engine.words import counted

_MAX_SKIP_LINES = 5  # the log shows the first few skipped files, then a count


@dataclass
class DataBundle:
    """Datasets of one run. ``train_names``/``valid_names``: the names actually in the datasets
    (after the cap and after skipping unreadable files), in order."""

    train: PetSegDataset
    valid: PetSegDataset
    test: PetSegDataset | None
    source: DataSource
    skipped: list[tuple[str, str]] = field(default_factory=list)
    train_names: list[str] = field(default_factory=list)
    valid_names: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the data layout's (duplicates, overlap)


def cap_evenly(names: list[str], cap: int | None) -> list[str]:
    """At most ``cap`` names spread evenly over the list (official lists are sorted by breed,
    so taking the first ``cap`` would keep only the first breeds)."""
    if cap is None or cap >= len(names):
        return list(names)
    if cap < 1:
        raise ValueError(f"cap must be >= 1, got {cap}")
    n = len(names)
    return [names[(i * n) // cap] for i in range(cap)]


def build_datasets(config: TrainConfig, log: Callable[[str], None] = print,
                   on_progress: Callable[[int, int], None] | None = None) -> DataBundle:
    """Resolve, split, decode (cached) and wrap the data for ``config``; logs one line per step.

    ``on_progress(done, total)`` is called while a split decodes; an exception it raises (a stop
    request) ends the decode at once, its temp files removed."""
    source = resolve_data_source(config.data_path, download=config.download)
    log(f"data: {source.description}")
    layout = source.layout or PetLayout(source.path)

    # layout.warnings (duplicates, overlap) travel in the bundle: the trainer makes each one a
    # RunWarning event, which the CLI prints and the TUI shows (logging them too doubled them)
    train_names, valid_names = layout.train_valid_names(config.valid_every)
    if not valid_names:
        raise DatasetError(layout.root, trainval_shortage(layout) or "no trainval image to validate on")
    if len(train_names) + len(valid_names) < config.valid_every:
        # the layout lent the last train image to validation (splits.borrow_valid), as eval will
        log(f"data: fewer than {config.valid_every} trainval images; using {valid_names[0]} for validation")
    if config.max_train_images is not None:
        capped = cap_evenly(train_names, config.max_train_images)
        if len(capped) < len(train_names):
            log(f"data: train split capped to {len(capped)} of {len(train_names)} images")
        train_names = capped

    cache_dir = Path(config.cache_dir).expanduser() if config.cache_dir else None
    skipped: list[tuple[str, str]] = []

    def on_skip(name: str, reason: str) -> None:
        skipped.append((name, reason))
        if len(skipped) <= _MAX_SKIP_LINES:
            log(f"data: skipped {name}: {reason}")

    size = config.image_size
    arrays = {}
    splits = {"train": train_names, "valid": valid_names, "test": layout.test_names()}
    for split, names in splits.items():
        if not names:
            continue
        arr = load_split_arrays(layout, names, size, cache_dir, on_skip, on_progress=on_progress)
        how = "from cache" if arr.from_cache else "decoded"
        log(f"data: {split}: {counted(len(arr), 'image')} at {size}×{size} ({how})")
        arrays[split] = arr
    if len(skipped) > _MAX_SKIP_LINES:
        log(f"data: {len(skipped)} images skipped in total (unreadable image or trimap)")
    for split in ("train", "valid"):
        if split not in arrays or len(arrays[split]) == 0:
            raise DatasetError(layout.root, f"no usable {split} images (all {len(splits[split])} were skipped)")

    rule = config.mask_rule
    test = arrays.get("test")
    return DataBundle(
        train=PetSegDataset(arrays["train"], train_transform(size, config.augment_strength), rule),
        valid=PetSegDataset(arrays["valid"], eval_transform(size), rule),
        test=PetSegDataset(test, eval_transform(size), rule) if test is not None and len(test) else None,
        source=source,
        skipped=skipped,
        train_names=list(arrays["train"].names),
        valid_names=list(arrays["valid"].names),
        warnings=list(layout.warnings),
    )


def _seed_transform(dataset: Dataset, seed: int) -> None:
    transform = getattr(dataset, "transform", None)
    if transform is not None:
        seed_transform(transform, seed)


class ShardedSampler(torch.utils.data.Sampler[int]):
    """DistributedSampler's rule on the loader's own generator: every rank draws the same
    permutation each epoch and takes its padded, strided shard (`engine.train.distributed`), so
    the shards are disjoint and a resume restores the order with the generator's state."""

    def __init__(self, n: int, shard: Any, generator: torch.Generator) -> None:
        from engine.train.distributed import real_in_shard, shard_indices

        self.n, self.generator = n, generator
        self.positions = shard_indices(n, shard, pad=True)
        # the padded repeats train (every rank steps equally) but the epoch's figures skip them
        self.counted = real_in_shard(n, shard)

    def __len__(self) -> int:
        return len(self.positions)

    def __iter__(self):  # type: ignore[no-untyped-def]
        order = torch.randperm(self.n, generator=self.generator).tolist()
        return iter([order[p] for p in self.positions])


# how long a loader worker outlives a SIGTERM/SIGHUP: torchrun's own grace between its SIGTERM and
# its SIGKILL of the ranks, time for a rank to stop at its next batch and shut its workers down
TERM_GRACE_SECONDS = 30.0


def _leave_after_grace() -> None:
    """A worker's SIGTERM/SIGHUP: it goes on serving batches for `TERM_GRACE_SECONDS`, then ends
    (exit code 128 + the signal). Ignoring the signal for good would keep a stuck worker alive
    through torch's own last resort (``terminate()`` after a failed join) and hang its rank's exit
    in multiprocessing's join. The signal's handler does nothing: the interpreter writes the
    signal's number to a pipe as it arrives (``set_wakeup_fd``) and a thread started here waits on
    it. A handler that started a timer took threading's locks, and a second signal run inside it
    (a scheduler's SIGTERM and torchrun's, to the same process group) waited on its own lock."""
    import threading
    import time

    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write)
    for sig in _GRACE_SIGNALS:
        signal.signal(sig, _noted)

    def leave() -> None:
        while (signum := os.read(read, 1)[0]) not in _GRACE_SIGNALS:
            pass
        time.sleep(TERM_GRACE_SECONDS)
        os._exit(128 + signum)

    threading.Thread(target=leave, name="leave-after-grace", daemon=True).start()


_GRACE_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _noted(_signum: int, _frame: object) -> None:
    """A Python handler that does nothing: with one, the interpreter writes the signal to its wakeup fd."""


# the longest path of a unix socket (sun_path less its NUL), and how much a worker's socket adds
# to multiprocessing's temp folder: "/pymp-XXXXXXXX/listener-XXXXXXXX"
_SOCKET_PATH_MAX = 107
_LISTENER_SUFFIX = len("/pymp-xxxxxxxx/listener-xxxxxxxx")


@functools.cache
def _prepare_for_workers() -> None:
    """Once per process that starts loader workers, before the first forks: their temp folder and
    an exit handler that ends them."""
    import atexit
    import multiprocessing
    import multiprocessing.util  # its exit handler is registered first, so it runs after ours

    def kill_workers() -> None:
        for child in multiprocessing.active_children():
            if child.daemon:  # torch starts its loader workers daemonic; nothing else of ours is
                child.kill()

    # multiprocessing's own exit handler terminate()s and joins the workers, and each outlives a
    # SIGTERM by TERM_GRACE_SECONDS (`_leave_after_grace`): a second Ctrl-C waited the whole grace
    # after "interrupted". The process is exiting, so they have nothing left to serve.
    atexit.register(kill_workers)
    _make_socket_folder(multiprocessing.util.get_temp_dir)


def _make_socket_folder(get_temp_dir: Callable[[], str]) -> str:
    """multiprocessing's temp folder (``pymp-*``), made by the parent: a worker shares a batch's
    tensors through a unix socket in it. Made by each worker, it was left in the temp folder by a
    worker that was killed; made here, the workers inherit it and the parent's exit removes it.
    A $TMPDIR too long for a socket path (a cluster job's scratch folder) failed every run with
    workers ("AF_UNIX path too long", "DataLoader worker exited unexpectedly"): the folder then
    goes to /tmp."""
    import tempfile

    if len(tempfile.gettempdir()) + _LISTENER_SUFFIX <= _SOCKET_PATH_MAX or not os.path.isdir("/tmp"):
        return get_temp_dir()
    saved, tempfile.tempdir = tempfile.tempdir, "/tmp"  # for this one folder: petseg's others stay in $TMPDIR
    try:
        return get_temp_dir()
    finally:
        tempfile.tempdir = saved


def _worker_init(worker_id: int, rank: int = 0) -> None:
    # SIGTERM/SIGHUP stop a run gracefully in its main process (last.pt, status "stopped"), but
    # torchrun's agent and job schedulers send them to the whole process group: a worker killed by
    # them made the stopping run fail with "DataLoader worker exited unexpectedly". Workers leave
    # when their rank shuts them down, as they do on Ctrl-C, or after a grace (`_leave_after_grace`).
    _leave_after_grace()
    # torch gives each worker base_seed + worker_id, derived from the loader's generator (the
    # same on every data-parallel rank): the rank's seed gives each rank its own augmentations
    from engine.train.distributed import rank_seed

    seed = rank_seed(torch.initial_seed(), rank)
    np.random.seed(seed)
    random.seed(seed)
    info = torch.utils.data.get_worker_info()
    if info is not None:
        _seed_transform(info.dataset, seed)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    workers: int,
    device_type: str,
    seed: int,
    drop_last: bool = False,
    pin_memory: bool | None = None,
    shard: Any = None,
) -> DataLoader:
    """A DataLoader whose order and augmentations depend only on ``seed`` (for a given
    ``workers``): persistent workers when ``workers > 0``, pinned memory on CUDA (or as
    ``pin_memory`` says). Stop it with `shutdown_loader` when done.

    ``shard`` (a data-parallel rank, `engine.train.distributed.DistContext`): the rank's part of
    the split: a padded shard of each epoch's shared permutation when shuffling (training), its
    unpadded shard otherwise (scoring), and augmentations seeded for the rank."""
    from engine.train.distributed import DistContext, rank_seed, shard_indices

    ctx = shard if shard is not None else DistContext()
    generator = torch.Generator()
    generator.manual_seed(seed)
    if workers == 0:
        _seed_transform(dataset, rank_seed(seed, ctx.rank))  # workers seed their own copy in _worker_init
    sampler = None
    if ctx.enabled and shuffle:
        sampler, shuffle = ShardedSampler(len(dataset), ctx, generator), False
    elif ctx.enabled:
        dataset = torch.utils.data.Subset(dataset, shard_indices(len(dataset), ctx, pad=False))
    if workers > 0:
        _prepare_for_workers()
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device_type == "cuda" if pin_memory is None else pin_memory,
        drop_last=drop_last,
        generator=generator,
        worker_init_fn=functools.partial(_worker_init, rank=ctx.rank) if workers > 0 else None,
        persistent_workers=workers > 0,
    )


def counted_images(loader: object) -> int | None:
    """How many of the images ``loader`` yields per epoch, from the first, an epoch's figures
    count: a data-parallel rank's training shard less its padded repeats (`ShardedSampler`,
    `DeviceBatches`); None when every image counts."""
    counted = getattr(loader, "counted", None)
    if counted is None and isinstance(loader, DataLoader):
        counted = getattr(loader.sampler, "counted", None)
    return counted


def shutdown_loader(loader: object) -> None:
    """Stop ``loader``'s worker processes and pin-memory thread now and wait for them (the
    loader stays usable: a later iteration starts new workers). Loaders of our own with a
    ``close`` method (``DeviceBatches``) are closed."""
    close = getattr(loader, "close", None)
    if callable(close) and not isinstance(loader, DataLoader):
        close()
        return
    iterator = getattr(loader, "_iterator", None)  # the persistent workers' iterator, if started
    if iterator is not None:
        # torch's own shutdown path (what __del__ runs), called while the interpreter is intact
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        # torch closes each worker's index queue but leaves its feeder thread to end on its own
        # a moment later; wait for it so "released" means no thread of the loader is left
        for q in getattr(iterator, "_index_queues", ()):
            feeder = getattr(q, "_thread", None)
            if feeder is not None:
                feeder.join(timeout=2.0)
        loader._iterator = None
