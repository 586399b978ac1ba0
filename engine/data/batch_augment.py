"""`BatchAugment`: the training augmentations on whole uint8 batches, with torch ops, on any device.

The GPU data path: instead of one albumentations call per sample in DataLoader workers (which
starved an H200: docs/PERFORMANCE.md, "What changed for the GPU path"), a batch of cached uint8
images (B, H, W, 3) and binary masks (B, H, W) is augmented where it already is, in a handful
of batched kernels:

* every geometric step of `AugmentSpec` (horizontal/vertical flip, rotation by k x 90 degrees,
  affine shift-scale-rotate about the centre) is composed into ONE 2x3 matrix per sample, so
  the image is resampled once (bilinear, zeros outside) and the mask with the same grid
  (nearest, so it stays binary and aligned);
* brightness/contrast ``x * alpha + beta`` clipped to [0, 255], then a 3x3 Gaussian blur
  (separable, reflect-101 borders like OpenCV), then normalisation to [-1, 1].

Parameters are drawn per sample from `AugmentSpec` with the same distributions as the
albumentations pipeline (``engine.data.transforms.train_transform``), from a private
``torch.Generator`` on the batch's device: a fixed number of draws per batch, so a run is
reproducible and its augmentation stream can be saved and restored (`get_state`/`set_state`).
Samples whose step does not fire get identity parameters; nothing branches on the data, so the
whole thing runs without a host sync.

Why our own module and not kornia.augmentation: on the same CPU batches it takes half of kornia
0.9's time (``bench/augment_speed.py``, docs/PERFORMANCE.md; kornia resamples once per geometric
augmentation), kornia draws brightness and contrast separately where albumentations draws them
jointly, and it would be one more dependency to carry to a bare GPU box.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

import torch
import torch.nn.functional as F

from engine.data.augment_spec import MEAN, STD, TRAIN_AUGMENT, AugmentSpec

_DRAWS = 15  # uniform numbers per sample, always all of them (a fixed-length stream)


@dataclass
class AugmentParams:
    """Per-sample parameters of one batch (each a tensor of length B on the batch's device).

    ``*_on`` say whether a step fired; the values of a step that did not fire are drawn anyway
    and ignored (so the stream does not depend on the outcome)."""

    hflip_on: torch.Tensor
    vflip_on: torch.Tensor
    rot90_on: torch.Tensor
    rot90_k: torch.Tensor  # 0..3 quarter turns (counter-clockwise, as numpy.rot90)
    affine_on: torch.Tensor
    translate_x: torch.Tensor  # whole pixels
    translate_y: torch.Tensor
    scale_x: torch.Tensor
    scale_y: torch.Tensor
    rotate: torch.Tensor  # degrees
    bc_on: torch.Tensor
    alpha: torch.Tensor  # contrast factor, 1 + c
    beta: torch.Tensor  # brightness offset in pixel units (255 * b)
    blur_on: torch.Tensor
    sigma: torch.Tensor

    def to(self, device: torch.device | str) -> "AugmentParams":
        return AugmentParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


# Constants live on each device once: torch.tensor(..., device="cuda") from host memory is a
# copy that waits for the GPU to finish its queue, which would stall every batch.
@lru_cache(maxsize=None)
def _normalisation(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) per channel, (1, 3, 1, 1): normalised = pixel * scale + shift."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (1.0 / (255.0 * std)).to(device), (-mean / std).to(device)


@lru_cache(maxsize=None)
def _quarter_turns(device: torch.device) -> torch.Tensor:
    """numpy.rot90 by k = 0..3 as forward maps on centred (x, y): k=1 is (x, y) -> (y, -x)."""
    return torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [-1.0, 0.0]],
                         [[-1.0, 0.0], [0.0, -1.0]], [[0.0, -1.0], [1.0, 0.0]]]).to(device)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8/float pixels in [0, 255], (B, 3, H, W) -> float32 normalised like the CPU pipeline."""
    scale, shift = _normalisation(images.device)
    return images.float() * scale + shift


def to_nchw(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) cached layout -> (B, 3, H, W) view (channels_last strides, no copy)."""
    return images.permute(0, 3, 1, 2)


class BatchAugment:
    """Draws per-sample parameters from ``spec`` and applies them to uint8 batches."""

    def __init__(self, spec: AugmentSpec = TRAIN_AUGMENT, device: torch.device | str = "cpu", seed: int = 0) -> None:
        self.spec = spec
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

    # ---- the random stream ---------------------------------------------------------------------
    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state.cpu() if isinstance(state, torch.Tensor) else torch.as_tensor(state))

    def sample(self, batch: int, height: int, width: int) -> AugmentParams:
        """Parameters for ``batch`` samples of ``height`` x ``width`` (15 uniforms per sample)."""
        s = self.spec
        u = torch.rand(batch, _DRAWS, generator=self.generator, device=self.device)

        def between(col: int, lo: float, hi: float) -> torch.Tensor:
            return lo + (hi - lo) * u[:, col]

        return AugmentParams(
            hflip_on=u[:, 0] < s.hflip_p,
            vflip_on=u[:, 1] < s.vflip_p,
            rot90_on=u[:, 2] < s.rot90_p,
            rot90_k=(u[:, 3] * 4).long().clamp_(max=3),
            affine_on=u[:, 4] < s.affine_p,
            # albumentations: int(uniform(-t, t) * size), i.e. truncated towards zero
            translate_x=torch.trunc(between(5, -s.translate, s.translate) * width),
            translate_y=torch.trunc(between(6, -s.translate, s.translate) * height),
            scale_x=between(7, s.scale_min, s.scale_max),
            scale_y=between(8, s.scale_min, s.scale_max),
            rotate=between(9, -s.rotate, s.rotate),
            bc_on=u[:, 10] < s.brightness_contrast_p,
            alpha=1.0 + between(11, -s.contrast, s.contrast),
            beta=255.0 * between(12, -s.brightness, s.brightness),
            blur_on=u[:, 13] < s.blur_p,
            sigma=between(14, s.blur_sigma_min, s.blur_sigma_max),
        )

    # ---- applying ------------------------------------------------------------------------------
    def __call__(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images (B, H, W, 3) and 0/1 masks (B, H, W) -> normalised float32 images
        (B, 3, H, W) and float32 masks (B, 1, H, W), augmented with freshly drawn parameters."""
        b, h, w = images.shape[0], images.shape[1], images.shape[2]
        return self.apply(images, masks, self.sample(b, h, w))

    def apply(self, images: torch.Tensor, masks: torch.Tensor, p: AugmentParams) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply given parameters (see `__call__` for shapes)."""
        x = to_nchw(images).float()
        m = masks.unsqueeze(1).float()
        theta = sampling_matrices(p, x.shape[-2], x.shape[-1])
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        m = F.grid_sample(m, grid, mode="nearest", padding_mode="zeros", align_corners=False)

        # brightness/contrast and normalisation as one affine map per sample and channel, and the
        # clip to [0, 255] in normalised units; then the blur (linear, its kernel sums to 1, so
        # it commutes with the normalisation)
        one, zero = torch.ones_like(p.alpha), torch.zeros_like(p.beta)
        alpha = torch.where(p.bc_on, p.alpha, one).view(-1, 1, 1, 1)
        beta = torch.where(p.bc_on, p.beta, zero).view(-1, 1, 1, 1)
        scale, shift = _normalisation(x.device)
        x = torch.addcmul(beta * scale + shift, x, alpha * scale)
        x = torch.clamp(x, min=shift, max=255.0 * scale + shift)
        x = gaussian_blur3(x, torch.where(p.blur_on, p.sigma, zero))
        return x, m


def sampling_matrices(p: AugmentParams, height: int, width: int) -> torch.Tensor:
    """(B, 2, 3) ``affine_grid`` matrices: output -> input, in normalised coordinates.

    Built as the forward map in pixel coordinates centred on the image centre (the convention
    of albumentations/OpenCV, pixel centres at integers, centre at ((W-1)/2, (H-1)/2)):
    dst = Affine(Rot90^k(VFlip(HFlip(src)))), i.e. ``dst = M @ src + t`` with
    M = R(angle) S(sx, sy) Q^k V H; then inverted (in closed form: ``torch.linalg.inv`` checks
    for singular matrices on the host, a sync per batch) and rescaled for ``align_corners=False``.
    """
    dtype = torch.float32
    b = p.hflip_on.shape[0]
    dev = p.hflip_on.device
    one = torch.ones(b, device=dev, dtype=dtype)
    hx = torch.where(p.hflip_on, -one, one)
    vy = torch.where(p.vflip_on, -one, one)
    flips = torch.diag_embed(torch.stack([hx, vy], dim=1))  # (B, 2, 2)

    k = torch.where(p.rot90_on, p.rot90_k, torch.zeros_like(p.rot90_k))
    rot90 = _quarter_turns(dev)[k]

    angle = torch.deg2rad(torch.where(p.affine_on, p.rotate.to(dtype), torch.zeros_like(one)))
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)
    sx = torch.where(p.affine_on, p.scale_x.to(dtype), one)
    sy = torch.where(p.affine_on, p.scale_y.to(dtype), one)
    scale = torch.diag_embed(torch.stack([sx, sy], dim=1))
    t = torch.stack([torch.where(p.affine_on, p.translate_x.to(dtype), 0 * one),
                     torch.where(p.affine_on, p.translate_y.to(dtype), 0 * one)], dim=1)  # (B, 2)

    m = rot @ scale @ rot90 @ flips
    a, b_, c, d_ = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    det = a * d_ - b_ * c  # sx * sy * (+-1): never 0 for scales in AugmentSpec's range
    i00, i01, i10, i11 = d_ / det, -b_ / det, -c / det, a / det  # M^-1
    # src_n = D M^-1 D^-1 dst_n - D M^-1 t, D = diag(2/W, 2/H)
    dx, dy = 2.0 / width, 2.0 / height
    tx, ty = t[:, 0], t[:, 1]
    row_x = torch.stack([i00, i01 * (dx / dy), -dx * (i00 * tx + i01 * ty)], dim=1)
    row_y = torch.stack([i10 * (dy / dx), i11, -dy * (i10 * tx + i11 * ty)], dim=1)
    return torch.stack([row_x, row_y], dim=1)


def gaussian_blur3(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """3x3 Gaussian blur with a per-sample ``sigma`` (0 = unchanged, exactly), reflect-101
    borders (OpenCV's default, which albumentations' GaussianBlur uses): one depthwise
    convolution over all samples and channels."""
    b, c, h, w = x.shape
    s = sigma.clamp(min=1e-6)
    side = torch.where(sigma > 0, torch.exp(-0.5 / (s * s)), torch.zeros_like(s))  # tap at distance 1
    taps = torch.stack([side, torch.ones_like(side), side], dim=1) / (1.0 + 2.0 * side).unsqueeze(1)  # (B, 3)
    kernel = (taps.unsqueeze(2) * taps.unsqueeze(1)).repeat_interleave(c, dim=0).unsqueeze(1)  # (B*C, 1, 3, 3)
    padded = F.pad(x.reshape(1, b * c, h, w), (1, 1, 1, 1), mode="reflect")
    return F.conv2d(padded, kernel.to(x.dtype), groups=b * c).view(b, c, h, w)

