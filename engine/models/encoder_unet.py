"""`EncoderUNet`: a torchvision encoder (resnet18/34/50, densenet121) under the U-Net decoder.

The smp layout (an encoder exposing its stages' channels and strides, a decoder, a head):
the encoder's five stages (engine.models.resnet_encoder, engine.models.densenet_encoder) feed
`UNetDecoder` (engine.models.unet_decoder), which ends at 1/2 resolution; a last transposed
convolution + `DoubleConv` returns to full resolution before the 1×1 head. Inputs whose sides
are not multiples of 32 are padded and the logits cropped back.

The attribute names (``encoders``, ``decoders``, ``final_up``, ``final_conv``, ``head``) are the
seed's ResNet34UNet's, so its checkpoints load unchanged into ``resnet34_unet``.

Normalisation: the project feeds every model images normalised with mean = std = 0.5,
including these with ImageNet weights (trained with ImageNet's per-channel mean/std). The
difference is a small per-channel affine shift of the input, which the first BatchNorm and
fine-tuning absorb; keeping one convention means checkpoints, the dataset and inference never
need to know which encoder they are feeding.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from engine.models.blocks import DoubleConv
from engine.models.padding import crop_to, pad_to_multiple
from engine.models.unet_decoder import UNetDecoder

ENCODER_STRIDE = 32  # five 2× downsamplings in every encoder here
HEAD_CHANNELS = 32
ENCODERS = ("resnet18", "resnet34", "resnet50", "densenet121")


def build_encoder(arch: str, pretrained: str | None = None) -> nn.ModuleList:
    """The encoder ``arch`` (one of ENCODERS), its weights from ``pretrained`` if given."""
    if arch.startswith("resnet"):
        from engine.models.resnet_encoder import ResNetEncoder

        return ResNetEncoder(arch, pretrained)
    if arch.startswith("densenet"):
        from engine.models.densenet_encoder import DenseNetEncoder

        return DenseNetEncoder(arch, pretrained)
    raise ValueError(f"unknown encoder {arch!r} (known: {', '.join(ENCODERS)})")


class EncoderUNet(nn.Module):
    def __init__(self, encoder: str = "resnet34", out_channels: int = 1, pretrained: str | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.encoders = build_encoder(encoder, pretrained)
        self.decoders = UNetDecoder(self.encoders.channels, dropout=dropout)
        self.final_up = nn.ConvTranspose2d(self.decoders.out_channels, HEAD_CHANNELS, kernel_size=2, stride=2)
        self.final_conv = DoubleConv(HEAD_CHANNELS, HEAD_CHANNELS)
        self.head = nn.Conv2d(HEAD_CHANNELS, out_channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        x, size = pad_to_multiple(x, ENCODER_STRIDE)
        padded_size = x.shape[-2:]
        features: list[Tensor] = []
        for stage in self.encoders:
            x = stage(x)
            features.append(x)
        x = self.final_up(self.decoders(features))
        if x.shape[-2:] != padded_size:
            x = F.interpolate(x, size=padded_size, mode="bilinear", align_corners=False)
        x = self.final_conv(x)
        return crop_to(self.head(x), size)
