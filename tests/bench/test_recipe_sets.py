"""``--set FIELD=VALUE`` of the quality scripts (bench/results.py, bench/recipe_sweep.py): typed
by the TrainConfig field, including fields whose default is None (auto)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _recipe import parse_sets  # noqa: E402

from engine.config import TrainConfig  # noqa: E402


def test_the_old_recipe_can_be_asked_for() -> None:
    sets = parse_sets(["augment_strength=smp", "warmup_epochs=0", "ema_decay=0.99", "channels_last=no"])
    assert sets == {"augment_strength": "smp", "warmup_epochs": 0, "ema_decay": 0.99, "channels_last": False}
    TrainConfig(**sets).validate()  # warmup_epochs 0 is an int, not the string "0"


def test_an_auto_field_takes_a_number_or_auto() -> None:
    assert parse_sets(["warmup_epochs=auto", "max_train_images=64"]) == {"warmup_epochs": None,
                                                                       "max_train_images": 64}


@pytest.mark.parametrize("item, fragment", [("warmup_epochs=two", "not an integer"), ("nope=1", "TrainConfig field"),
                                            ("ema_decay", "FIELD=VALUE")])
def test_a_bad_item_is_named(item: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as err:
        parse_sets([item])
    assert item in str(err.value)
