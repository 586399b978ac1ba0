"""The parity figures themselves (`engine.export.parity.measure`), with stand-in models: no export."""

from __future__ import annotations

import numpy as np
import pytest

from engine.export import parity


@pytest.fixture(scope="module")
def pairs():
    try:
        return parity.test_pairs(4)
    except Exception as exc:  # the bundled sample is part of the package; say so if it is not here
        pytest.skip(f"bundled sample missing: {exc}")


def _ramp(x: np.ndarray) -> np.ndarray:
    """A probability that rises left to right: half the pixels pet, none saturated."""
    n, _, h, w = x.shape
    return np.broadcast_to(np.linspace(0.05, 0.95, w, dtype=np.float32), (n, 1, h, w)).copy()


def _measure(pairs, exported, size=(64, 64)):
    return parity.measure(_ramp, exported, pairs, size, mean=(0.5,) * 3, std=(0.5,) * 3, threshold=0.5,
                          mask_rule="pet_border")


def test_identical_models_agree_exactly(pairs):
    p = _measure(pairs, _ramp)
    assert (p.photos, p.height, p.width) == (4, 64, 64)
    assert p.max_abs_diff == 0 and p.mean_abs_diff == 0 and p.mask_agreement == pytest.approx(1.0) and p.ok
    assert p.dice_pytorch == p.dice_export


def test_small_differences_are_measured_and_a_flipped_mask_is_refused(pairs):
    p = _measure(pairs, lambda x: _ramp(x) + 1e-3)
    assert p.max_abs_diff == pytest.approx(1e-3, rel=1e-2) and p.mean_abs_diff == pytest.approx(1e-3, rel=1e-2)
    assert p.ok  # no ramp value lies within 1e-3 below the threshold, so no mask pixel changes
    flipped = _measure(pairs, lambda x: 1 - _ramp(x))
    assert flipped.mask_agreement < 0.1 and not flipped.ok
    assert "< 0.999" in flipped.line()


def test_a_dynamic_export_is_checked_at_a_second_non_square_size():
    assert parity.parity_sizes(256, 32, False) == [(256, 256)]
    assert parity.parity_sizes(256, 32, True) == [(256, 256), (288, 224)]
    assert parity.parity_sizes(32, 32, True)[1] == (64, 32)  # never below one stride


def test_the_parity_line_says_its_photos_are_the_bundled_ones_not_the_runs_data() -> None:
    """A run trained on /data/oxford-pet-sample (198 test photos too) exported with "96x96, 198 test
    photos: ... Dice vs trimaps PyTorch 0.8058" while `petseg eval` of the same model on its own
    test photos read 0.8090: the line said not that these are the sample bundled with petseg."""
    line = parity.Parity(height=96, width=96, photos=198, max_abs_diff=1e-5, mean_abs_diff=1e-7,
                         mask_agreement=1.0, dice_pytorch=0.8058, dice_export=0.8058).line()
    assert line.startswith("96x96, 198 bundled test photos:"), line
