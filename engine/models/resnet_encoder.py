"""A torchvision ResNet (18, 34 or 50) as a U-Net encoder: five stages, strides 2 to 32.

Stages and their outputs (resnet18/34 | resnet50 channels): stem = conv1+bn1+relu (1/2, 64 | 64),
maxpool+layer1 (1/4, 64 | 256), layer2 (1/8, 128 | 512), layer3 (1/16, 256 | 1024), layer4
(1/32, 512 | 2048). avgpool and fc are classification-only and left out. The encoder is the
list of stages itself (an ``nn.ModuleList``), so the seed's resnet34_unet checkpoint keys
(``encoders.0.0.weight``, …) are unchanged.
"""

from __future__ import annotations

from torch import nn

RESNET_CHANNELS = {
    "resnet18": (64, 64, 128, 256, 512),
    "resnet34": (64, 64, 128, 256, 512),
    "resnet50": (64, 256, 512, 1024, 2048),
}


class ResNetEncoder(nn.ModuleList):
    """``arch`` (a key of RESNET_CHANNELS) as five stages; ``channels`` and ``strides`` per stage."""

    strides = (2, 4, 8, 16, 32)

    def __init__(self, arch: str = "resnet34", pretrained: str | None = None) -> None:
        import torchvision.models as tvm

        backbone = getattr(tvm, arch)(weights=None)
        if pretrained:
            from engine.models.pretrained import load_encoder_weights

            load_encoder_weights(backbone, pretrained, arch)
        super().__init__([
            nn.Sequential(backbone.conv1, backbone.bn1, backbone.relu),
            nn.Sequential(backbone.maxpool, backbone.layer1),
            backbone.layer2,
            backbone.layer3,
            backbone.layer4,
        ])
        self.arch = arch
        self.channels = RESNET_CHANNELS[arch]
