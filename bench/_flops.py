"""FLOPs of a forward pass (counted by torch.utils.flop_counter, not estimated) and MFU.

MFU (model FLOPs utilisation) = images/s x 3 x forward FLOPs per image / the card's peak dense
bf16 FLOP/s. The factor 3 is the usual forward + backward (backward ~ 2x forward) count.
"""

from __future__ import annotations

from functools import lru_cache

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, in TFLOP/s; matched
# against torch.cuda.get_device_name in this order (the first substring that matches wins).
PEAK_BF16_TFLOPS = (
    ("H200", 989.4),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),  # SXM
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("A10", 125.0),
)


@lru_cache(maxsize=None)
def forward_flops(model: str, width: int, image_size: int) -> float:
    """FLOPs of one image's forward pass (multiply-adds count 2), counted on the meta device."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from engine.models import build_model

    net = build_model(model, width=width).to("meta").eval()
    x = torch.empty(1, 3, image_size, image_size, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x)
    return float(counter.get_total_flops())


def peak_bf16_flops(device_name: str) -> float | None:
    """The card's dense bf16 peak in FLOP/s, or None if it is not in the table."""
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in device_name:
            return tflops * 1e12
    return None


def mfu(images_per_s: float, fwd_flops: float, peak: float | None) -> float | None:
    return images_per_s * 3 * fwd_flops / peak if peak else None
