"""Pad an image batch up to a multiple of the encoder's stride, and crop the output back.

Both models downsample by a fixed factor (16 for U-Net, 32 for the ResNet encoder); an
input whose sides are not multiples of it is padded on the bottom/right here and the
logits are cropped to the original size, so callers never have to think about it.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Return ``x`` padded to sides divisible by ``multiple`` and its original (H, W)."""
    h, w = x.shape[-2:]
    pad_h = (-h) % multiple
    pad_w = (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (h, w)
    # Reflect keeps image statistics at the border (zeros would look like a dark frame to
    # BatchNorm'd features); it needs the pad to be smaller than the side, else fall back.
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (h, w)


def crop_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Crop the bottom/right padding added by `pad_to_multiple`."""
    h, w = size
    return x[..., :h, :w]
