"""`DeviceBatches`: a split's batches cut from its decoded uint8 arrays and augmented on the device.

The GPU data path (``TrainConfig.augment_on == "device"``, the default on CUDA). No DataLoader
workers: the split's cached uint8 images (N, S, S, 3) and its binary masks live on the device
when they fit (``resident``: a few hundred MB for the whole Oxford-IIIT Pet at 256 px), else in
pinned host memory from which each batch's uint8 rows are gathered and copied asynchronously.
Each batch is then augmented (`BatchAugment`, train split) or only normalised (validation) by
batched torch ops where it is, so the host does no per-sample work at all.

It iterates like the DataLoader it replaces, ``(images, masks)`` float32 (B, 3, S, S) and
(B, 1, S, S) on the device; ``generator`` (the shuffling stream, on the CPU) and
`augment_state` / `set_augment_state` let a checkpoint continue exactly where it stopped.
On a CPU device the same code runs on CPU tensors (the tests use it that way).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from engine.config import AUGMENT_ON
from engine.data.batch_augment import BatchAugment, normalize, to_nchw
from engine.data.cache import SplitArrays
from engine.data.masks import trimap_to_mask

RESIDENT_SHARE = 0.25  # keep a split on the GPU if it takes at most this share of the free memory


def resolve_augment_on(requested: str, device: torch.device) -> str:
    """``auto`` -> ``device`` on CUDA (the host would starve the card), ``cpu`` elsewhere
    (albumentations in DataLoader workers, which overlap a CPU step instead of adding to it)."""
    if requested == "auto":
        return "device" if device.type == "cuda" else "cpu"
    if requested not in AUGMENT_ON:
        raise ValueError(f"augment_on must be one of {', '.join(AUGMENT_ON)}, got {requested!r}")
    return requested


class DeviceBatches:
    """Batches of one split for the device data path (see the module docstring)."""

    def __init__(
        self,
        arrays: SplitArrays,
        mask_rule: str,
        batch_size: int,
        *,
        shuffle: bool,
        device: torch.device,
        seed: int,
        drop_last: bool = False,
        augment: BatchAugment | None = None,
        resident: bool | None = None,
        shard: Any = None,
    ) -> None:
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.augment = augment
        self.mask_rule = mask_rule
        self.n = len(arrays)
        # a data-parallel rank's positions in each epoch's order (engine.train.distributed):
        # padded for training so every rank steps equally, never padded for scoring
        self.positions: list[int] | None = None
        # how many of those, from the first, an epoch's figures count (`loaders.counted_images`):
        # the padded repeats train but are not counted twice; None when all count
        self.counted: int | None = None
        if shard is not None and shard.enabled:
            from engine.train.distributed import real_in_shard, shard_indices

            self.positions = shard_indices(self.n, shard, pad=shuffle)
            self.counted = real_in_shard(self.n, shard) if shuffle else None
        self.generator = torch.Generator()
        self.generator.manual_seed(seed)
        nbytes = int(arrays.images.nbytes) + int(arrays.trimaps.nbytes)
        if resident is None:
            resident = self.device.type == "cuda" and nbytes <= RESIDENT_SHARE * torch.cuda.mem_get_info(self.device)[0]
        self.resident = resident
        self._np_images, self._np_trimaps = arrays.images, arrays.trimaps
        if resident:
            self._images = torch.from_numpy(np.ascontiguousarray(arrays.images)).to(self.device)
            masks = trimap_to_mask(np.asarray(arrays.trimaps), mask_rule)
            self._masks = torch.from_numpy(masks).to(self.device)
        else:
            self._images = self._masks = None

    @property
    def placement(self) -> str:
        """Where the uint8 split lives, in words (recorded in the run's config.json)."""
        if self.resident:
            return f"resident on {self.device}"
        if self.device.type == "cuda":
            return "pinned host memory, copied per batch"
        return "the decoded cache, gathered per batch"

    @property
    def size(self) -> int:
        """Images this loader yields per epoch (a rank's shard in a data-parallel run)."""
        return self.n if self.positions is None else len(self.positions)

    def __len__(self) -> int:
        if self.drop_last:
            return self.size // self.batch_size
        return math.ceil(self.size / self.batch_size)

    # ---- the random streams (for resumable checkpoints) -----------------------------------------
    def augment_state(self) -> torch.Tensor | None:
        return self.augment.get_state() if self.augment is not None else None

    def set_augment_state(self, state: torch.Tensor | None) -> bool:
        """Restore `augment_state`; False (nothing changed) if there is none or it belongs to
        another kind of generator (a run resumed on another device type)."""
        if self.augment is None or state is None:
            return False
        try:
            self.augment.set_state(state)
        except (RuntimeError, TypeError, ValueError):
            return False
        return True

    # ---- batches --------------------------------------------------------------------------------
    def _gather(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images (B, S, S, 3) and 0/1 masks (B, S, S) of ``index``, on the device."""
        if self.resident:
            return self._images.index_select(0, index), self._masks.index_select(0, index)
        rows = index.numpy()
        images = torch.from_numpy(np.take(self._np_images, rows, axis=0))
        masks = torch.from_numpy(trimap_to_mask(np.take(self._np_trimaps, rows, axis=0), self.mask_rule))
        if self.device.type == "cuda":  # pinned so that the copy is asynchronous
            images, masks = images.pin_memory(), masks.pin_memory()
        return images.to(self.device, non_blocking=True), masks.to(self.device, non_blocking=True)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
        if self.positions is not None:
            order = order[torch.tensor(self.positions, dtype=torch.long)]
        if self.resident:
            if self.device.type == "cuda":  # pinned: the copy does not wait for the GPU's queue
                order = order.pin_memory().to(self.device, non_blocking=True)
            else:
                order = order.to(self.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]
            images, masks = self._gather(index)
            if self.augment is not None:
                yield self.augment(images, masks)
            else:
                yield normalize(to_nchw(images)), masks.unsqueeze(1).float()

    def close(self) -> None:
        """Drop the device copies (the trainer calls this when a run ends)."""
        self._images = self._masks = None
