"""Load an encoder's weights: ImageNet (torch hub cache, then download) or a local file.

The encoders are torchvision's (`IMAGENET_WEIGHTS` names each one's ImageNet weights); the
state_dict is checked against the encoder's own torchvision network before it is loaded.

Every failure becomes a one-line `ConfigError` naming the ``--pretrained`` value, since the
value comes straight from the user's flag or form field.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.config import PRETRAINED_IMAGENET as IMAGENET
from engine.errors import ConfigError

IMAGENET_FAIL = (
    "--pretrained imagenet: could not fetch ImageNet weights (no internet?) "
    "— pass a local .pth path instead"
)

# torchvision's ImageNet weights of each encoder (the original IMAGENET1K_V1 release of each)
IMAGENET_WEIGHTS = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "densenet121": "DenseNet121_Weights",
}
# the classifier each torchvision network ends with: never used by the segmentation encoder
_CLASSIFIER_PREFIXES = ("fc.", "classifier.")
# DenseNet files written before torchvision renamed "norm.1" to "norm1" (the ImageNet file is one)
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def load_encoder_weights(model: nn.Module, pretrained: str, arch: str = "resnet34") -> None:
    """Load ``pretrained`` ("imagenet" or a path to an ``arch`` state_dict) into the torchvision
    network ``model`` (an ``arch``)."""
    if pretrained == IMAGENET:
        state, source = _imagenet_state_dict(arch), "--pretrained imagenet"
    else:
        state, source = _file_state_dict(Path(pretrained)), f"--pretrained {pretrained}"
    if arch.startswith("densenet"):
        state = {_new_densenet_key(k): v for k, v in state.items()}
    _apply(model, state, source, arch)


def load_resnet34_weights(model: nn.Module, pretrained: str) -> None:
    """`load_encoder_weights` for a ResNet-34 (the seed's name for it)."""
    load_encoder_weights(model, pretrained, "resnet34")


def _weights(arch: str) -> Any:
    import torchvision.models as tvm

    return getattr(tvm, IMAGENET_WEIGHTS[arch]).IMAGENET1K_V1


def imagenet_cache_path(arch: str = "resnet34") -> Path:
    """Where torch hub keeps the torchvision ImageNet file of ``arch`` once downloaded."""
    filename = os.path.basename(_weights(arch).url)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _imagenet_state_dict(arch: str = "resnet34") -> dict[str, Any]:
    cached = imagenet_cache_path(arch)
    if cached.is_file():
        # Checked first so an offline machine with a pre-seeded cache never touches the network.
        return _file_state_dict(cached, flag=IMAGENET)
    try:
        return _weights(arch).get_state_dict(progress=False)
    except Exception as exc:  # URLError, timeouts, partial downloads: all mean "no weights"
        raise ConfigError(IMAGENET_FAIL) from exc


def _new_densenet_key(key: str) -> str:
    match = _DENSENET_OLD_KEY.match(key)
    return match.group(1) + match.group(2) if match else key


def _file_state_dict(path: Path, flag: str | None = None) -> dict[str, Any]:
    label = f"--pretrained {flag or path}"
    if not path.exists():
        raise ConfigError(f"{label}: file not found ({path})")
    if not path.is_file():
        raise ConfigError(f"{label}: not a file ({path})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"{label}: {_unreadable(path, exc)}") from exc
    if isinstance(obj, dict) and isinstance(obj.get("arch"), dict) and "model" in obj:
        # a petseg checkpoint's "model" is the whole U-Net: it read as "not a resnet18 state_dict
        # (100 missing keys, ...; 192 unexpected keys, e.g. decoders.0.conv...)", no word of what it is
        name = obj["arch"].get("name", "?")
        raise ConfigError(f"{label}: is a petseg checkpoint (a {name} run's), not an encoder's state_dict; "
                          "--pretrained takes imagenet or a torchvision network's .pth; to train a run further "
                          "use --resume RUN")
    # Training scripts often wrap the weights; accept the two common envelopes.
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(f"{label}: {path} does not hold a state_dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _unreadable(path: Path, exc: Exception) -> str:
    """Why torch.load refused ``path``, in words (never a bare number or torch's long advice)."""
    from engine.checkpoint import load_failure_detail, pickles_objects

    if pickles_objects(exc):
        return (f"{path} pickles Python objects (a whole model saved with torch.save(model)?); "
                "give a state_dict saved with torch.save(model.state_dict(), ...)")
    detail = f"{type(exc).__name__}: {load_failure_detail(exc)}"
    return f"{path} is not a PyTorch weights file (corrupt, truncated or not saved by torch.save; {detail})"


def _apply(model: nn.Module, state: dict[str, Any], label: str, arch: str = "resnet34") -> None:
    # The classifier is never used by the segmentation encoder, so it may be absent.
    state = {k: v for k, v in state.items() if not k.startswith(_CLASSIFIER_PREFIXES)}
    expected = {k for k in model.state_dict() if not k.startswith(_CLASSIFIER_PREFIXES)}
    # files saved before BatchNorm counted its batches (torchvision's older ImageNet files) lack the counters
    missing = sorted(k for k in expected - state.keys() if not k.endswith(".num_batches_tracked"))
    unexpected = sorted(state.keys() - expected)
    if missing or unexpected:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing keys, e.g. {missing[0]}")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected keys, e.g. {unexpected[0]}")
        raise ConfigError(f"{label}: not a {arch} state_dict ({'; '.join(detail)})")
    own = model.state_dict()
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise ConfigError(
                f"{label}: not a {arch} state_dict ({key} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(own[key].shape)})"
            )
    model.load_state_dict(state, strict=False)
