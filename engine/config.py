"""`TrainConfig`: every hyperparameter of a training run, its defaults and its validation.

The same dataclass backs the CLI flags, the TUI's new-run form and each run's
``config.json``, so a default or a limit is written once, here. No torch import.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

MODELS = ("unet", "resnet34_unet")  # --model choices; engine.models builds each
MODEL_TITLES = {"unet": "UNet", "resnet34_unet": "ResNet34-UNet"}  # as papers and reports name them
SCHEDULERS = ("cosine", "plateau", "none")
AMP_MODES = ("auto", "off", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")
MASK_RULES = ("pet_border", "pet_only")
# Training augmentation levels (`--augment_strength`); what each does is in engine.data.augment_spec (AUGMENT_LEVELS).
AUGMENT_STRENGTHS = ("off", "light", "smp", "strong")
DEFAULT_AUGMENT_STRENGTH = "light"  # measured best on the real sample (docs/RESULTS.md, "Recipe sweep")
# names that runs recorded before: "default" was the smp recipe until light became the default
LEGACY_AUGMENT_STRENGTHS = {"default": "smp"}
# `petseg eval --ignore_border` default: the trimap's border band (value 3) is the annotators'
# "not sure" zone around the outline, the quality targets are stated with it ignored, and
# leaving it out scores pet_border and pet_only models on the same pixels.
EVAL_IGNORE_BORDER = True
# where training augmentations run: albumentations per sample in DataLoader workers ("cpu") or
# batched torch ops on the training device ("device"); auto: device on CUDA, cpu elsewhere
AUGMENT_ON = ("auto", "cpu", "device")
# torch.compile: off, an inductor mode, or auto (the rule engine.train.compile.AUTO_CUDA on CUDA, off elsewhere)
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs", "auto")

DEFAULT_RUNS_DIR = "runs"
DATA_PATH_ENV = "PETSEG_DATA"  # names a dataset when --data_path is not given
GENERATED_DATA = "@generated"  # the --data_path value that asks for the generated (synthetic) set


def default_runs_dir() -> Path:
    """The runs folder: ``$PETSEG_RUNS`` if set, else ``runs/`` in the working directory."""
    return Path(os.environ.get("PETSEG_RUNS") or DEFAULT_RUNS_DIR)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_cuda_index(device: str) -> bool:
    return device.startswith("cuda:") and device[5:].isdigit()


def requested_data_path(data_path: str | None) -> str | None:
    """The dataset a user named: ``data_path`` if given, else ``$PETSEG_DATA`` if set, else None
    (the training sample bundled with petseg). ``engine.data.layout`` turns it into a folder."""
    if data_path is not None:
        return data_path
    return os.environ.get(DATA_PATH_ENV, "").strip() or None


# Warm-up when --warmup_epochs is not given. Measured on the real sample (docs/RESULTS.md, "Recipe
# sweep"): 3 warm-up epochs (~50 steps of 16 images) of 40 gained 0.040 and 0.007 test Dice on two
# seeds over none, Adam at 1e-3 from random initialisation. Short runs get a tenth of their epochs
# so that the cosine keeps most of the run; plateau has no warm-up (it cannot follow one).
AUTO_WARMUP_EPOCHS = 3
AUTO_WARMUP_SHARE = 10  # at most 1 warm-up epoch per this many epochs


def auto_warmup_epochs(epochs: int, scheduler: str) -> int:
    """The warm-up a run gets without ``--warmup_epochs``: min(3, epochs // 10); 0 with plateau."""
    if scheduler == "plateau" or not _is_int(epochs):
        return 0
    return max(0, min(AUTO_WARMUP_EPOCHS, epochs // AUTO_WARMUP_SHARE))


AUTO_WARMUP_HELP = (f"default auto: min({AUTO_WARMUP_EPOCHS}, epochs // {AUTO_WARMUP_SHARE}), none with "
                    "--scheduler plateau")


@dataclass
class TrainConfig:
    """Hyperparameters of one run. Field names match the CLI's canonical flags."""

    model: str = "unet"
    data_path: str | None = None  # None: $PETSEG_DATA, else the bundled sample; GENERATED_DATA: synthetic
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
    amp: str = "auto"  # auto: bf16 on CUDA with bf16 support, fp16 on other CUDA; on a CPU measured (engine.train.precision); off on MPS
    grad_clip: float = 0.0  # 0 disables clipping
    warmup_epochs: int | None = None  # linear lr warm-up epochs before the schedule; None: auto_warmup_epochs
    ema_decay: float = 0.0  # per-step EMA of the weights, e.g. 0.99; validation and checkpoints use it; 0: off
    augment_strength: str = DEFAULT_AUGMENT_STRENGTH  # one of AUGMENT_STRENGTHS
    mask_rule: str = "pet_border"  # pet_border: trimap 1 and 3 are pet (smp); pet_only: border is background
    download: bool = False
    pretrained: str | None = None  # resnet34_unet encoder: None, "imagenet" or a path to a state_dict
    valid_every: int = 10  # every Nth trainval image goes to the validation split
    channels_last: bool = True
    compile: str = "auto"  # one of COMPILE_MODES (old runs stored a bool: true = "default")
    augment_on: str = "auto"  # one of AUGMENT_ON
    checkpoint_interval: float = 60.0  # seconds between last.pt saves (also at the end, on stop, on pause); 0: every epoch
    cache_dir: str | None = None  # decoded-image cache; None: $PETSEG_CACHE/decoded or ~/.cache/petseg/decoded
    max_train_images: int | None = None  # cap the train split (quick demos)
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ConfigError with one line for the first invalid field."""
        errors = self.field_errors()
        if errors:
            name, message = next(iter(errors.items()))
            raise ConfigError(f"--{name} {getattr(self, name)}: {message}")

    def field_errors(self) -> dict[str, str]:
        """Every invalid field with its message; the TUI form shows these beside each field.

        The one place that knows each field's limits: the CLI, the TUI form, a resumed run's
        config.json and a checkpoint's record (`engine.checkpoint.check_record`) all use it.
        Safe on values of any type (a hand-edited config.json).
        """
        errs: dict[str, str] = {}

        def integer(name: str, lo: int, hi: int, optional: bool = False) -> None:
            v = getattr(self, name)
            if optional and v is None:
                return
            if not _is_int(v) or not lo <= v <= hi:
                errs[name] = f"must be an integer between {lo} and {hi}" + (" (or unset)" if optional else "")

        def number(name: str, lo: float, hi: float, what: str) -> None:
            v = getattr(self, name)
            if not _is_number(v) or not math.isfinite(v) or not lo <= v <= hi:
                errs[name] = f"must be a finite number {what}"

        def choice(name: str, options: tuple[str, ...]) -> None:
            if getattr(self, name) not in options:
                errs[name] = f"must be one of {', '.join(options)}"

        choice("model", MODELS)
        integer("epochs", 1, 100_000)
        integer("batch_size", 1, 4096)
        v = self.learning_rate
        if not (_is_number(v) and math.isfinite(v) and 0 < v < 10):
            errs["learning_rate"] = "must be a number in (0, 10)"
        if not _is_int(self.image_size) or self.image_size < 32 or self.image_size > 2048:
            errs["image_size"] = "must be an integer between 32 and 2048"
        elif self.image_size % 32:
            errs["image_size"] = "must be a multiple of 32 (the encoders downsample 5 times)"
        integer("width", 4, 512)
        integer("workers", 0, 64)
        if not isinstance(self.device, str) or (self.device not in DEVICES and not _is_cuda_index(self.device)):
            errs["device"] = f"must be one of {', '.join(DEVICES)} or cuda:N"
        integer("seed", 0, 2**32 - 1)
        choice("scheduler", SCHEDULERS)
        number("weight_decay", 0.0, 1.0, "between 0 and 1")
        number("bce_weight", 0.0, 1000.0, "between 0 and 1000")
        number("dice_weight", 0.0, 1000.0, "between 0 and 1000")
        if "bce_weight" not in errs and "dice_weight" not in errs and self.bce_weight + self.dice_weight == 0:
            errs["bce_weight"] = "loss weights must not both be 0"
        choice("amp", AMP_MODES)
        choice("mask_rule", MASK_RULES)
        number("grad_clip", 0.0, 1e6, "between 0 and 1e6 (0 disables clipping)")
        if self.warmup_epochs is None:
            pass  # auto: resolved for the run's epochs and scheduler, always valid
        elif not _is_int(self.warmup_epochs) or self.warmup_epochs < 0:
            errs["warmup_epochs"] = "must be an integer >= 0 (0: no warm-up)"
        elif self.warmup_epochs and _is_int(self.epochs) and self.warmup_epochs >= self.epochs:
            errs["warmup_epochs"] = f"must be fewer than --epochs ({self.epochs})"
        elif self.warmup_epochs and self.scheduler == "plateau":
            errs["warmup_epochs"] = "works with --scheduler cosine or none, not plateau"
        v = self.ema_decay
        if not (_is_number(v) and math.isfinite(v) and 0 <= v < 1):
            errs["ema_decay"] = "must be a number in [0, 1) (0: off; e.g. 0.99)"
        choice("augment_strength", AUGMENT_STRENGTHS)
        integer("valid_every", 2, 1_000_000)
        integer("max_train_images", 1, 10_000_000, optional=True)
        if self.data_path is not None and (not isinstance(self.data_path, str) or not self.data_path.strip()):
            errs["data_path"] = "must be a non-empty path"
        choice("compile", COMPILE_MODES)
        choice("augment_on", AUGMENT_ON)
        number("checkpoint_interval", 0.0, 86_400.0, "of seconds between 0 and 86400 (0: every epoch)")
        for name in ("download", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                errs[name] = "must be true or false"
        for name in ("pretrained", "cache_dir"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v.strip()):
                errs[name] = "must be a non-empty text value (or unset)"
        if not errs:
            why = self.single_value_batch_problem()
            if why:
                errs["batch_size"] = why
        return errs

    def bottleneck_side(self) -> int:
        """Side in pixels of the deepest feature map (UNet halves 4 times, ResNet-34 5 times)."""
        return self.image_size // (32 if self.model == "resnet34_unet" else 16)

    def single_value_batch_problem(self, batch: int | None = None) -> str:
        """Why a training batch of ``batch`` images (default batch_size) cannot train, or "".

        BatchNorm in training mode needs more than one value per channel; at the bottleneck a
        batch holds batch × side² of them. ``batch`` below batch_size means the train split
        itself is that small, so the advice is more images rather than a bigger batch.
        """
        batch = self.batch_size if batch is None else batch
        side = self.bottleneck_side()
        if batch * side * side > 1:
            return ""
        more = "batch_size >= 2" if batch >= self.batch_size else "at least 2 training images"
        return (f"{self.model} at image_size {self.image_size} shrinks each image to {side}×{side} at its "
                f"bottleneck, where BatchNorm needs more than 1 value per channel: use {more} "
                f"or image_size >= {self.image_size * 2}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a config.json dict, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("compile"), bool):  # written before compile modes existed
            values["compile"] = "default" if values["compile"] else "off"
        strength = values.get("augment_strength")
        if isinstance(strength, str):
            values["augment_strength"] = LEGACY_AUGMENT_STRENGTHS.get(strength, strength)
        return cls(**values)
