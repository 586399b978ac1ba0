"""``--compile auto``: which mode a run gets (engine.train.compile.resolve_compile)."""

from __future__ import annotations

import torch

from engine.train.compile import AUTO_CUDA, resolve_compile

CUDA, CPU = torch.device("cuda", 0), torch.device("cpu")
LONG = AUTO_CUDA.min_steps


def test_auto_compiles_a_long_single_process_cuda_run_with_the_measured_mode() -> None:
    assert resolve_compile("auto", CUDA, LONG) == AUTO_CUDA.mode
    assert resolve_compile("auto", CUDA, LONG - 1) == "off"  # too short to win the compile time back
    assert resolve_compile("auto", CPU, LONG) == "off"


def test_auto_does_not_compile_a_data_parallel_run() -> None:
    """The measured mode adds CUDA graphs, which DDP with BatchNorm skips (pytorch/pytorch#139207):
    a data-parallel rank got reduce-overhead's compile time without its speed."""
    assert resolve_compile("auto", CUDA, LONG, data_parallel=True) == "off"


def test_a_mode_the_user_names_is_kept_under_data_parallel() -> None:
    assert resolve_compile("reduce-overhead", CUDA, 10, data_parallel=True) == "reduce-overhead"
    assert resolve_compile("default", CPU, 10, data_parallel=True) == "default"
