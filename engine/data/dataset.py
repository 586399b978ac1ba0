"""``PetSegDataset``: decoded split arrays + mask rule + albumentations pipeline -> torch samples.

Each item is ``(image, mask)``: image float32 (3, S, S) normalised by the transform, mask
float32 (1, S, S) with values exactly 0 or 1 (the trimap is turned into a binary mask by
``engine.data.masks.trimap_to_mask`` BEFORE augmentation, and the pipelines interpolate masks
with nearest-neighbour, so no fractional values can appear).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.data.cache import SplitArrays
from engine.data.masks import trimap_to_mask


class PetSegDataset(Dataset):
    """Torch dataset over ``SplitArrays``; ``transform`` is an albumentations Compose."""

    def __init__(
        self,
        arrays: SplitArrays,
        transform: Callable[..., dict[str, Any]],
        mask_rule: str = "pet_border",
    ) -> None:
        trimap_to_mask(np.ones((1, 1), np.uint8), mask_rule)  # fail now on an unknown rule
        self.arrays = arrays
        self.transform = transform
        self.mask_rule = mask_rule

    def __len__(self) -> int:
        return len(self.arrays.names)

    @property
    def names(self) -> list[str]:
        return self.arrays.names

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # np.array copies: cached arrays are read-only memory maps shared between workers.
        image = np.array(self.arrays.images[index])
        mask = trimap_to_mask(np.asarray(self.arrays.trimaps[index]), self.mask_rule)
        out = self.transform(image=image, mask=mask)
        img_t = out["image"]
        mask_t = out["mask"]
        if not isinstance(img_t, torch.Tensor):
            img_t = torch.from_numpy(np.ascontiguousarray(img_t.transpose(2, 0, 1)))
        if not isinstance(mask_t, torch.Tensor):
            mask_t = torch.from_numpy(np.ascontiguousarray(mask_t))
        return img_t.float(), mask_t.float().unsqueeze(0)
