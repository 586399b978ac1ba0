"""What ``petseg export`` exports: a checkpoint's network in eval mode followed by its sigmoid, so
the file's output is the pet probability (what a consumer thresholds), and the metadata that
goes with it (`engine.export.metadata`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from engine.data.augment_spec import MEAN, STD
from engine.export.metadata import ExportMetadata
from engine.models import model_stride

# the threshold petseg infer and petseg eval use by default: what the export's metadata advertises
DEFAULT_THRESHOLD = 0.5


class ProbabilityModel(nn.Module):
    """``sigmoid(model(x))``: the exported graph ends in probabilities, not logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.model(x))


@dataclass
class LoadedModel:
    """A checkpoint ready to export: the probability network (eval mode, CPU) and its metadata."""

    network: ProbabilityModel
    metadata: ExportMetadata
    checkpoint: Path
    warnings: list[str]

    def example(self, batch: int = 2) -> Tensor:
        """An input of the model's own size (a batch of 2, so the batch axis is not taken for 1)."""
        size = self.metadata.input_size
        return torch.zeros(batch, 3, size, size)


def load_for_export(checkpoint: Path, run_name: str) -> LoadedModel:
    """The checkpoint's network wrapped for export, with the metadata the file will carry."""
    from engine.infer.inference import Predictor

    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    meta = ExportMetadata(
        model=predictor.arch_name, input_size=predictor.image_size, mean=tuple(MEAN), std=tuple(STD),
        threshold=DEFAULT_THRESHOLD, mask_rule=predictor.mask_rule, run=run_name, valid_dice=predictor.best_dice,
        epoch=predictor.epoch, checkpoint=checkpoint.name, stride=model_stride(predictor.arch_name),
        config=_plain(predictor.config), valid_precision=predictor.valid_precision or "",
    )
    network = ProbabilityModel(predictor.model).eval()
    for p in network.parameters():
        p.requires_grad_(False)
    return LoadedModel(network, meta, checkpoint, list(predictor.warnings))


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """The config's JSON-safe fields (a checkpoint's config is primitives already; belt and braces)."""
    return {k: v for k, v in config.items() if isinstance(v, (str, int, float, bool, type(None)))}
