"""Building blocks shared by the segmentation models: the U-Net ``DoubleConv``."""

from __future__ import annotations

from torch import Tensor, nn


class DoubleConv(nn.Module):
    """(3×3 conv → BatchNorm → ReLU) × 2, as in Ronneberger et al. with BN added.

    The convolutions have no bias because the BatchNorm right after them has its own shift.
    Padding 1 keeps the spatial size, so skips and upsampled maps line up without cropping.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x)
