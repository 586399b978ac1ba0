"""Trimap -> mask rules: every trimap value under both rules, and the unknown-rule error."""

import numpy as np
import pytest

from engine.data.masks import BACKGROUND, BORDER, PET, trimap_to_mask


def test_trimap_values_are_the_oxford_ones():
    assert (PET, BACKGROUND, BORDER) == (1, 2, 3)


@pytest.mark.parametrize(
    "rule, expected",
    [("pet_border", [1, 0, 1]), ("pet_only", [1, 0, 0])],
)
def test_each_value_under_each_rule(rule, expected):
    trimap = np.array([[PET, BACKGROUND, BORDER]], dtype=np.uint8)
    mask = trimap_to_mask(trimap, rule)
    assert mask.dtype == np.uint8
    assert mask.tolist() == [expected]


def test_default_rule_is_pet_border():
    trimap = np.array([[BORDER]], dtype=np.uint8)
    assert trimap_to_mask(trimap).tolist() == [[1]]


def test_unknown_rule_raises_value_error():
    with pytest.raises(ValueError, match="pet_border"):
        trimap_to_mask(np.ones((2, 2), np.uint8), "border_only")
