"""Model registry: names, construction from a name, and the kwargs a checkpoint records.

``unet`` is the paper's U-Net (``--width`` wide); every ``<encoder>_unet`` is `EncoderUNet`, the
U-Net decoder on that torchvision encoder (``resnet34_unet`` is the seed's model).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from engine.config import MODELS
from engine.errors import ConfigError

# model name -> its encoder (engine.models.encoder_unet.ENCODERS); unet has none
ENCODER_OF = {name: name.removesuffix("_unet") for name in MODELS if name != "unet"}


def build_model(name: str, *, width: int = 64, pretrained: str | None = None, dropout: float = 0.0) -> nn.Module:
    """Construct a model by name. ``width`` only affects unet, ``pretrained`` only the encoder
    models; ``dropout`` is the decoder's spatial dropout (0: none)."""
    if name == "unet":
        from engine.models.unet import UNet

        return UNet(in_channels=3, out_channels=1, width=width, dropout=dropout)
    if name in ENCODER_OF:
        from engine.models.encoder_unet import EncoderUNet

        return EncoderUNet(ENCODER_OF[name], out_channels=1, pretrained=pretrained, dropout=dropout)
    raise ConfigError(f"--model {name}: must be one of {', '.join(MODELS)}")


def model_kwargs(name: str, width: int, pretrained: str | None = None) -> dict[str, Any]:
    """Kwargs stored in a checkpoint's ``arch`` so ``build_model(name, **kwargs)`` rebuilds it.

    ``pretrained`` is accepted but never recorded: a checkpoint already holds the trained
    weights, and rebuilding must not depend on a path or the network still being there.
    ``dropout`` is not recorded either: it has no weights and does nothing in eval mode, so the
    rebuilt model scores the same; a resume takes it from config.json.
    """
    if name == "unet":
        return {"width": int(width)}
    if name in ENCODER_OF:
        return {}
    raise ConfigError(f"--model {name}: must be one of {', '.join(MODELS)}")


def model_stride(name: str) -> int:
    """The side, in pixels, that one bottleneck cell of model ``name`` covers: an H or W the
    network takes without padding (the UNet's four 2× poolings; the encoders' five)."""
    if name == "unet":
        from engine.models.unet import UNET_STRIDE

        return UNET_STRIDE
    if name in ENCODER_OF:
        from engine.models.encoder_unet import ENCODER_STRIDE

        return ENCODER_STRIDE
    raise ConfigError(f"--model {name}: must be one of {', '.join(MODELS)}")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
