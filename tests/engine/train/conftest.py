"""The training tests' fixture: ``tiny``, a factory of small CPU configs on the generated set."""

from __future__ import annotations

from typing import Callable

import pytest

from engine.config import TrainConfig


@pytest.fixture
def tiny(generated_data: str) -> Callable[..., TrainConfig]:
    """A factory of small CPU configs on the generated set; keywords override."""

    def make(**kw) -> TrainConfig:
        base = dict(epochs=2, image_size=64, width=4, batch_size=8, max_train_images=24, workers=0,
                    device="cpu", learning_rate=1e-3, data_path=generated_data)
        base.update(kw)
        return TrainConfig(**base)

    return make
