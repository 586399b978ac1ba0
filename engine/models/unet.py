"""The classic U-Net (Ronneberger et al., 2015) with BatchNorm, for one-logit segmentation.

Four encoder levels (widths w, 2w, 4w, 8w) each followed by 2×2 max-pooling, a 16w
bottleneck, and four decoder levels that upsample with a 2×2 transposed convolution,
concatenate the matching encoder features and apply a `DoubleConv`. A 1×1 head maps
to ``out_channels`` logits. Inputs of any size work: they are padded to a multiple of 16
and the output is cropped back, so the logits always match the input's H×W.

``dropout`` p > 0 adds a spatial dropout after each decoder `DoubleConv`, as in the
encoder U-Nets (engine.models.unet_decoder, ``spatial_dropout``); p = 0 adds nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.models.blocks import DoubleConv
from engine.models.padding import crop_to, pad_to_multiple
from engine.models.unet_decoder import spatial_dropout

# Four 2× poolings between the input and the bottleneck.
UNET_STRIDE = 16


class UNet(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        widths = [width, width * 2, width * 4, width * 8]
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.width = width

        self.encoders = nn.ModuleList()
        ch = in_channels
        for w in widths:
            self.encoders.append(DoubleConv(ch, w))
            ch = w
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.bottleneck = DoubleConv(widths[-1], widths[-1] * 2)

        # Decoder runs deepest level first; each `up` halves the channels so that, after
        # concatenation with the skip of the same width, DoubleConv sees 2w → w.
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        ch = widths[-1] * 2
        for w in reversed(widths):
            self.ups.append(nn.ConvTranspose2d(ch, w, kernel_size=2, stride=2))
            self.decoders.append(DoubleConv(w * 2, w))
            ch = w
        self.head = nn.Conv2d(widths[0], out_channels, kernel_size=1)
        self.drop = spatial_dropout(dropout)  # no weights: the keys are the same for any p

    def forward(self, x: Tensor) -> Tensor:
        x, size = pad_to_multiple(x, UNET_STRIDE)
        skips: list[Tensor] = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips)):
            x = up(x)
            x = self.drop(dec(torch.cat([skip, x], dim=1)))
        return crop_to(self.head(x), size)
