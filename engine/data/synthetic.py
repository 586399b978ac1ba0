"""A generated, pet-like stand-in for Oxford-IIIT Pet, written in the official folder layout.

Used when no real training data is available (no internet, CI): the whole pipeline (layout,
lists, decoding, cache, augmentation, training) runs on it unchanged. Each sample is a textured
"pet" (lobed body, head with two ears, fur-like streaky noise in two or three colours, shading)
on a cluttered background (gradient, rectangles, noise; sometimes in the pet's own colours so
the task is not a colour threshold). The trimap has 1 = pet, 2 = background and a BORDER band
(3) a few pixels wide straddling the outline, like the real trimaps.

Layout written under ``root``::

    images/NAME.jpg                    RGB JPEG, sizes and aspect ratios vary around ``size``
    annotations/trimaps/NAME.png       uint8 L, values 1/2/3
    annotations/trainval.txt           "NAME CLASS_ID SPECIES BREED_ID" per line (official format)
    annotations/test.txt
    README.md                          says it is generated

Names follow the official capitalisation: cats capitalised (``Synthcat_12``), dogs lower case
(``synthdog_7``). Every sample has its own RNG seeded from (seed, split, index), so output is
byte-identical for the same arguments.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from engine.data.dirs import cache_root
from engine.data.masks import BACKGROUND, BORDER, PET
from engine.errors import DatasetError

GENERATOR_VERSION = 1
MARKER = ".petseg-generated.json"  # written last: its presence means the folder is complete

# (name, CLASS_ID, SPECIES (1 cat, 2 dog), BREED_ID) in the official list-file convention.
_CLASSES = (("Synthcat", 1, 1, 1), ("synthdog", 2, 2, 1))

_PET_COLOURS = np.array(
    [
        [200, 120, 50],  # ginger
        [40, 35, 30],  # black
        [235, 230, 220],  # white
        [120, 85, 60],  # brown
        [140, 140, 140],  # grey
        [210, 180, 130],  # cream
    ],
    dtype=np.float32,
)

_README = """# Generated pet-like dataset (NOT real photographs)

Written by `engine.data.synthetic.generate_pet_dataset` (generator version {version}) with
n_trainval={n_trainval}, n_test={n_test}, size={size}, seed={seed}.

Synthetic textured blobs with ears on cluttered backgrounds, in the official Oxford-IIIT Pet
layout (`images/`, `annotations/trimaps/` with 1 pet, 2 background, 3 border, and
`annotations/trainval.txt` / `test.txt`). It lets the pipeline run without the real dataset;
models trained on it say nothing about real pets.
"""


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a small random grid upsampled smoothly."""
    grid = rng.random((cells, cells), dtype=np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC).clip(0.0, 1.0)


def _fur(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Streaky noise in about [-1, 1]: white noise smeared along a random direction."""
    noise = rng.standard_normal((h, w)).astype(np.float32)
    length = int(rng.integers(5, 10))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    angle = float(rng.uniform(0, 180))
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    kernel /= max(float(kernel.sum()), 1e-6)
    streaks = cv2.filter2D(noise, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return streaks / (float(streaks.std()) + 1e-6) / 3.0


def _pet_shape(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(mask bool HxW, normalised radius field used for shading)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    m = min(h, w)
    cx = w * rng.uniform(0.35, 0.65)
    cy = h * rng.uniform(0.45, 0.7)
    a = m * rng.uniform(0.2, 0.32)  # body half-axes
    b = a * rng.uniform(0.55, 0.9)
    theta = rng.uniform(-0.6, 0.6)
    c, s = np.cos(theta), np.sin(theta)
    xr = ((xx - cx) * c + (yy - cy) * s) / a
    yr = (-(xx - cx) * s + (yy - cy) * c) / b
    r = np.sqrt(xr**2 + yr**2)
    ang = np.arctan2(yr, xr)
    lobes = np.ones_like(r)
    for k in range(2, 6):  # irregular outline: a few low harmonics
        lobes += rng.uniform(0.0, 0.12) * np.cos(k * ang + rng.uniform(0, 2 * np.pi))
    body = r < lobes
    # Head: a circle sitting on the upper end of the body, with two triangular ears.
    side = rng.choice([-1.0, 1.0])
    hx = cx + side * a * c * rng.uniform(0.6, 0.9)
    hy = cy - b * rng.uniform(0.6, 1.0)
    hr = a * rng.uniform(0.45, 0.65)
    head = (xx - hx) ** 2 + (yy - hy) ** 2 < hr**2
    ears = np.zeros((h, w), bool)
    for ex in (-0.55, 0.55):
        # Triangle: apex above the head, base on the head's upper rim.
        bx, by = hx + ex * hr, hy - 0.6 * hr
        apex = (bx + ex * 0.3 * hr, by - hr * rng.uniform(0.6, 1.0))
        p0, p1 = (bx - 0.35 * hr, by + 0.2 * hr), (bx + 0.35 * hr, by + 0.2 * hr)
        ears |= _triangle(xx, yy, p0, p1, apex)
    mask = body | head | ears
    radius = np.minimum(r / np.maximum(lobes, 1e-3), np.sqrt((xx - hx) ** 2 + (yy - hy) ** 2) / hr)
    return mask, radius.clip(0.0, 1.0)


def _triangle(xx, yy, p0, p1, p2) -> np.ndarray:
    def edge(a, b):
        return (xx - a[0]) * (b[1] - a[1]) - (yy - a[1]) * (b[0] - a[0])

    e0, e1, e2 = edge(p0, p1), edge(p1, p2), edge(p2, p0)
    return ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))


def _background(rng: np.random.Generator, h: int, w: int, pet_colours: np.ndarray) -> np.ndarray:
    c0, c1 = rng.uniform(20, 235, (2, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    t = (np.cos(direction) * xx / w + np.sin(direction) * yy / h)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    for _ in range(int(rng.integers(3, 9))):  # clutter
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1 = min(w, x0 + int(rng.integers(w // 10, w // 2)))
        y1 = min(h, y0 + int(rng.integers(h // 10, h // 2)))
        if rng.random() < 0.3:  # camouflage: pet-like colour so colour alone does not segment
            colour = pet_colours[int(rng.integers(len(pet_colours)))] + rng.normal(0, 12, 3)
        else:
            colour = rng.uniform(0, 255, 3)
        img[y0:y1, x0:x1] = colour.astype(np.float32)
    img += rng.normal(0, rng.uniform(3, 12), (h, w, 1)).astype(np.float32)
    return img


def _sample(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (RGB uint8 HxWx3, trimap uint8 HxW) pair."""
    aspect = rng.uniform(0.7, 1.45)  # width / height, like landscape and portrait photos
    scale = rng.uniform(0.8, 1.25)
    h = max(32, int(round(size * scale / np.sqrt(aspect))))
    w = max(32, int(round(size * scale * np.sqrt(aspect))))
    n_colours = int(rng.integers(1, 4))
    colours = _PET_COLOURS[rng.choice(len(_PET_COLOURS), n_colours, replace=False)]
    colours = colours + rng.normal(0, 10, colours.shape).astype(np.float32)

    mask, radius = _pet_shape(rng, h, w)
    # Patches (tabby/calico): a smooth field picks between the pet's colours.
    pet = np.broadcast_to(colours[0], (h, w, 3)).copy()
    for colour in colours[1:]:
        field = _smooth_noise(rng, h, w, int(rng.integers(3, 7)))
        blend = np.clip((field - 0.5) * 6.0 + 0.5, 0, 1)[..., None]
        pet = pet * (1 - blend) + colour * blend
    pet *= (1.0 + 0.35 * _fur(rng, h, w))[..., None]
    pet *= (1.0 - 0.35 * radius**2)[..., None]  # rounder look: darker towards the outline

    img = _background(rng, h, w, colours)
    img[mask] = pet[mask]
    img = cv2.GaussianBlur(img, (3, 3), 0.6)  # soften the pasted edge like a real photo
    img = np.clip(img, 0, 255).astype(np.uint8)

    band = max(1, int(round(min(h, w) / 64)))  # ~2 px per side at 128 px
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    m8 = mask.astype(np.uint8)
    edge = (cv2.dilate(m8, k) > 0) & ~(cv2.erode(m8, k) > 0)
    trimap = np.full((h, w), BACKGROUND, np.uint8)
    trimap[mask] = PET
    trimap[edge] = BORDER
    return img, trimap


def generate_pet_dataset(
    root: Path, n_trainval: int = 120, n_test: int = 30, size: int = 128, seed: int = 0
) -> Path:
    """Write a generated dataset under ``root`` (created; existing files overwritten); returns root."""
    if n_trainval < 1 or n_test < 0 or size < 32:
        raise ValueError("need n_trainval >= 1, n_test >= 0 and size >= 32")
    root = Path(root)
    images = root / "images"
    trimaps = root / "annotations" / "trimaps"
    images.mkdir(parents=True, exist_ok=True)
    trimaps.mkdir(parents=True, exist_ok=True)
    for split_id, (split, count) in enumerate((("trainval", n_trainval), ("test", n_test))):
        lines = []
        for i in range(count):
            rng = np.random.default_rng([seed, split_id, i])
            cls_name, class_id, species, breed = _CLASSES[int(rng.integers(len(_CLASSES)))]
            # Test images are numbered after trainval ones so names never collide.
            name = f"{cls_name}_{i + 1 + (n_trainval if split_id else 0)}"
            img, trimap = _sample(rng, size)
            Image.fromarray(img).save(images / f"{name}.jpg", quality=90)
            Image.fromarray(trimap, "L").save(trimaps / f"{name}.png")
            lines.append(f"{name} {class_id} {species} {breed}\n")
        (root / "annotations" / f"{split}.txt").write_text("".join(lines))
    (root / "README.md").write_text(
        _README.format(
            version=GENERATOR_VERSION, n_trainval=n_trainval, n_test=n_test, size=size, seed=seed
        )
    )
    return root


def default_generated_dir() -> Path:
    """Where the default generated set lives: ``<cache root>/generated-v<version>``."""
    return cache_root() / f"generated-v{GENERATOR_VERSION}"


def _params(n_trainval: int, n_test: int, size: int, seed: int) -> dict:
    return {
        "version": GENERATOR_VERSION,
        "n_trainval": n_trainval,
        "n_test": n_test,
        "size": size,
        "seed": seed,
    }


def _looks_generated(root: Path) -> bool:
    if (root / MARKER).exists():
        return True
    try:
        return (root / "README.md").read_text().startswith(_README.splitlines()[0])
    except (OSError, UnicodeDecodeError):
        return False


def _is_complete(root: Path, params: dict) -> bool:
    try:
        return json.loads((root / MARKER).read_text()) == params
    except (OSError, ValueError):
        return False


def ensure_generated_dataset(
    root: Path | None = None,
    n_trainval: int = 120,
    n_test: int = 30,
    size: int = 128,
    seed: int = 0,
) -> Path:
    """Generate once, then reuse: returns a complete generated dataset folder.

    ``root`` None: ``default_generated_dir()`` for the default arguments, a sibling folder
    named after the arguments otherwise (so callers with different settings do not keep
    regenerating each other's). The set is written to a temporary sibling, the marker file is
    written last and the folder renamed into place, so a crash never leaves a folder that
    looks complete; a stale or half-written folder is regenerated.
    """
    params = _params(n_trainval, n_test, size, seed)
    if root is None:
        root = default_generated_dir()
        if params != _params(120, 30, 128, 0):
            root = root.with_name(f"{root.name}-{n_trainval}-{n_test}-{size}-{seed}")
    root = Path(root)
    if _is_complete(root, params):
        return root
    if root.exists() and any(root.iterdir()) and not _looks_generated(root):
        # Never delete a folder we did not write (e.g. a user pointed us at real data).
        raise DatasetError(root, "exists and is not a generated dataset; choose another folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    generate_pet_dataset(tmp, n_trainval=n_trainval, n_test=n_test, size=size, seed=seed)
    (tmp / MARKER).write_text(json.dumps(params))
    if root.exists():
        if _is_complete(root, params):  # another process finished first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
            return root
        shutil.rmtree(root, ignore_errors=True)
    try:
        os.replace(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not _is_complete(root, params):
            raise
    return root
