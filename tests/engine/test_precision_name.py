"""Full precision has one name (engine.config.FULL_PRECISION), torch-free: what config.json records
for a run trained without autocast is what `petseg eval` reads as "no reduced precision"."""

from __future__ import annotations

import json
from pathlib import Path

from engine.cli.eval import validated_in
from engine.config import FULL_PRECISION
from engine.train.config_record import dtype_name


def test_a_run_recorded_in_full_precision_is_not_called_reduced_by_eval(tmp_path: Path) -> None:
    run = tmp_path / "fp-run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": "unet", "amp_resolved": dtype_name(None)}))
    assert dtype_name(None) == FULL_PRECISION
    assert validated_in(run / "checkpoints" / "best.pt") == FULL_PRECISION


def test_a_run_recorded_in_bfloat16_is_called_reduced_by_eval(tmp_path: Path) -> None:
    import torch

    run = tmp_path / "bf16-run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": "unet", "amp_resolved": dtype_name(torch.bfloat16)}))
    assert validated_in(run / "checkpoints" / "best.pt") == "bfloat16"
