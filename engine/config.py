"""`TrainConfig`: every hyperparameter of a training run, its defaults and its validation.

The same dataclass backs the CLI flags, the TUI's new-run form and each run's
``config.json``, so a default or a limit is written once, here. No torch import.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path
import typing
from typing import Any
from collections.abc import Iterable, Mapping

from engine.errors import ConfigError
from engine.field_spec import ConfigField, option, spec_of

# --model choices; engine.models builds each (<encoder>_unet: the U-Net decoder on a torchvision encoder)
MODELS = ("unet", "resnet18_unet", "resnet34_unet", "resnet50_unet", "densenet121_unet")
# the fields a model has no use for (it trains the same network whatever they say): width sizes
# the plain UNet alone, pretrained loads an encoder's weights (engine.models.build_model)
MODEL_IGNORES = {name: ("pretrained",) if name == "unet" else ("width",) for name in MODELS}
MODEL_TITLES = {"unet": "UNet", "resnet18_unet": "ResNet18-UNet", "resnet34_unet": "ResNet34-UNet",
                "resnet50_unet": "ResNet50-UNet", "densenet121_unet": "DenseNet121-UNet"}  # as papers and reports name them
OPTIMIZERS = ("adam", "adamw")  # --optimizer; engine.train.setup builds each
SCHEDULERS = ("cosine", "plateau", "none")
AMP_MODES = ("auto", "off", "bf16", "fp16")
# how config.json (amp_resolved), the amp probe and eval name full precision (no autocast); the reduced
# ones are torch's dtype names (bfloat16, float16: engine.train.config_record.dtype_name)
FULL_PRECISION = "fp32"
DEVICES = ("auto", "cpu", "cuda", "mps")
MASK_RULES = ("pet_border", "pet_only")
# the input sides a model is trained at, and run at (`petseg infer/eval --image_size` of an ONNX file)
IMAGE_SIZE_RANGE = (32, 2048)
# Training augmentation levels (`--augment_strength`); what each does is in engine.data.augment_spec (AUGMENT_LEVELS).
AUGMENT_STRENGTHS = ("off", "light", "smp", "strong")
DEFAULT_AUGMENT_STRENGTH = "light"  # measured best on the real sample (docs/RESULTS.md, "Recipe sweep")
# names older runs recorded for today's levels (docs/RESULTS.md, "The recipe and its knobs")
LEGACY_AUGMENT_STRENGTHS = {"default": "smp"}
# TrainConfig fields older petsegs recorded and this one dropped on purpose: read and ignored. Any
# other field this TrainConfig does not know was written by a newer petseg (`TrainConfig.unknown_fields`)
RETIRED_FIELDS = ("extra",)
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
RUNS_ENV = "PETSEG_RUNS"  # names the runs folder when --runs is not given
DATA_PATH_ENV = "PETSEG_DATA"  # names a dataset when --data_path is not given
PRETRAINED_IMAGENET = "imagenet"  # the --pretrained value that asks for torchvision's ImageNet weights (no file)
GENERATED_DATA = "@generated"  # the --data_path value that asks for the generated (synthetic) set


def default_runs_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The runs folder: ``$PETSEG_RUNS`` if set, else ``runs/`` in the working directory.
    ``environ``: another process's environment (`engine.train.launched`), else this one's."""
    return Path((os.environ if environ is None else environ).get(RUNS_ENV) or DEFAULT_RUNS_DIR)


def is_int(v: Any) -> bool:
    """An int that is not a bool (JSON's true is no epoch count)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    """An int or float that is not a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_cuda_index(device: str) -> bool:
    return device.startswith("cuda:") and device[5:].isdigit()


def is_device_name(device: object) -> bool:
    """What ``--device`` takes: one of `DEVICES` or cuda:N."""
    return isinstance(device, str) and (device in DEVICES or _is_cuda_index(device))


def threshold_problem(threshold: float) -> str | None:
    """Why ``threshold`` (``--threshold`` of infer and eval) cannot be used, in a line; None when
    it can. 0 and 1 are refused by name: "between 0 and 1" refused 0 while --weight_decay's
    "between 0 and 1" takes it."""
    if 0.0 < threshold < 1.0:
        return None
    return f"--threshold {threshold:g}: must be above 0 and below 1 (a pixel is pet where its probability is above it)"


def with_time_alone(given: Mapping[str, Any], searched: Iterable[str] = ()) -> dict[str, Any]:
    """``given`` (the `TrainConfig` fields a user typed: flags, a sweep's base) with the rule of
    a time budget typed without ``--epochs`` (nor a searched epochs): no epoch bound, the time
    alone bounds the run (epochs None; "the best model in 10 minutes" is one flag)."""
    if given.get("time_budget") is None or "epochs" in given or "epochs" in set(searched):
        return dict(given)
    return {**given, "epochs": None}


def config_fields() -> tuple[ConfigField, ...]:
    """Every `TrainConfig` field with its kind and `FieldSpec`, in declaration (form) order."""
    return _config_fields()


def form_fields(section: str) -> tuple[ConfigField, ...]:
    """The fields the new-run form shows in ``section`` (one of `field_spec.FORM_SECTIONS`), in order."""
    return tuple(f for f in config_fields() if f.spec.section == section)


def requested_data_path(data_path: str | None) -> str | None:
    """The dataset a user named: ``data_path`` if given, else ``$PETSEG_DATA`` if set, else None
    (the training sample bundled with petseg). ``engine.data.layout`` turns it into a folder."""
    if data_path is not None:
        return data_path
    return os.environ.get(DATA_PATH_ENV, "").strip() or None


def config_field(name: str) -> ConfigField:
    """The `TrainConfig` field ``name``; KeyError if there is none."""
    return {f.name: f for f in config_fields()}[name]


def absolute_values(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (field name -> value) as a run and a sweep record them: each path field's file
    or folder absolute (`ConfigField.absolute`: the one rule of which fields are paths), any other
    key as it is."""
    fields = {f.name: f for f in config_fields()}
    return {k: fields[k].absolute(v) if k in fields else v for k, v in values.items()}


def absolute_data_path(data_path: str | None) -> str | None:
    """``data_path`` as a run records it: a folder named relative to the current directory (or
    with ``~``) made absolute, so ``petseg eval --run``, ``--resume`` and the TUI find the same
    folder from any directory; None (the bundled sample) and GENERATED_DATA as they are."""
    return config_field("data_path").absolute(data_path)


# Warm-up when --warmup_epochs is not given: it helps Adam from random initialisation (docs/RESULTS.md,
# "Recipe sweep"); short runs get a tenth of their epochs so the cosine keeps most of the run, and
# plateau gets none (it cannot follow one).
AUTO_WARMUP_EPOCHS = 3
AUTO_WARMUP_SHARE = 10  # at most 1 warm-up epoch per this many epochs


def auto_warmup_epochs(epochs: int | None, scheduler: str) -> int:
    """The warm-up a run gets without ``--warmup_epochs``: min(3, epochs // 10); 0 with plateau.
    No epoch bound (a time budget alone): 3, which `engine.train.schedule.TimeBudget` cuts to a
    tenth of the budget when its epochs are slower."""
    if scheduler == "plateau":
        return 0
    if epochs is None:
        return AUTO_WARMUP_EPOCHS
    if not is_int(epochs):
        return 0
    return max(0, min(AUTO_WARMUP_EPOCHS, epochs // AUTO_WARMUP_SHARE))


AUTO_WARMUP_HELP = (f"default auto: min({AUTO_WARMUP_EPOCHS}, epochs // {AUTO_WARMUP_SHARE}), none with "
                    f"--scheduler plateau; a time budget alone: {AUTO_WARMUP_EPOCHS} epochs or a tenth of the "
                    "budget, whichever ends first")




@dataclass
class TrainConfig:
    """Hyperparameters of one run. Field names match the CLI's canonical flags.

    Each field declares itself once, here: default, flag help and form row (`option`). The order
    is the new-run form's order.
    """

    # -- the form's main section --------------------------------------------------------------
    model: str = option("unet", choices=MODELS, label="Model", section="main",
                        help="the network: unet (the paper's, --width wide) or <encoder>_unet, the U-Net decoder on a "
                             "torchvision encoder (resnet18, resnet34: the seed's, resnet50, densenet121)",
                        hint="the *_unet encoders ignore the width")
    # None ("none"): no epoch bound, only with a time budget (what --time_budget alone asks for)
    epochs: int | None = option(10, label="Epochs", section="main", placeholder="none",
                                hint="empty: time budget alone",
                                help="epochs to train; with --resume, a new epoch budget; with --time_budget, an "
                                     "upper bound, and not given (or none) the time alone bounds the run")
    # None: no time budget; a duration (engine.durations.parse_duration) fits the schedule to wall time
    time_budget: str | None = option(
        None, label="Time budget", section="more", placeholder="none", metavar="DURATION",
        hint="e.g. 10m: the lr schedule spans this much training time (clear Epochs for the time alone)",
        help="train for this long (e.g. 90s, 10m, 1h30m): the learning-rate schedule is fitted to the elapsed "
             "training time (pauses left out) instead of the epoch count, and the run ends when it is spent, "
             "after the batch that spends it (that last epoch is partial); without --epochs the time alone "
             "bounds the run, with --epochs N the schedule follows whichever of the two runs out first")
    batch_size: int = option(16, label="Batch size", section="main", help="images per training step")
    learning_rate: float = option(1e-3, label="Learning rate", section="main", help="peak learning rate")
    image_size: int = option(256, label="Image size", section="main", hint="pixels, multiple of 32",
                             help="training and validation side in pixels (a multiple of 32)")
    width: int = option(64, label="UNet width", section="main", hint="base channels of the UNet",
                        help="UNet base width; ignored by the *_unet encoder models of --model")
    scheduler: str = option("cosine", choices=SCHEDULERS, label="LR scheduler", section="main",
                            help="learning-rate schedule after the warm-up")
    # None: $PETSEG_DATA, else the bundled sample; GENERATED_DATA: synthetic
    data_path: str | None = option(
        None, label="Data path", section="main", placeholder="bundled real sample", path=True,
        path_words=(GENERATED_DATA,),
        hint=f"an Oxford-IIIT Pet folder; {GENERATED_DATA}: synthetic; blank: ${DATA_PATH_ENV} if set",
        help=(f"Oxford-IIIT Pet folder (images/, annotations/); default: ${DATA_PATH_ENV} if set, else the real "
              f"sample bundled with petseg (496 photos, 3 breeds); {GENERATED_DATA}: the generated synthetic set "
              "(fast tests)"))
    download: bool = option(False, metavar="yes|no", label="Download data", section="main",
                            hint="yes — fetch the official archives into the data path if missing",
                            hint_off="no — use the data path as it is",
                            help="download the official archives into --data_path if missing")
    device: str = option("auto", suggestions=DEVICES, metavar="|".join(DEVICES) + "|cuda:N", label="Device",
                         section="main", help="where to train; auto: CUDA if present, else MPS, else the CPU")
    devices: str = option("1", label="Processes (GPUs)", section="main", metavar="N|all|i,j",
                          suggest_from="engine.train.devices_request:devices_choices",
                          hint="data-parallel: N GPUs, all, or 0,2; on a CPU, N processes",
                          help="data-parallel processes (torch.distributed): N devices, all, or GPU indices "
                               "such as 0,2 ('0,' for GPU 0 alone); --batch_size is per process")
    max_train_images: int | None = option(None, label="Max train images", section="main", placeholder="all",
                                          help="cap the train split (quick demos); default: all")
    workers: int = option(2, label="Loader workers", section="main",
                          help="DataLoader worker processes (with --augment_on cpu)")
    # -- the form's "More options" --------------------------------------------------------------
    sync_bn: bool = option(False, metavar="yes|no", label="Sync BatchNorm", section="more",
                           hint="yes — BatchNorm statistics over every process's batch (CUDA)",
                           hint_off="no — each process normalises by its own batch",
                           help="with --devices > 1: SyncBatchNorm, the statistics of the global batch (CUDA only)")
    seed: int = option(42, label="Seed", section="more", hint="same seed, same data order and augmentations",
                       help="seed of the initial weights, the data order and the augmentations (not of the "
                            "train/valid split: every Nth trainval photo, N = --valid_every, whatever the seed)")
    mask_rule: str = option("pet_border", choices=MASK_RULES, label="Mask rule", section="more",
                            hint="pet_border: the trimap's border counts as pet",
                            help="pet_border: the trimap's border counts as pet (smp's rule); pet_only: it is background")
    # auto: bf16 on CUDA with bf16 support, fp16 on other CUDA; on a CPU measured (engine.train.precision); off on MPS
    amp: str = option("auto", choices=AMP_MODES, label="Mixed precision", section="more",
                      hint="auto: bf16 where the hardware has it",
                      help="auto: bf16 on CUDA (fp16 without bf16); on a CPU bf16 only where a timed probe finds it faster")
    optimizer: str = option("adam", choices=OPTIMIZERS, label="Optimizer", section="more",
                            hint="adamw: decoupled weight decay",
                            help="adam (the seed's) or adamw (Loshchilov & Hutter: weight decay decoupled from the "
                                 "gradient); see --weight_decay")
    weight_decay: float = option(0.0, label="Weight decay", section="more",
                                 hint="adam: L2 in the gradient; adamw: decoupled, e.g. 0.01",
                                 help="with adam: an L2 penalty added to the gradient (so Adam's per-weight scaling "
                                      "weakens it where gradients are large); with adamw: decoupled, every step "
                                      "shrinks each weight by lr × weight_decay (typical 1e-4 to 0.05); 0: none, "
                                      "where adam and adamw are the same optimizer")
    dropout: float = option(0.0, label="Decoder dropout", section="more", hint="spatial dropout in the decoder; 0: off",
                            help="spatial dropout (whole feature maps) after each decoder block of any --model, in "
                                 "training only; 0: none (the network as before the flag existed)")
    grad_clip: float = option(0.0, label="Gradient clip", section="more", hint="max gradient norm; 0 disables",
                              help="clip the gradient norm to this; 0 disables clipping")
    bce_weight: float = option(1.0, label="BCE weight", section="more",
                               hint="loss = BCE weight × BCE + Dice weight × Dice",
                               help="loss = bce_weight × BCE + dice_weight × soft Dice loss")
    dice_weight: float = option(1.0, label="Dice weight", section="more", help="see --bce_weight")
    pretrained: str | None = option(None, label="Pretrained encoder", section="more", placeholder="none",
                                    path=True, path_words=(PRETRAINED_IMAGENET,),
                                    hint="*_unet encoders: imagenet or a .pth file",
                                    help="the encoder's weights (the *_unet models): imagenet (torchvision's, from "
                                         "the torch hub cache or the internet) or a .pth state_dict of that "
                                         "torchvision network; none (the default): random initialisation")
    # None: auto_warmup_epochs, resolved (and recorded as a number) when the run is created
    warmup_epochs: int | None = option(None, label="Warm-up epochs", section="more", placeholder="auto",
                                       hint="linear lr warm-up; 0: none",
                                       help="linear learning-rate warm-up epochs before the cosine (or constant) "
                                            f"schedule; 0: none; {AUTO_WARMUP_HELP}")
    ema_decay: float = option(0.0, label="EMA decay", section="more", hint="e.g. 0.99; 0: off",
                              help="EMA of the weights after every step (e.g. 0.99); validation and checkpoints "
                                   "use it; 0: off")
    augment_strength: str = option(
        DEFAULT_AUGMENT_STRENGTH, choices=AUGMENT_STRENGTHS, label="Augmentation", section="more",
        hint="light: upright pets, mild", help="training augmentation: off, light (upright pets, mild; the default), "
        "smp (adds vertical flips, quarter turns, blur), strong")
    augment_on: str = option("auto", choices=AUGMENT_ON, label="Augment on", section="more",
                             hint="auto: the device on CUDA, else the CPU",
                             help="cpu: albumentations in --workers processes; device: batched on the training "
                                  "device (uint8 data kept there, no workers); auto: device on CUDA, else cpu")
    compile: str = option("auto", choices=COMPILE_MODES, const="default", metavar="MODE", label="torch.compile",
                          section="more", hint="auto: measured fastest on CUDA; off on a CPU",
                          help=f"torch.compile the training step: {'|'.join(COMPILE_MODES)} (bare --compile: "
                               "default; auto: the mode measured fastest on CUDA, for long runs only; off on CPU)")
    checkpoint_interval: float = option(60.0, metavar="SECONDS", label="Checkpoint every", section="more",
                                        hint="seconds between last.pt saves; 0: every epoch",
                                        help="write last.pt at most this often (also at the end, on stop and on "
                                             "pause); 0: every epoch")
    channels_last: bool = option(True, metavar="yes|no", label="Channels last", section="more",
                                 hint="yes — NHWC memory layout (faster convolutions)", hint_off="no — NCHW",
                                 help="train in the channels-last memory layout")
    valid_every: int = option(10, label="Valid every", section="more", hint="every Nth trainval photo validates",
                              help="every Nth trainval image goes to the validation split")
    cache_dir: str | None = option(None, label="Image cache", section="more", placeholder="default", path=True,
                                   help="decoded-image cache; default: $PETSEG_CACHE/decoded or ~/.cache/petseg/decoded")

    def validate(self) -> None:
        """Raise ConfigError with one line for the first invalid field."""
        errors = self.field_errors()
        if errors:
            name, message = next(iter(errors.items()))
            value = getattr(self, name)
            shown = config_field(name).format_value(value) if value is None else value  # as typed: --epochs none
            raise ConfigError(f"--{name} {shown}: {message}")

    def field_errors(self) -> dict[str, str]:
        """Every invalid field with its message; the TUI form shows these beside each field.
        The one place that knows each field's limits (`engine.config_limits`): the CLI, the TUI
        form, a resumed run's config.json and a checkpoint's record all use it. Safe on values of
        any type (a hand-edited config.json)."""
        from engine.config_limits import field_errors

        return field_errors(self)

    def bottleneck_side(self) -> int:
        """Side in pixels of the deepest feature map (UNet halves 4 times, the encoder models 5 times)."""
        return self.image_size // (16 if self.model == "unet" else 32)

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

    def to_argv(self) -> list[str]:
        """``petseg train`` flags that rebuild this config: every field that is set, as ``--name=value``
        (the ``=`` keeps a value that starts with ``-`` a value)."""
        return [f"{f.flag}={f.format_value(getattr(self, f.name))}" for f in config_fields()
                if getattr(self, f.name) is not None]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_absolute_paths(self) -> "TrainConfig":
        """This config as a run records it: each path field's file or folder absolute
        (`ConfigField.absolute`), since config.json is read again from other directories
        (``petseg train --resume``, the dashboard's R, ``petseg eval --run``)."""
        return dataclasses.replace(self, **{f.name: f.absolute(getattr(self, f.name))
                                            for f in config_fields() if f.spec.path})

    @classmethod
    def unknown_fields(cls, data: dict[str, Any]) -> list[str]:
        """The fields of a `to_dict` written by a newer petseg that this one does not know (a
        checkpoint's ``config``; config.json mixes in its own bookkeeping), sorted."""
        known = {f.name for f in dataclasses.fields(cls)}
        return sorted(k for k in data if k not in known and k not in RETIRED_FIELDS)

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


@functools.cache
def _config_fields() -> tuple[ConfigField, ...]:
    hints = typing.get_type_hints(TrainConfig)
    out = []
    for f in dataclasses.fields(TrainConfig):
        kinds = [t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None)]
        kind = {int: "int", float: "float", str: "str", bool: "bool"}[kinds[0]]
        optional = type(None) in typing.get_args(hints[f.name])
        out.append(ConfigField(f.name, kind, optional, f.default, spec_of(f)))
    return tuple(out)
