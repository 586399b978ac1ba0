"""`TrainConfig`: every hyperparameter of a training run, its defaults and its validation.

The same dataclass backs the CLI flags, the TUI's new-run form and each run's
``config.json``, so a default or a limit is written once, here. No torch import.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

MODELS = ("unet", "resnet34_unet")
SCHEDULERS = ("cosine", "plateau", "none")
AMP_MODES = ("auto", "off", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")
MASK_RULES = ("pet_border", "pet_only")
# Training augmentation levels (`--augment_strength`); what each does is in engine.data.transforms.
AUGMENT_STRENGTHS = ("off", "light", "default", "strong")
# `petseg eval --ignore_border` default: the trimap's border band (value 3) is the annotators'
# "not sure" zone around the outline, the quality targets are stated with it ignored, and
# leaving it out scores pet_border and pet_only models on the same pixels.
EVAL_IGNORE_BORDER = True

DEFAULT_RUNS_DIR = "runs"


def default_runs_dir() -> Path:
    """The runs folder: ``$PETSEG_RUNS`` if set, else ``runs/`` in the working directory."""
    return Path(os.environ.get("PETSEG_RUNS") or DEFAULT_RUNS_DIR)


@dataclass
class TrainConfig:
    """Hyperparameters of one run. Field names match the CLI's canonical flags."""

    model: str = "unet"
    data_path: str | None = None  # None: real sample under shared/data if present, else generated
    epochs: int = 10
    batch_size: int = 16
    learning_rate: float = 1e-3
    image_size: int = 256
    width: int = 64  # UNet base width; ignored by resnet34_unet
    workers: int = 2
    device: str = "auto"
    seed: int = 42
    scheduler: str = "cosine"
    weight_decay: float = 0.0
    bce_weight: float = 1.0
    dice_weight: float = 1.0
    amp: str = "auto"  # auto: bf16 on CUDA with bf16 support, fp16 on other CUDA; bf16 on CPUs with native bf16; off on MPS
    grad_clip: float = 0.0  # 0 disables clipping
    warmup_epochs: int = 0  # linear learning-rate warm-up epochs before the cosine (or constant) schedule
    ema_decay: float = 0.0  # per-step EMA of the weights, e.g. 0.99; validation and checkpoints use it; 0: off
    augment_strength: str = "default"  # one of AUGMENT_STRENGTHS
    mask_rule: str = "pet_border"  # pet_border: trimap 1 and 3 are pet (smp); pet_only: border is background
    download: bool = False
    pretrained: str | None = None  # resnet34_unet encoder: None, "imagenet" or a path to a state_dict
    valid_every: int = 10  # every Nth trainval image goes to the validation split
    channels_last: bool = True
    compile: bool = False
    cache_dir: str | None = None  # decoded-image cache; None: $PETSEG_CACHE/decoded or ~/.cache/petseg/decoded
    max_train_images: int | None = None  # cap the train split (quick demos)
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ConfigError with one line for the first invalid field."""
        errors = self.field_errors()
        if errors:
            name, message = next(iter(errors.items()))
            raise ConfigError(f"--{name}: {message}")

    def field_errors(self) -> dict[str, str]:
        """Every invalid field with its message; the TUI form shows these beside each field."""
        errs: dict[str, str] = {}
        if self.model not in MODELS:
            errs["model"] = f"must be one of {', '.join(MODELS)}"
        if not isinstance(self.epochs, int) or self.epochs < 1 or self.epochs > 100_000:
            errs["epochs"] = "must be an integer between 1 and 100000"
        if not isinstance(self.batch_size, int) or self.batch_size < 1 or self.batch_size > 4096:
            errs["batch_size"] = "must be an integer between 1 and 4096"
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < 10):
            errs["learning_rate"] = "must be a number in (0, 10)"
        if not isinstance(self.image_size, int) or self.image_size < 32 or self.image_size > 2048:
            errs["image_size"] = "must be an integer between 32 and 2048"
        elif self.image_size % 32:
            errs["image_size"] = "must be a multiple of 32 (the encoders downsample 5 times)"
        if not isinstance(self.width, int) or self.width < 4 or self.width > 512:
            errs["width"] = "must be an integer between 4 and 512"
        if not isinstance(self.workers, int) or self.workers < 0 or self.workers > 64:
            errs["workers"] = "must be an integer between 0 and 64"
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            errs["device"] = f"must be one of {', '.join(DEVICES)} or cuda:N"
        if self.scheduler not in SCHEDULERS:
            errs["scheduler"] = f"must be one of {', '.join(SCHEDULERS)}"
        if self.amp not in AMP_MODES:
            errs["amp"] = f"must be one of {', '.join(AMP_MODES)}"
        if self.mask_rule not in MASK_RULES:
            errs["mask_rule"] = f"must be one of {', '.join(MASK_RULES)}"
        if self.grad_clip < 0:
            errs["grad_clip"] = "must be >= 0 (0 disables clipping)"
        if self.bce_weight < 0 or self.dice_weight < 0 or (self.bce_weight + self.dice_weight) == 0:
            errs["bce_weight"] = "loss weights must be >= 0 and not both 0"
        if not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 0:
            errs["warmup_epochs"] = "must be an integer >= 0 (0: no warm-up)"
        elif self.warmup_epochs and isinstance(self.epochs, int) and self.warmup_epochs >= self.epochs:
            errs["warmup_epochs"] = f"must be fewer than --epochs ({self.epochs})"
        elif self.warmup_epochs and self.scheduler == "plateau":
            errs["warmup_epochs"] = "works with --scheduler cosine or none, not plateau"
        if not (isinstance(self.ema_decay, (int, float)) and 0 <= self.ema_decay < 1):
            errs["ema_decay"] = "must be a number in [0, 1) (0: off; e.g. 0.99)"
        if self.augment_strength not in AUGMENT_STRENGTHS:
            errs["augment_strength"] = f"must be one of {', '.join(AUGMENT_STRENGTHS)}"
        if not isinstance(self.valid_every, int) or self.valid_every < 2:
            errs["valid_every"] = "must be an integer >= 2"
        if self.data_path is not None and not str(self.data_path).strip():
            errs["data_path"] = "must not be empty"
        return errs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a config.json dict, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
