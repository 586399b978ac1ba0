"""U-Net decoder on a torchvision ResNet-34 encoder, optionally ImageNet-initialised.

Encoder stages and their strides: stem = conv1+bn1+relu (1/2, 64 ch), maxpool+layer1
(1/4, 64), layer2 (1/8, 128), layer3 (1/16, 256), layer4 (1/32, 512). Each decoder block
upsamples with a stride-2 transposed convolution (then bilinearly resizes to the skip if
the sizes still differ), concatenates the encoder features of that stride and applies a
`DoubleConv`. A last transposed convolution + `DoubleConv` returns to full resolution
before the 1×1 head. Inputs whose sides are not multiples of 32 are padded and cropped.

Normalisation: the project feeds every model images normalised with mean = std = 0.5,
including this one with ImageNet weights (which were trained with ImageNet's per-channel
mean/std). The difference is a small per-channel affine shift of the input, which the
first BatchNorm and fine-tuning absorb; keeping one convention means checkpoints, the
dataset and inference never need to know which encoder they are feeding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.models.blocks import DoubleConv
from engine.models.padding import crop_to, pad_to_multiple

# Five 2× downsamplings (conv1 stride 2, maxpool, layer2, layer3, layer4).
RESNET_STRIDE = 32
ENCODER_CHANNELS = (64, 64, 128, 256, 512)  # stem, layer1, layer2, layer3, layer4
DECODER_CHANNELS = (256, 128, 64, 64)  # one per skip, deepest first
HEAD_CHANNELS = 32


class DecoderBlock(nn.Module):
    """Upsample ×2, concatenate the skip of that resolution, `DoubleConv`."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=2, stride=2)
        self.conv = DoubleConv(out_ch + skip_ch, out_ch)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x)
        if x.shape[-2:] != skip.shape[-2:]:
            # Only reachable if a caller bypasses the padding; keeps the concat well-defined.
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([skip, x], dim=1))


class ResNet34UNet(nn.Module):
    def __init__(self, out_channels: int = 1, pretrained: str | None = None) -> None:
        super().__init__()
        from torchvision.models import resnet34

        backbone = resnet34(weights=None)
        if pretrained:
            from engine.models.pretrained import load_resnet34_weights

            load_resnet34_weights(backbone, pretrained)
        self.out_channels = out_channels

        # avgpool and fc are classification-only and deliberately left out.
        self.encoders = nn.ModuleList(
            [
                nn.Sequential(backbone.conv1, backbone.bn1, backbone.relu),
                nn.Sequential(backbone.maxpool, backbone.layer1),
                backbone.layer2,
                backbone.layer3,
                backbone.layer4,
            ]
        )
        skips = list(reversed(ENCODER_CHANNELS[:-1]))  # layer3, layer2, layer1, stem
        self.decoders = nn.ModuleList()
        ch = ENCODER_CHANNELS[-1]
        for skip_ch, out_ch in zip(skips, DECODER_CHANNELS):
            self.decoders.append(DecoderBlock(ch, skip_ch, out_ch))
            ch = out_ch
        self.final_up = nn.ConvTranspose2d(ch, HEAD_CHANNELS, kernel_size=2, stride=2)
        self.final_conv = DoubleConv(HEAD_CHANNELS, HEAD_CHANNELS)
        self.head = nn.Conv2d(HEAD_CHANNELS, out_channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        x, size = pad_to_multiple(x, RESNET_STRIDE)
        padded_size = x.shape[-2:]
        features: list[Tensor] = []
        for enc in self.encoders:
            x = enc(x)
            features.append(x)
        x = features.pop()  # layer4 output is the bottleneck, not a skip
        for dec, skip in zip(self.decoders, reversed(features)):
            x = dec(x, skip)
        x = self.final_up(x)
        if x.shape[-2:] != padded_size:
            x = F.interpolate(x, size=padded_size, mode="bilinear", align_corners=False)
        x = self.final_conv(x)
        return crop_to(self.head(x), size)
