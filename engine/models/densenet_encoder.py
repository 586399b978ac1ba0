"""torchvision's DenseNet-121 as a U-Net encoder: five stages, strides 2 to 32.

Stages and their outputs: stem = conv0+norm0+relu0 (1/2, 64 ch), pool0+denseblock1 (1/4, 256),
transition1+denseblock2 (1/8, 512), transition2+denseblock3 (1/16, 1024),
transition3+denseblock4+norm5+ReLU (1/32, 1024; torchvision's classifier applies the same ReLU
after norm5). The classifier is left out. Like `ResNetEncoder`, the encoder is the list of
stages (an ``nn.ModuleList``), with ``channels`` and ``strides`` per stage.
"""

from __future__ import annotations

from torch import nn

DENSENET_CHANNELS = {"densenet121": (64, 256, 512, 1024, 1024)}


class DenseNetEncoder(nn.ModuleList):
    """``arch`` (densenet121) as five stages."""

    strides = (2, 4, 8, 16, 32)

    def __init__(self, arch: str = "densenet121", pretrained: str | None = None) -> None:
        import torchvision.models as tvm

        backbone = getattr(tvm, arch)(weights=None)
        if pretrained:
            from engine.models.pretrained import load_encoder_weights

            load_encoder_weights(backbone, pretrained, arch)
        f = backbone.features
        super().__init__([
            nn.Sequential(f.conv0, f.norm0, f.relu0),
            nn.Sequential(f.pool0, f.denseblock1),
            nn.Sequential(f.transition1, f.denseblock2),
            nn.Sequential(f.transition2, f.denseblock3),
            nn.Sequential(f.transition3, f.denseblock4, f.norm5, nn.ReLU(inplace=True)),
        ])
        self.arch = arch
        self.channels = DENSENET_CHANNELS[arch]
