"""Decoding image and trimap files into numpy arrays, turning every failure into a one-line error.

``load_rgb`` returns (H, W, 3) uint8 RGB from any mode Pillow opens:

* L / 1 / YCbCr / CMYK (incl. Adobe-inverted CMYK JPEG) -> converted to RGB;
* LA / RGBA / PA / palette with transparency -> alpha is COMPOSITED ONTO BLACK (premultiplied),
  because the RGB under fully transparent pixels is often garbage and black is deterministic;
* 16-bit (I;16, I;16B, I;16L, and I holding 0..65535) -> scaled to 8 bit with rounding
  (65535 -> 255, 32768 -> 128), not clipped; I outside 0..65535 and F (float) are stretched
  min..max (F already in 0..1 is taken as 0..1), greyscale replicated to 3 channels;
* EXIF orientation is applied (``ImageOps.exif_transpose``), unless ``exif=False``.

A photo and its trimap (THE rule, `load_photo`): an Oxford-IIIT Pet trimap is drawn on the photo's
STORED pixels (a trimap PNG has no EXIF, and its size is the stored photo's: 485 of the sample's
485 non-square photos, none the turned size), so wherever a photo is scored against its trimap
(training, validation, ``petseg eval``, the TUI's inference and worst-cases screens) the model is
given the stored pixels, as torchvision's loader reads them, and only then are the photo, its
prediction and its trimap turned together as viewers show the photo (`orient_as_shown`: a pixel
permutation, so no score moves). A photo without a trimap (``petseg infer``, a user's photo in the
TUI) is read as viewers show it: the model sees it upright.

Large files: with ``max_side`` JPEGs (and MPO, a JPEG with more pictures after the first) are
decoded by libjpeg at its first reduction that fits (``Image.draft``, 1/2, 1/4 or 1/8:
`jpeg_reduction`), so an 8000x6000 photo never exists at full size in memory; only what is still
over ``max_side`` at 1/8 is resized.
Pillow's decompression-bomb limit is raised to ``MAX_PIXELS`` (its default warns at 89 MP);
anything larger is refused with "image too large (W×H ...)".

``load_trimap`` returns (H, W) uint8 with values in {1, 2, 3}; see ``engine.data.masks``.
"""

from __future__ import annotations

import functools
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.data.masks import TRIMAP_VALUES
from engine.errors import BadImageError, DatasetError, first_line, reading_file

_T = TypeVar("_T")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# Pillow's formats for a file libjpeg decodes, so at a reduced scale (``Image.draft``): MPO is a
# JPEG carrying more pictures after the first (Android's Ultra HDR and iPhone HDR photos keep
# their gain map there, cameras a preview), and Pillow names such a file MPO, not JPEG.
JPEG_FORMATS = ("JPEG", "MPO")

# 180 MP (about 13400 x 13400): twice Pillow's warning threshold, the same as its hard limit,
# enough for any camera photo; beyond it a decoded RGB copy alone would be over 500 MB.
MAX_PIXELS = 180_000_000

# Pillow's check runs inside Image.open, before ours; lift it to our cap so that legitimate
# 100+ MP photos do not warn, while ours gives the one-line message.
if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Errors Pillow's decoders raise on damaged data (truncated streams, bad chunks, bad headers).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError)


def is_image_file(path: str | Path) -> bool:
    """True if the name ends with one of IMAGE_SUFFIXES (case-insensitive); the file is not opened."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def missing_reason(path: Path, what: str = "file") -> str:
    """Why ``path`` names nothing: no such file, or a symbolic link whose target is gone (a photo
    or folder linked in and since moved reads as there in a listing)."""
    if path.is_symlink():
        return f"a symbolic link to {os.readlink(path)}, which does not exist"
    return f"no such {what}"


def not_a_file_reason(path: Path) -> str | None:
    """Why ``path`` (followed through links) is no file to read a photo from: a named pipe, a
    device or a socket, whose open or read waits for a writer (a FIFO named cat.jpg in a folder
    hung `petseg infer` folder mode for good) or never ends; None for a regular file (or nothing)."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # missing or unreadable: said by the caller's own checks
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not an image file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not an image file"
    if stat.S_ISSOCK(mode):
        return "a socket, not an image file"
    return None


def _check_file(path: Path) -> None:
    """Fail early with a precise reason for the usual non-image cases."""
    try:
        if not path.exists():
            raise BadImageError(path, missing_reason(path))
        if path.is_dir():
            raise BadImageError(path, "is a directory, not an image file")
        if special := not_a_file_reason(path):
            raise BadImageError(path, special)
        if path.stat().st_size == 0:
            raise BadImageError(path, "empty file (0 bytes)")
    except OSError as exc:  # e.g. a name too long, or a permission problem on a parent
        raise BadImageError(path, f"cannot access file ({first_line(exc)})") from None


def _too_large_reason_for(size: tuple[int, int]) -> str:
    w, h = size
    return f"image too large ({w}×{h}, limit {MAX_PIXELS // 1_000_000} megapixels)"


EXIF_ORIENTATION = 0x0112


def _naming_its_file(read: Callable[..., _T]) -> Callable[..., _T]:
    """``read(path, ...)`` with ``path`` as this thread's file being read (`engine.errors.reading_file`):
    a warning Pillow gives meanwhile is shown with the photo's name."""

    @functools.wraps(read)
    def wrapper(path: str | Path, *args: Any, **kwargs: Any) -> _T:
        with reading_file(path):
            return read(path, *args, **kwargs)

    return wrapper


@_naming_its_file
def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation of the photo at ``path`` from its header (1 if it has none, or if the
    header or its EXIF block cannot be read: `load_rgb` then leaves the pixels as stored too)."""
    try:
        with Image.open(path) as im:
            value = im.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make a readable photo unusable
        return 1
    return value if isinstance(value, int) else 1


@_naming_its_file
def shown_size(path: str | Path) -> tuple[int, int] | None:
    """(W, H) of the photo at ``path`` as viewers show it (EXIF rotation applied), the size
    `load_rgb` gives it without a cap; from its header only, None if that cannot be read."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(EXIF_ORIENTATION, 1)
            # Pillow reports a TIFF's size already turned by its orientation (it turns the pixels
            # as it loads them, then drops the tag); other formats report the stored pixels'
            turned_already = (w, h) != _stored_pixel_size(im)
    except Exception:  # noqa: BLE001 - any unreadable header: the decoder will say why
        return None
    return (h, w) if orientation in (5, 6, 7, 8) and not turned_already else (w, h)


def _stored_pixel_size(im: Image.Image) -> tuple[int, int]:
    """(W, H) of the pixels as stored in the file: a TIFF's width and length tags, else the size."""
    tags = getattr(im, "tag_v2", None)
    if tags is not None and 256 in tags and 257 in tags:  # ImageWidth, ImageLength
        return int(tags[256]), int(tags[257])
    return im.size


# What ``ImageOps.exif_transpose`` does to a photo of each EXIF orientation (1 and unknown:
# nothing), as numpy index operations on (H, W, ...): exact for any dtype and any channels (a float probability map, a trimap, an RGB photo)
_EXIF_TURN: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def orient_as_shown(array: np.ndarray, orientation: int) -> np.ndarray:
    """An (H, W, ...) array in a photo's stored pixel orientation (the photo itself, its trimap,
    a prediction made from its stored pixels) turned the way `load_rgb` turns a photo with that
    EXIF ``orientation``, so that they stay aligned with each other and with the photo as shown."""
    turn = _EXIF_TURN.get(orientation)
    return array if turn is None else np.ascontiguousarray(turn(array))


def load_photo(path: str | Path, max_side: int | None = None, *, with_trimap: bool) -> tuple[np.ndarray, int]:
    """(the RGB a model is given for the photo at ``path``, the EXIF orientation that still turns
    it, and what is predicted from it, as viewers show the photo: `orient_as_shown`). The module
    docstring's rule: a photo scored against its trimap (``with_trimap``) is read as stored, the
    trimap's pixels; any other photo is read upright (orientation 1 left to apply)."""
    if not with_trimap:
        return load_rgb(path, max_side), 1
    return load_rgb(path, max_side, exif=False), exif_orientation(path)


def _open(
    path: Path, draft_for: Callable[[tuple[int, int]], tuple[int, int]] | None = None
) -> tuple[Image.Image, tuple[int, int]]:
    """Open and fully decode ``path``; returns the image and its size as stored in the file.

    ``draft_for(stored_size)`` gives a box: for JPEG, decode at the smallest libjpeg scale whose
    size is still at least that box, so that later downscaling starts from far fewer pixels.
    """
    _check_file(path)
    try:
        im = Image.open(path)
    except Image.DecompressionBombError:
        # Pillow refuses before we can read the size; reopen without its check to name the size.
        raise BadImageError(path, _too_large_reason(path)) from None
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image (cannot identify image format)") from None
    except PermissionError:
        raise BadImageError(path, "permission denied") from None
    except _DECODE_ERRORS as exc:
        raise BadImageError(path, f"truncated or corrupt image data ({first_line(exc)})") from None
    stored_size = im.size
    if stored_size[0] * stored_size[1] > MAX_PIXELS:
        im.close()
        raise BadImageError(path, _too_large_reason_for(stored_size))
    try:
        if draft_for is not None and im.format in JPEG_FORMATS:
            bw, bh = draft_for(stored_size)
            im.draft(None, (max(1, bw), max(1, bh)))
        im.load()
    except _DECODE_ERRORS as exc:
        im.close()
        raise BadImageError(path, f"truncated or corrupt image data ({first_line(exc)})") from None
    return im, stored_size


def _too_large_reason(path: Path) -> str:
    saved = Image.MAX_IMAGE_PIXELS
    try:
        # Only reads the header; no pixel data is decoded.
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(path) as im:
            return _too_large_reason_for(im.size)
    except Exception:
        return f"image too large (over {MAX_PIXELS // 1_000_000} megapixels)"
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _composite_on_black(rgba: np.ndarray) -> np.ndarray:
    rgb = rgba[..., :3].astype(np.uint16)
    alpha = rgba[..., 3:4].astype(np.uint16)
    return ((rgb * alpha + 127) // 255).astype(np.uint8)


def _scale_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """Map a single-channel integer/float array to uint8 (see the module docstring)."""
    if mode.startswith("I;16") or (mode == "I" and a.size and a.min() >= 0 and a.max() <= 65535):
        # Rounded integer scaling keeps 65535 -> 255 exactly and 32768 -> 128.
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    f = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if mode == "F" and f.size and f.min() >= 0.0 and f.max() <= 1.0:
        return np.round(f * 255.0).astype(np.uint8)
    lo, hi = (float(f.min()), float(f.max())) if f.size else (0.0, 0.0)
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    return np.round((f - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _to_rgb_array(im: Image.Image, path: Path) -> np.ndarray:
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        return _composite_on_black(np.asarray(rgba, dtype=np.uint8))
    if mode.startswith("I") or mode == "F":
        gray = _scale_to_uint8(np.asarray(im), mode)
        return np.repeat(gray[..., None], 3, axis=2)
    try:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (ValueError, OSError) as exc:
        raise BadImageError(path, f"unsupported colour mode {mode} ({first_line(exc)})") from None


def _max_side_size(w: int, h: int, max_side: int) -> tuple[int, int]:
    s = max_side / max(h, w)
    return max(1, round(w * s)), max(1, round(h * s))


def _shrunk(im: Image.Image, max_side: int) -> Image.Image:
    # reducing_gap: a cheap box reduction first, then bilinear; quality close to LANCZOS, faster.
    return im.resize(_max_side_size(*im.size, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)


def _resize_max_side(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    return np.asarray(_shrunk(Image.fromarray(rgb), max_side), dtype=np.uint8)


def load_rgb(path: str | Path, max_side: int | None = None, *, exif: bool = True) -> np.ndarray:
    """Decode ``path`` to (H, W, 3) uint8 RGB, EXIF-rotated (``exif``: else as stored, the pixels
    its trimap is drawn on: `load_photo`); longest side <= ``max_side`` if given.

    Raises BadImageError (one line naming the file) for anything unusable.
    """
    path = Path(path)
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    draft_for = None
    if max_side is not None:

        def draft_for(size: tuple[int, int]) -> tuple[int, int]:
            return _draft_within(size, max_side)

    rgb, _ = decode_rgb(path, draft_for=draft_for, exif=exif, shrink_to=max_side)
    if max_side is not None:
        rgb = _resize_max_side(rgb, max_side)  # modes shrunk only after their conversion to RGB
    return rgb


def jpeg_reduction(size: tuple[int, int], max_side: int) -> int:
    """The libjpeg reduction (1, 2, 4 or 8) a JPEG of ``size`` (W, H) is decoded at under
    ``max_side``: the first whose result fits, else 8 (then shrunk). A 4000x3000 photo with
    ``max_side`` 2048 is decoded at 1/2 (2000x1500) in about a fifth of the time of a full decode
    and a resize to 2048x1536: the pixels beyond are thrown away either way."""
    for s in (1, 2, 4, 8):
        if -(-max(size) // s) <= max_side:
            return s
    return 8


def _draft_within(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    # Pillow picks the largest reduction s with size // box >= s: ask for the floor of size / s
    s = jpeg_reduction(size, max_side)
    return max(1, size[0] // s), max(1, size[1] // s)


@_naming_its_file
def decode_rgb(
    path: str | Path,
    draft_for: Callable[[tuple[int, int]], tuple[int, int]] | None = None,
    *,
    exif: bool = True,
    shrink_to: int | None = None,
) -> tuple[np.ndarray, tuple[int, int]]:
    """Like ``load_rgb`` but returns (rgb, stored (W, H)) and takes a JPEG draft rule instead.

    ``draft_for(stored (W, H)) -> (W, H)``: a JPEG is decoded at reduced scale but at least that
    big (stored orientation). ``exif=False`` keeps the stored pixel orientation, which is what
    dataset trimaps are aligned with (the module docstring's rule). Used by the cache, which resizes to a square itself.
    ``shrink_to``: an RGB or L image is shrunk to that longest side before its array is made.
    """
    path = Path(path)
    im, stored = _open(path, draft_for)
    try:
        if exif:
            try:
                if im.getexif().get(EXIF_ORIENTATION, 1) != 1:  # exif_transpose copies even when upright
                    im = ImageOps.exif_transpose(im)
            except Exception:
                pass  # a broken EXIF block must not make a readable image unusable
        if shrink_to is not None and max(im.size) > shrink_to and im.mode in ("RGB", "L"):
            # PNG and the like have no reduced-scale decode: shrink the decoded image itself, so
            # no full-size array is ever made (the same pixels as resizing the array; a
            # 180-megapixel PNG peaked at +1.9 GB, now at about its decode)
            im = _shrunk(im, shrink_to)
        rgb = _to_rgb_array(im, path)
    finally:
        im.close()
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        raise BadImageError(path, f"unexpected decoded shape {rgb.shape}")
    return np.ascontiguousarray(rgb), stored


@_naming_its_file
def load_trimap(path: str | Path) -> np.ndarray:
    """Decode an Oxford-IIIT Pet trimap to (H, W) uint8 with values in {1, 2, 3}.

    Greyscale and palette-index trimaps are used as stored; an RGB/RGBA trimap must have equal
    channels. Raises BadImageError for unreadable files, DatasetError for wrong values.
    """
    path = Path(path)
    im, _ = _open(path)
    try:
        mode = im.mode
        a = np.asarray(im)
        if mode == "P":
            # Indices are the values when written as a palette PNG; if not, try the colours.
            if not np.isin(a, TRIMAP_VALUES).all():
                a = np.asarray(im.convert("RGB"))
        elif mode in ("RGBA", "LA"):
            a = np.asarray(im.convert("RGB" if mode == "RGBA" else "L"))
        elif mode not in ("L", "RGB") and not mode.startswith("I"):
            raise DatasetError(path, f"trimap has unsupported mode {mode}; expected 8-bit greyscale")
    finally:
        im.close()
    if a.ndim == 3:
        if not ((a[..., 0] == a[..., 1]).all() and (a[..., 0] == a[..., 2]).all()):
            raise DatasetError(path, "trimap is a colour image; expected one channel with values 1, 2, 3")
        a = a[..., 0]
    values = np.unique(a)
    bad = [int(v) for v in values if int(v) not in TRIMAP_VALUES]
    if bad:
        shown = ", ".join(str(v) for v in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise DatasetError(
            path, f"trimap values must be 1 (pet), 2 (background) or 3 (border); found {shown}"
        )
    return np.ascontiguousarray(a.astype(np.uint8))
