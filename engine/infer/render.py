"""Turning a predicted mask into pictures: mask image, colour overlay with outline, PNG save.

Pure numpy/Pillow and no torch import, so the TUI can draw results without paying for
torch at start-up; ``engine.infer.inference`` re-exports these for callers that already have it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.atomic import atomic_write
from engine.errors import PetsegError, first_line

Color = tuple[int, int, int]


def as_bool_mask(mask: np.ndarray) -> np.ndarray:
    """Foreground as bool: bool as-is, floats (probabilities) above 0.5, integers above 0."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"mask must be H×W, got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.floating):
        return mask > 0.5
    return mask > 0


def mask_to_image(mask: np.ndarray) -> Image.Image:
    """The mask as a greyscale image: pet white (255), background black (0)."""
    return Image.fromarray(as_bool_mask(mask).astype(np.uint8) * 255)


def mask_edges(mask: np.ndarray, thickness: int = 1) -> np.ndarray:
    """Inner boundary of the mask, ``thickness`` px wide: mask XOR (mask eroded by 3×3).

    The image frame does not count as a boundary (edge pixels are replicated before
    eroding), so a pet cut off by the photo's edge is not outlined along it.
    """
    m = as_bool_mask(mask)
    eroded = m
    for _ in range(max(1, thickness)):
        p = np.pad(eroded, 1, mode="edge")
        h, w = eroded.shape
        nxt = np.ones_like(eroded)
        for dy in range(3):
            for dx in range(3):
                nxt &= p[dy : dy + h, dx : dx + w]
        eroded = nxt
    return m & ~eroded


def contrasting_color(color: Color) -> Color:
    """A colour that stands out against ``color``: its complement, or black/white if that is grey."""
    r, g, b = (int(c) for c in color)
    comp = (255 - r, 255 - g, 255 - b)
    if sum(abs(a - c) for a, c in zip(comp, (r, g, b))) >= 192:
        return comp
    luminance = 0.299 * r + 0.587 * g + 0.114 * b
    return (0, 0, 0) if luminance > 127 else (255, 255, 255)


def overlay_image(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    alpha: float = 0.45,
    color: Color = (255, 64, 64),
    outline: bool = True,
    fill: bool = True,
    outline_color: Color | None = None,
    thickness: int | None = None,
) -> Image.Image:
    """RGB picture of ``image`` with the mask tinted by ``color`` and its boundary outlined.

    ``alpha`` is the tint's opacity over the pet. The outline is ``thickness`` px; by default
    1 px, 2 px on images whose longest side is 512 px or more (so it survives downscaled
    display), drawn in ``outline_color`` (default: `contrasting_color` of ``color``).
    """
    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image must be H×W×3, got shape {rgb.shape}")
    m = as_bool_mask(mask)
    if m.shape != rgb.shape[:2]:
        raise ValueError(f"mask {m.shape} and image {rgb.shape[:2]} differ in size")
    out = rgb.astype(np.float32)
    if fill and alpha > 0:
        tint = np.asarray(color, dtype=np.float32)
        out[m] = out[m] * (1.0 - alpha) + tint * alpha
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if outline:
        if thickness is None:
            thickness = 2 if max(m.shape) >= 512 else 1
        out[mask_edges(m, thickness)] = outline_color or contrasting_color(color)
    return Image.fromarray(out)


def save_png(img: Image.Image | np.ndarray, path: str | Path) -> Path:
    """Write ``img`` as PNG atomically (temp file + rename); parent folders are created.

    A crash mid-write never leaves a half-written PNG at ``path``. The PNG carries petseg's
    ``Software`` text chunk (`engine.infer.outputs`), which marks it as safe to replace later. Raises
    PetsegError with one line naming the file if it cannot be written. Callers writing to a path
    the user named check it first with `engine.infer.outputs.check_output`.
    """
    from engine.infer.outputs import png_info

    path = Path(path)
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda fh: img.save(fh, format="PNG", pnginfo=png_info()))
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or first_line(exc)
        raise PetsegError(f"{path}: cannot write PNG ({reason})") from None
    return path
