"""Helpers of the `petseg` command's tests: the check that a command failed with one error line
(no traceback) saying what it must, and a photo written in any Pillow mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def one_error_line(capsys: pytest.CaptureFixture, must_contain: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("petseg: error:"), err
    assert "\n" not in err and "Traceback" not in err
    assert must_contain in err
    return err


def write_image(path: Path, mode: str, size=(40, 30)) -> Path:
    if mode == "I;16":
        arr = (np.linspace(0, 65535, size[0] * size[1]).reshape(size[1], size[0])).astype(np.uint16)
        Image.fromarray(arr).save(path)
    else:
        Image.new(mode, size, color=(128,) * len(mode) if mode != "L" else 128).save(path)
    return path
