"""Splitting the official trainval list into train and validation, deterministically.

Rule: the image at index ``i`` (0-based, in list order) goes to validation when
``i % valid_every == valid_every - 1``, i.e. the 10th, 20th, ... image for the default 10.
Taking every Nth image (rather than a random sample) spreads validation evenly over the list,
which in the official files is sorted by breed, so every breed is represented; it needs no
seed and is the same on every machine. Order is preserved in both parts.

A folder with no name on the rule (fewer images than ``valid_every``, e.g. a handful of photos
without list files) validates on its last train image (`borrow_valid`) rather than on nothing.
Training and ``petseg eval --split valid`` both take the split from
``engine.data.layout.PetLayout.train_valid_names``, so they score the same photos.
"""

from __future__ import annotations


def split_trainval(names: list[str], valid_every: int = 10) -> tuple[list[str], list[str]]:
    """(train, valid) from ``names``: every ``valid_every``-th name (the last of each group) is valid."""
    if valid_every < 2:
        raise ValueError(f"valid_every must be >= 2, got {valid_every}")
    train = [n for i, n in enumerate(names) if i % valid_every != valid_every - 1]
    valid = [n for i, n in enumerate(names) if i % valid_every == valid_every - 1]
    return train, valid


def borrow_valid(train: list[str], valid: list[str]) -> tuple[list[str], list[str]]:
    """(train, valid) unchanged, unless ``valid`` is empty and ``train`` has at least 2 names:
    then the last train name validates (a run needs a validation image to pick its best.pt)."""
    if valid or len(train) < 2:
        return train, valid
    return train[:-1], train[-1:]
