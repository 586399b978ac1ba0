"""TrainConfig validation: the messages the CLI prints and the TUI form shows."""

import pytest

from engine.config import TrainConfig, auto_warmup_epochs
from engine.errors import ConfigError


def test_defaults_are_valid() -> None:
    TrainConfig().validate()
    assert TrainConfig().field_errors() == {}


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("model", "vgg", "unet"),
        ("epochs", 0, "between 1"),
        ("batch_size", -1, "between 1"),
        ("learning_rate", 0.0, "(0, 10)"),
        ("image_size", 100, "multiple of 32"),
        ("width", 2, "between 4"),
        ("scheduler", "step", "cosine"),
        ("device", "tpu", "cuda:N"),
        ("mask_rule", "border", "pet_only"),
        ("warmup_epochs", -1, ">= 0"),
        ("warmup_epochs", 10, "fewer than --epochs (10)"),
        ("ema_decay", 1.0, "[0, 1)"),
        ("ema_decay", -0.5, "[0, 1)"),
        ("augment_strength", "max", "light"),
        ("compile", "fast", "reduce-overhead"),
        ("augment_on", "gpu", "device"),
        ("checkpoint_interval", -1, "seconds"),
        # a time budget of 1e300 seconds or 99999999 hours was taken, while --epochs stops at 100000
        ("time_budget", "1e300", "at most 365d"),
        ("time_budget", "99999999h", "at most 365d"),
        ("time_budget", "366d", "at most 365d"),
    ],
)
def test_invalid_fields_have_messages(field: str, value: object, fragment: str) -> None:
    cfg = TrainConfig(**{field: value})
    assert fragment in cfg.field_errors()[field]
    with pytest.raises(ConfigError, match=f"--{field}"):
        cfg.validate()


def test_round_trip_ignores_unknown_keys() -> None:
    cfg = TrainConfig(model="resnet34_unet", epochs=3)
    data = cfg.to_dict() | {"versions": {"torch": "x"}, "future_field": 1}
    assert TrainConfig.from_dict(data) == cfg


def test_warmup_needs_a_schedule_it_can_precede() -> None:
    assert "plateau" in TrainConfig(warmup_epochs=2, scheduler="plateau").field_errors()["warmup_epochs"]
    assert TrainConfig(warmup_epochs=2, scheduler="none").field_errors() == {}


def test_recipe_knobs_default_to_the_measured_recipe() -> None:
    cfg = TrainConfig()
    assert (cfg.warmup_epochs, cfg.ema_decay, cfg.augment_strength) == (None, 0.0, "light")  # None: auto warm-up
    assert cfg.field_errors() == {}


@pytest.mark.parametrize("epochs, scheduler, warmup", [
    (1, "cosine", 0), (9, "cosine", 0), (10, "cosine", 1), (20, "none", 2), (40, "cosine", 3), (300, "cosine", 3),
    (40, "plateau", 0),
])
def test_auto_warmup_is_three_epochs_a_tenth_of_short_runs_and_none_with_plateau(epochs: int, scheduler: str,
                                                                                 warmup: int) -> None:
    assert auto_warmup_epochs(epochs, scheduler) == warmup
    assert TrainConfig(epochs=epochs, scheduler=scheduler, warmup_epochs=warmup).field_errors() == {}


def test_runs_written_before_compile_modes_still_load() -> None:
    """config.json of older runs stored ``compile`` as a bool."""
    old = TrainConfig().to_dict()
    for stored, mode in ((True, "default"), (False, "off")):
        cfg = TrainConfig.from_dict(old | {"compile": stored})
        assert cfg.compile == mode and cfg.field_errors() == {}
    legacy = {k: v for k, v in old.items() if k not in ("compile", "augment_on", "checkpoint_interval")}
    assert TrainConfig.from_dict(legacy) == TrainConfig()


def test_runs_written_when_smp_augmentation_was_called_default_still_load() -> None:
    cfg = TrainConfig.from_dict(TrainConfig().to_dict() | {"augment_strength": "default"})
    assert cfg.augment_strength == "smp" and cfg.field_errors() == {}


def test_a_time_budget_of_a_year_is_the_longest_taken() -> None:
    assert TrainConfig(time_budget="365d", epochs=None).field_errors() == {}
