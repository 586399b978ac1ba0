"""Oxford-IIIT Pet trimap values and THE rule that turns a trimap into a binary pet mask.

The official trimaps (``annotations/trimaps/NAME.png``) hold three values:

* ``1`` (``PET``): the animal,
* ``2`` (``BACKGROUND``): everything else,
* ``3`` (``BORDER``): a thin "not sure" band along the animal's outline.

Two rules map them to a 0/1 mask (1 = pet):

* ``"pet_border"`` (default): PET and BORDER are pet, BACKGROUND is 0. This is the convention
  of segmentation_models_pytorch's Oxford Pet example; the border band is mostly fur, so counting
  it as pet gives fuller silhouettes.
* ``"pet_only"``: only PET is pet; BORDER counts as background.

Every other module calls ``trimap_to_mask``; nothing else hard-codes the rule.
"""

from __future__ import annotations

import numpy as np

PET = 1
BACKGROUND = 2
BORDER = 3
TRIMAP_VALUES = (PET, BACKGROUND, BORDER)

MASK_RULES = ("pet_border", "pet_only")


def trimap_to_mask(trimap: np.ndarray, rule: str = "pet_border") -> np.ndarray:
    """Binary uint8 mask (1 = pet) of the same shape as ``trimap`` under ``rule``."""
    if rule == "pet_border":
        mask = (trimap == PET) | (trimap == BORDER)
    elif rule == "pet_only":
        mask = trimap == PET
    else:
        raise ValueError(f"unknown mask rule {rule!r}; expected one of {', '.join(MASK_RULES)}")
    return mask.astype(np.uint8)
