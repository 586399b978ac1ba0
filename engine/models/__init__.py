"""Model registry: names, construction from a name, and the kwargs a checkpoint records."""

from __future__ import annotations

from typing import Any

from torch import nn

from engine.config import MODELS
from engine.errors import ConfigError


def build_model(name: str, *, width: int = 64, pretrained: str | None = None) -> nn.Module:
    """Construct a model by name. ``width`` only affects unet, ``pretrained`` only resnet34_unet."""
    if name == "unet":
        from engine.models.unet import UNet

        return UNet(in_channels=3, out_channels=1, width=width)
    if name == "resnet34_unet":
        from engine.models.resnet_unet import ResNet34UNet

        return ResNet34UNet(out_channels=1, pretrained=pretrained)
    raise ConfigError(f"--model {name}: must be one of {', '.join(MODELS)}")


def model_kwargs(name: str, width: int, pretrained: str | None = None) -> dict[str, Any]:
    """Kwargs stored in a checkpoint's ``arch`` so ``build_model(name, **kwargs)`` rebuilds it.

    ``pretrained`` is accepted but never recorded: a checkpoint already holds the trained
    weights, and rebuilding must not depend on a path or the network still being there.
    """
    if name == "unet":
        return {"width": int(width)}
    if name == "resnet34_unet":
        return {}
    raise ConfigError(f"--model {name}: must be one of {', '.join(MODELS)}")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
