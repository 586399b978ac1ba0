"""split_trainval: sizes, which indices go to validation, order and determinism."""

import pytest

from engine.data.splits import borrow_valid, split_trainval


def test_hundred_names_split_90_10():
    names = [f"n{i:03d}" for i in range(100)]
    train, valid = split_trainval(names)
    assert (len(train), len(valid)) == (90, 10)
    assert valid == [f"n{i:03d}" for i in range(9, 100, 10)]
    assert set(train) | set(valid) == set(names) and not set(train) & set(valid)
    assert train == [n for n in names if n not in valid]  # order preserved


def test_deterministic_and_other_period():
    names = [f"x{i}" for i in range(23)]
    assert split_trainval(names, 5) == split_trainval(list(names), 5)
    train, valid = split_trainval(names, 5)
    assert valid == ["x4", "x9", "x14", "x19"] and len(train) == 19


def test_fewer_names_than_period_gives_empty_valid():
    assert split_trainval(["a", "b"], 10) == (["a", "b"], [])


def test_bad_period():
    with pytest.raises(ValueError):
        split_trainval(["a"], 1)


def test_borrow_valid_lends_the_last_train_name_only_when_valid_is_empty():
    assert borrow_valid(["a", "b", "c"], []) == (["a", "b"], ["c"])
    assert borrow_valid(["a", "b"], ["v"]) == (["a", "b"], ["v"])
    assert borrow_valid(["a"], []) == (["a"], [])  # one image cannot be both


def test_the_seed_flag_does_not_claim_to_seed_the_split():
    """The split takes no seed (every Nth name); --seed's help said it seeded the split, which
    read as 'another seed, another validation set' (e.g. for a cross-validation by seeds)."""
    from engine.config import config_fields

    help_text = next(f.spec.help for f in config_fields() if f.name == "seed")
    assert "seed of the split" not in help_text and "valid_every" in help_text
