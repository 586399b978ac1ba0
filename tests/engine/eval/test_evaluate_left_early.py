"""score_photos left early (a SIGTERM's exception raised in the scoring, a failed batch): the
photos queued for decoding are dropped, not decoded for nothing before the exception leaves."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


class _Half(torch.nn.Module):
    """Pet probability 0.5 everywhere: what it scores does not matter here."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 1, *x.shape[2:])


def _pair(folder: Path, name: str) -> tuple[str, Path, Path]:
    image, trimap = folder / f"{name}.png", folder / f"{name}-trimap.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(image)
    Image.fromarray(np.full((8, 8), 1, dtype=np.uint8)).save(trimap)
    return name, image, trimap


class _Stop(Exception):
    """Stands for the exception a signal's handler raises in the main thread (entry.Terminated)."""


def test_an_exception_in_the_scoring_drops_the_queued_decodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.data.cache as cache
    from engine.eval.evaluate import score_photos
    from engine.infer.inference import Predictor

    items = [_pair(tmp_path, f"p{i:02d}") for i in range(30)]
    first_batch = {str(items[i][1]) for i in range(4)}
    started: list[str] = []
    let_go = threading.Event()
    decode = cache.decode_pair

    def held_decode(image_path: Path, trimap_path: Path):  # the first batch at once, the rest held
        started.append(str(image_path))
        if str(image_path) not in first_batch:
            let_go.wait(2)  # the old code waited for these: its failure takes ~8 s, not for good
        return decode(image_path, trimap_path)

    def stop(done: int, total: int) -> None:
        raise _Stop

    monkeypatch.setattr(cache, "decode_pair", held_decode)
    try:
        # 2 threads, a look-ahead of 8 photos: 4 scored, 2 decoding (held), 6 queued when _Stop comes
        with pytest.raises(_Stop):
            score_photos(Predictor(_Half(), image_size=8, arch_name="half", mask_rule="pet_border"), items, batch_size=4, threads=2, on_progress=stop)
        left = len(started)
    finally:
        let_go.set()
    # the old code waited for the held decodes, then decoded every queued photo: 12
    assert left <= 4 + 2, f"{left} photos decoded for a scoring that ended after 4: {sorted(started)}"
