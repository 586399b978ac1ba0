"""The evaluate tests' inputs: three 64 px test trimaps (pet, pet with a border row, all
background) and the checkpoint of a UNet whose 1×1 head predicts one constant everywhere (bias
+20: all pet; -20: all background), so every score follows from the trimaps by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.models import build_model, model_kwargs


SIZE = 64


def _trimaps() -> dict[str, np.ndarray]:
    t1 = np.full((SIZE, SIZE), 2, np.uint8)
    t1[0:16, 0:32] = 1
    t2 = np.full((SIZE, SIZE), 2, np.uint8)
    t2[0:32] = 1
    t2[32] = 3
    t3 = np.full((SIZE, SIZE), 2, np.uint8)
    return {"t1": t1, "t2": t2, "t3": t3}


def constant_checkpoint(path: Path, bias: float, mask_rule: str = "pet_border", data_path: str | None = None,
                        valid_every: int = 2, trained_on: Path | None = None) -> Path:
    model = build_model("unet", width=4)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(bias)
    torch.save(
        {
            "format": "petseg-checkpoint/1",
            "arch": {"name": "unet", "kwargs": model_kwargs("unet", 4)},
            "model": model.state_dict(),
            "image_size": SIZE,
            "mask_rule": mask_rule,
            "epoch": 1,
            "best_dice": 0.0,
            "config": {"image_size": SIZE, "cache_dir": str(path.parent / "cache"), "valid_every": valid_every,
                       "data_path": data_path,
                       **({"data_source": {"path": str(trained_on), "kind": "real"}} if trained_on else {})},
        },
        path,
    )
    return path
