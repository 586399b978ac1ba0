"""Restoring a last.pt into a run (engine.train.checkpoint_state.restore), as it happens on a GPU.

No GPU here: a CUDA run's part that matters is that ``torch.load(map_location=<the run's device>)``
puts every tensor of the file on that device, the random-stream states included, while the
generators (torch's CPU one, the loader's shuffling one, numpy through ``.numpy()``) accept only
CPU tensors. The stand-in for "on the GPU" is the meta device: like a CUDA tensor, a meta tensor
is neither a CPU ByteTensor nor readable by numpy.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from engine import checkpoint
from engine.config import TrainConfig
from engine.models import build_model
from engine.train import checkpoint_state


def _on_device(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return torch.empty_like(obj, device="meta")
    if isinstance(obj, dict):
        return {k: _on_device(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_on_device(v) for v in obj)
    return obj


def _load_as_torch_does(path: Any, map_location: Any = "cpu") -> dict[str, Any]:
    """load_checkpoint, with what map_location=cuda does to the random-stream states (see the
    module docstring; the weights would land on the device the run's model is on, which loads
    them: here they stay on the CPU, where this test's model is)."""
    ckpt = checkpoint.load_checkpoint(path, map_location="cpu")
    if torch.device(map_location).type != "cpu":
        ckpt["rng"] = _on_device(ckpt["rng"])
    return ckpt


def test_a_cuda_run_resumes_with_its_random_streams_restored(finished_tiny_run: Path, monkeypatch) -> None:
    monkeypatch.setattr(checkpoint_state, "load_checkpoint", _load_as_torch_does)
    last = finished_tiny_run / "checkpoints" / "last.pt"
    if not last.exists():
        last = next(finished_tiny_run.rglob("last.pt"))
    saved = checkpoint.load_checkpoint(last)
    config = TrainConfig.from_dict(saved["config"])
    model = build_model(config.model, width=config.width)
    loader = SimpleNamespace(generator=torch.Generator(), set_augment_state=lambda state: True)
    t = SimpleNamespace(
        device=torch.device("cuda"), model=model, ema=None,
        optimizer=torch.optim.Adam(model.parameters(), lr=config.learning_rate), scheduler=None,
        scaler=torch.amp.GradScaler("cuda", enabled=False), budget=None, train_loader=loader,
        augment_on="device", bundle=None,
    )
    torch.manual_seed(12345)  # streams that differ from the saved ones

    progress = checkpoint_state.restore(t, last, config)

    assert progress.done_epoch == saved["epoch"]
    assert torch.equal(torch.get_rng_state(), saved["rng"]["torch"])
    assert torch.equal(loader.generator.get_state(), saved["rng"]["loader"])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved["model"].items())
