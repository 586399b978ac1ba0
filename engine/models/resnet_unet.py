"""The seed's model: a U-Net decoder on a torchvision ResNet-34 encoder (``resnet34_unet``).

Now one case of `EncoderUNet` (engine.models.encoder_unet), with the same module names, so its
checkpoints load unchanged; kept under its own name for the code and tests that build it directly.
"""

from __future__ import annotations

from engine.models.encoder_unet import EncoderUNet


class ResNet34UNet(EncoderUNet):
    def __init__(self, out_channels: int = 1, pretrained: str | None = None, dropout: float = 0.0) -> None:
        super().__init__("resnet34", out_channels=out_channels, pretrained=pretrained, dropout=dropout)
