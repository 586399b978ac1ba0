"""Each `TrainConfig` field's limits, in one place: `field_errors` (what `TrainConfig.field_errors`
and `validate` return). The CLI, the new-run form, a resumed run's config.json and a checkpoint's
record (`engine.checkpoint.check_record`) all check through it. No torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from engine.config import (
    AMP_MODES,
    AUGMENT_ON,
    AUGMENT_STRENGTHS,
    COMPILE_MODES,
    DEVICES,
    IMAGE_SIZE_RANGE,
    MASK_RULES,
    MODELS,
    OPTIMIZERS,
    SCHEDULERS,
    is_int,
    is_number,
    is_device_name,
)

if TYPE_CHECKING:  # pragma: no cover
    from engine.config import TrainConfig

# the longest --time_budget, as --epochs stops at 100000: a year (1e300 or 99999999h was taken)
TIME_BUDGET_MAX_DAYS = 365


def field_errors(config: "TrainConfig") -> dict[str, str]:
    """Every invalid field of ``config`` with its message, safe on values of any type (a
    hand-edited config.json)."""
    errs: dict[str, str] = {}

    def integer(name: str, lo: int, hi: int, optional: bool = False) -> None:
        v = getattr(config, name)
        if optional and v is None:
            return
        if not is_int(v) or not lo <= v <= hi:
            errs[name] = f"must be an integer between {lo} and {hi}" + (" (or unset)" if optional else "")

    def number(name: str, lo: float, hi: float, what: str) -> None:
        v = getattr(config, name)
        if not is_number(v) or not math.isfinite(v) or not lo <= v <= hi:
            errs[name] = f"must be a finite number {what}"

    def choice(name: str, options: tuple[str, ...]) -> None:
        if getattr(config, name) not in options:
            errs[name] = f"must be one of {', '.join(options)}"

    choice("model", MODELS)
    if config.epochs is None:
        if config.time_budget is None:
            errs["epochs"] = "must be an integer between 1 and 100000 (none only with a time budget)"
    else:
        integer("epochs", 1, 100_000)
    integer("batch_size", 1, 4096)
    v = config.learning_rate
    if not (is_number(v) and math.isfinite(v) and 0 < v < 10):
        errs["learning_rate"] = "must be a number in (0, 10)"
    low, high = IMAGE_SIZE_RANGE
    if not is_int(config.image_size) or config.image_size < low or config.image_size > high:
        errs["image_size"] = f"must be an integer between {low} and {high}"
    elif config.image_size % 32:
        errs["image_size"] = "must be a multiple of 32 (the encoders downsample 5 times)"
    integer("width", 4, 512)
    integer("workers", 0, 64)
    if not is_device_name(config.device):
        errs["device"] = f"must be one of {', '.join(DEVICES)} or cuda:N"
    integer("seed", 0, 2**32 - 1)
    choice("scheduler", SCHEDULERS)
    number("weight_decay", 0.0, 1.0, "between 0 and 1")
    choice("optimizer", OPTIMIZERS)
    v = config.dropout
    if not (is_number(v) and math.isfinite(v) and 0 <= v < 1):
        errs["dropout"] = "must be a number in [0, 1) (0: off; e.g. 0.2)"
    if config.time_budget is not None:
        from engine.durations import parse_duration  # torch-free

        try:
            if not isinstance(config.time_budget, str):
                raise ValueError("must be a duration written as text, such as 10m")
            if parse_duration(config.time_budget) > TIME_BUDGET_MAX_DAYS * 86400:
                raise ValueError(f"must be a duration of at most {TIME_BUDGET_MAX_DAYS}d")
        except ValueError as exc:
            errs["time_budget"] = str(exc)
    number("bce_weight", 0.0, 1000.0, "between 0 and 1000")
    number("dice_weight", 0.0, 1000.0, "between 0 and 1000")
    if "bce_weight" not in errs and "dice_weight" not in errs and config.bce_weight + config.dice_weight == 0:
        errs["bce_weight"] = "loss weights must not both be 0"
    choice("amp", AMP_MODES)
    choice("mask_rule", MASK_RULES)
    number("grad_clip", 0.0, 1e6, "between 0 and 1e6 (0 disables clipping)")
    if config.warmup_epochs is None:
        pass  # auto: resolved for the run's epochs and scheduler, always valid
    elif not is_int(config.warmup_epochs) or config.warmup_epochs < 0:
        errs["warmup_epochs"] = "must be an integer >= 0 (0: no warm-up)"
    elif config.warmup_epochs and is_int(config.epochs) and config.warmup_epochs >= config.epochs:
        errs["warmup_epochs"] = f"must be fewer than --epochs ({config.epochs})"
    elif config.warmup_epochs and config.scheduler == "plateau":
        errs["warmup_epochs"] = "works with --scheduler cosine or none, not plateau"
    v = config.ema_decay
    if not (is_number(v) and math.isfinite(v) and 0 <= v < 1):
        errs["ema_decay"] = "must be a number in [0, 1) (0: off; e.g. 0.99)"
    choice("augment_strength", AUGMENT_STRENGTHS)
    integer("valid_every", 2, 1_000_000)
    integer("max_train_images", 1, 10_000_000, optional=True)
    if config.data_path is not None and (not isinstance(config.data_path, str) or not config.data_path.strip()):
        errs["data_path"] = "must be a non-empty path"
    choice("compile", COMPILE_MODES)
    if not isinstance(config.devices, str):
        errs["devices"] = "must be text: a count, all, or GPU indices such as 0,2"
    else:
        from engine.train.devices_request import devices_problem  # torch-free: the flag's one syntax rule

        problem = devices_problem(config.devices)
        if problem:
            errs["devices"] = problem
    choice("augment_on", AUGMENT_ON)
    number("checkpoint_interval", 0.0, 86_400.0, "of seconds between 0 and 86400 (0: every epoch)")
    for name in ("download", "channels_last", "sync_bn"):
        if not isinstance(getattr(config, name), bool):
            errs[name] = "must be true or false"
    for name in ("pretrained", "cache_dir"):
        v = getattr(config, name)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            errs[name] = "must be a non-empty text value (or unset)"
    if not errs:
        why = config.single_value_batch_problem()
        if why:
            errs["batch_size"] = why
    return errs
