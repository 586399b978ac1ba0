"""``--compile``: what each mode means for a training run, and the rule behind ``auto``.

Modes are torch.compile's (inductor) modes, plus ``off`` and ``auto``:

* ``default``: fused kernels, no CUDA graphs;
* ``reduce-overhead``: adds CUDA graphs (fewer kernel launches; helps small, launch-bound steps);
* ``max-autotune``: also benchmarks Triton templates for convolutions and matmuls (slow to
  compile), with CUDA graphs; ``max-autotune-no-cudagraphs`` without them.

Only the training forward/backward is compiled; validation runs the eager module (a compiled
eval graph, and one more for the last, smaller batch, would cost more compile time than the
few validation batches can win back).

``auto`` follows `AUTO_CUDA`: on CUDA, its ``mode`` when the run has at least ``min_steps``
optimisation steps (so that minutes of compilation can pay back), else off; on CPU always off
(compiling takes minutes on a small CPU). `AUTO_CUDA` is THE constant to set from the
measurement: ``bench/gpu_check.py`` times every mode on the GPU box and prints the line to
paste here.

A data-parallel run's ``auto`` is ``off``: the measurement was of one process, and CUDA graphs
under DistributedDataParallel are skipped for a model with BatchNorm (its running statistics
become mutated graph inputs once DDP splits the graph at its buckets), a slowdown PyTorch still
has open (pytorch/pytorch#139207), while ``default`` measured no faster than ``off`` on one GPU.
A user can still ask for any mode with ``--compile MODE``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


@dataclass(frozen=True)
class AutoCompile:
    mode: str  # a COMPILE_MODES value other than auto
    min_steps: int  # runs with fewer optimisation steps train uncompiled


# The mode bench/gpu_check.py measured fastest; min_steps is twice the steps it needs to win its
# compile time back (docs/PERFORMANCE.md, "Measured on the GPU").
AUTO_CUDA = AutoCompile(mode="reduce-overhead", min_steps=4000)


def resolve_compile(requested: str, device: torch.device, total_steps: int, data_parallel: bool = False) -> str:
    """The mode a run uses: ``off`` or a torch.compile mode (see the module docstring);
    ``data_parallel``: the run is one of several processes under DDP."""
    if requested != "auto":
        return requested
    if device.type != "cuda" or total_steps < AUTO_CUDA.min_steps or data_parallel:
        return "off"
    return AUTO_CUDA.mode


def compile_model(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    """``model`` itself for ``off``, else its torch.compile wrapper in ``mode``."""
    if mode == "off":
        return model
    return torch.compile(model, mode=None if mode == "default" else mode, dynamic=False)


def uses_cuda_graphs(mode: str) -> bool:
    """True when every training step must first call ``torch.compiler.cudagraph_mark_step_begin``."""
    return mode in CUDA_GRAPH_MODES
