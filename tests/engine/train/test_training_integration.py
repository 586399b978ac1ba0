"""Integration: a small UNet trained for 2 epochs (64 px) on the default data (the real training sample
bundled with the package) must beat the all-foreground baseline on real validation photos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.config import TrainConfig
from engine.runs import RunStore
from engine.train.trainer import Trainer


def all_foreground_dice(dataset) -> float:
    """Dice of predicting 'pet' everywhere, pooled over the split: 2|T| / (N + |T|)."""
    target = 0.0
    total = 0.0
    for _, mask in dataset:
        m = np.asarray(mask)
        target += float(m.sum())
        total += float(m.size)
    return 2 * target / (total + target)


@pytest.mark.slow
def test_unet_two_epochs_beats_all_foreground_baseline(tmp_path: Path) -> None:
    from engine.data.source import resolve_data_source
    from engine.data.samples import training_sample_dir

    source = resolve_data_source(None)
    assert (source.kind, source.path) == ("real", training_sample_dir())
    # width 8: margins over the baseline of 0.12-0.19 Dice here (seeds 0-2, fp32 and bf16) for the
    # 0.02 asked, in 6 CPU-seconds; width 16 gave 0.19 in 16-20
    config = TrainConfig(epochs=2, image_size=64, width=8, batch_size=8, learning_rate=2e-3,
                         workers=0, device="cpu", max_train_images=160)
    trainer = Trainer(config, tmp_path)
    trainer.run()
    assert trainer.state == "finished", trainer.error
    baseline = all_foreground_dice(trainer.bundle.valid)
    history = RunStore(tmp_path).load(trainer.run_name)
    last = history.last_epoch
    print(f"valid Dice {last.valid_dice:.4f} vs all-foreground baseline {baseline:.4f}")
    assert 0.0 < baseline < 1.0
    assert last.valid_dice > baseline + 0.02
