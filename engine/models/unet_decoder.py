"""The U-Net decoder (Ronneberger et al., 2015) over any five-stage encoder with strides 2..32.

Deepest first, each `DecoderBlock` upsamples ×2 with a 2×2 transposed convolution,
concatenates the encoder features of that stride (the skip) and applies a `DoubleConv`; the
encoder's deepest stage (1/32) is the bottleneck, not a skip. After the four blocks the
features are at 1/2; `EncoderUNet` (engine.models.encoder_unet) adds the last upsampling and the
head.

``dropout`` p > 0 puts a spatial dropout (``nn.Dropout2d``: whole feature maps zeroed, the rest
scaled by 1/(1-p), in training only) after each block's `DoubleConv`, so the decoder cannot lean
on a few channels of a skip. p = 0 puts no module there at all (``nn.Identity``): the same
forward, the same random-number stream and the same state_dict keys as before dropout existed.
Dropout has no weights, so a checkpoint is the same whatever p was.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.models.blocks import DoubleConv

DECODER_CHANNELS = (256, 128, 64, 64)  # one per skip, deepest first


def spatial_dropout(p: float) -> nn.Module:
    """``nn.Dropout2d(p)``, or ``nn.Identity`` for p = 0 (no extra random draws)."""
    return nn.Dropout2d(p) if p > 0 else nn.Identity()


class DecoderBlock(nn.Module):
    """Upsample ×2, concatenate the skip of that resolution, `DoubleConv` (then dropout if p > 0)."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=2, stride=2)
        self.conv = DoubleConv(out_ch + skip_ch, out_ch)
        self.drop = spatial_dropout(dropout)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x)
        if x.shape[-2:] != skip.shape[-2:]:
            # Only reachable if a caller bypasses the padding; keeps the concat well-defined.
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.drop(self.conv(torch.cat([skip, x], dim=1)))


class UNetDecoder(nn.ModuleList):
    """The four `DecoderBlock` s for an encoder with ``encoder_channels`` (one per stage,
    shallowest first). A list of blocks, so its checkpoint keys are ``decoders.N.…``."""

    def __init__(self, encoder_channels: tuple[int, ...], decoder_channels: tuple[int, ...] = DECODER_CHANNELS,
                 dropout: float = 0.0) -> None:
        skips = list(reversed(encoder_channels[:-1]))  # deepest skip first
        blocks = []
        ch = encoder_channels[-1]
        for skip_ch, out_ch in zip(skips, decoder_channels):
            blocks.append(DecoderBlock(ch, skip_ch, out_ch, dropout))
            ch = out_ch
        super().__init__(blocks)
        self.out_channels = ch

    def forward(self, features: list[Tensor]) -> Tensor:  # type: ignore[override]
        """Encoder outputs, shallowest first, to decoded features at the shallowest stride."""
        *skips, x = features
        for block, skip in zip(self, reversed(skips)):
            x = block(x, skip)
        return x
