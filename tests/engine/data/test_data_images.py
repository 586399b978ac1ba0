"""load_rgb / load_trimap on odd modes, tiny and huge images, and every kind of bad file."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from engine.data.images import is_image_file, load_rgb, load_trimap
from engine.errors import BadImageError, DatasetError


def _save(im: Image.Image, path: Path, **kw) -> Path:
    im.save(path, **kw)
    return path


def test_grayscale_becomes_three_equal_channels(tmp_path):
    p = _save(Image.new("L", (10, 6), 77), tmp_path / "g.png")
    a = load_rgb(p)
    assert a.shape == (6, 10, 3) and a.dtype == np.uint8
    assert (a == 77).all()


def test_rgba_is_composited_onto_black(tmp_path):
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 200
    arr[:, :2, 3] = 255  # left half opaque red
    arr[:, 2:, 3] = 0  # right half fully transparent red
    p = _save(Image.fromarray(arr, "RGBA"), tmp_path / "a.png")
    a = load_rgb(p)
    assert a.shape == (4, 4, 3)
    assert (a[:, :2] == [200, 0, 0]).all()
    assert (a[:, 2:] == 0).all()


def test_palette_and_la(tmp_path):
    p = _save(Image.new("RGB", (5, 5), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE), tmp_path / "p.png")
    assert tuple(load_rgb(p)[0, 0]) == (10, 200, 30)
    la = _save(Image.new("LA", (3, 3), (100, 255)), tmp_path / "la.png")
    assert (load_rgb(la) == 100).all()


def test_cmyk_jpeg(tmp_path):
    p = _save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "c.jpg", quality=95)
    with Image.open(p) as im:
        assert im.mode == "CMYK"
    r, g, b = load_rgb(p)[8, 8].astype(int)
    assert r > 200 and g < 60 and b < 60  # CMYK (0,255,255,0) is red


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 32768, 65535, 256]], dtype=np.uint16)
    p = _save(Image.fromarray(arr), tmp_path / "d.png")
    with Image.open(p) as im:
        assert im.mode.startswith("I")
    a = load_rgb(p)
    assert a[0, :, 0].tolist() == [0, 128, 255, 1]
    assert (a[..., 0] == a[..., 2]).all()


def test_float_image(tmp_path):
    arr = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    p = _save(Image.fromarray(arr, "F"), tmp_path / "f.tif")
    assert load_rgb(p)[0, :, 1].tolist() == [0, 128, 255]


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (20, 10), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = _save(im, tmp_path / "o.jpg", exif=exif.tobytes())
    assert load_rgb(p).shape == (20, 10, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_as_shown_turns_any_array_as_viewers_turn_the_photo(orientation):
    """The photo, its trimap and a float prediction made from its stored pixels are turned
    exactly as Pillow's exif_transpose turns the photo, so they stay aligned as shown."""
    from PIL import ImageOps

    from engine.data.images import orient_as_shown

    rgb = np.random.default_rng(orientation).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    im = Image.fromarray(rgb)
    im.getexif()[0x0112] = orientation
    shown = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(orient_as_shown(rgb, orientation), shown)
    prob = rgb[..., 0].astype(np.float32) / 255
    np.testing.assert_array_equal(orient_as_shown(prob, orientation), shown[..., 0].astype(np.float32) / 255)


def test_a_photo_with_a_trimap_is_read_as_stored_and_one_without_upright(tmp_path):
    """Oxford-IIIT Pet trimaps are drawn on the stored pixels: a photo paired with one is given
    to the model as stored (with the orientation still to show it upright); any other photo is
    read upright."""
    from engine.data.images import load_photo

    stored = np.random.default_rng(0).integers(0, 256, (10, 20, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    p = _save(Image.fromarray(stored), tmp_path / "o.png", exif=exif.tobytes())
    pixels, turn = load_photo(p, with_trimap=True)
    np.testing.assert_array_equal(pixels, stored)
    assert turn == 6
    upright, turn = load_photo(p, with_trimap=False)
    np.testing.assert_array_equal(upright, np.rot90(stored, -1))
    assert turn == 1


def test_tiny_8x8(tmp_path):
    p = _save(Image.new("RGB", (8, 8), (1, 2, 3)), tmp_path / "t.png")
    a = load_rgb(p, max_side=64)  # never upscaled
    assert a.shape == (8, 8, 3) and tuple(a[0, 0]) == (1, 2, 3)


def test_max_side_keeps_aspect(tmp_path):
    p = _save(Image.new("RGB", (300, 100), (9, 9, 9)), tmp_path / "w.png")
    assert load_rgb(p, max_side=60).shape == (20, 60, 3)


@pytest.fixture(scope="module")
def huge_jpeg(tmp_path_factory) -> Path:
    # A solid colour 8000x6000 JPEG encodes fast and is ~1 MB on disk.
    p = tmp_path_factory.mktemp("huge") / "big.jpg"
    Image.new("RGB", (8000, 6000), (30, 120, 200)).save(p, quality=80)
    return p


def test_huge_jpeg_is_draft_decoded(huge_jpeg, monkeypatch):
    sizes = []
    orig = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        out = orig(self, mode, size)
        sizes.append(self.size)  # size the decoder will actually produce
        return out

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    t0 = time.perf_counter()
    a = load_rgb(huge_jpeg, max_side=512)
    elapsed = time.perf_counter() - t0
    assert max(a.shape[:2]) == 512 and a.shape == (384, 512, 3)
    assert sizes == [(1000, 750)]  # libjpeg decoded at 1/8 scale, never 48 MP
    assert elapsed < 2.0
    assert abs(int(a[100, 100, 2]) - 200) < 4


@pytest.mark.parametrize("size, decoded", [((4000, 3000), (2000, 1500)), ((4001, 3001), (2001, 1501)),
                                           ((4097, 3000), (1025, 750)), ((2048, 1536), (2048, 1536))])
def test_a_phone_photo_is_decoded_at_the_reduction_that_fits_max_side(tmp_path, monkeypatch, size, decoded):
    """A 12-megapixel photo under the inference default (2048) was decoded in full, since half
    scale (2000 px) is under 2048, then resized: ~5x the time of decoding at half scale, for
    pixels thrown away. Now libjpeg's first reduction that fits is used, and nothing is resized."""
    p = tmp_path / "phone.jpg"
    Image.new("RGB", size, (30, 120, 200)).save(p, quality=80)
    sizes = []
    orig = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, box):
        out = orig(self, mode, box)
        sizes.append(self.size)
        return out

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    a = load_rgb(p, max_side=2048)
    assert sizes == [decoded] and a.shape == (decoded[1], decoded[0], 3)
    assert abs(int(a[100, 100, 2]) - 200) < 4


def test_a_multi_picture_phone_jpeg_is_decoded_at_the_same_reduction_as_a_plain_one(tmp_path):
    """Android's Ultra HDR and iPhone HDR photos are JPEGs with a gain map as a second picture
    (MPF), which Pillow opens as format MPO: they were decoded in full and resized to 2048x1536
    (~5x the time), and the folder read-ahead counted them at full size, unlike the same photo
    without its gain map."""
    from engine.infer.infer_folder import decode_bytes

    photo = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    plain = _save(photo, tmp_path / "plain.jpg", quality=90)
    hdr = _save(photo, tmp_path / "hdr.jpg", format="MPO", save_all=True,
                append_images=[photo.resize((1000, 750))], quality=90)
    with Image.open(hdr) as im:
        assert im.format == "MPO"
    a, b = load_rgb(plain, max_side=2048), load_rgb(hdr, max_side=2048)
    assert a.shape == b.shape == (1500, 2000, 3)
    assert np.abs(a.astype(int) - b).max() <= 2
    assert decode_bytes(hdr) == decode_bytes(plain)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_a_large_png_shrinks_to_the_same_pixels_without_a_full_size_copy(tmp_path, mode):
    """PNG has no reduced-scale decode: load_rgb box-reduces right after decoding (what Pillow's
    resize with reducing_gap does first anyway), so the pixels equal a full-size resize, exactly."""
    rng = np.random.default_rng(0)
    h, w = 1503, 4101
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([(x // 3) % 256, (y // 5) % 256, ((x + y) // 7) % 256], -1) + rng.integers(0, 30, (h, w, 3))
    full = Image.fromarray(a.clip(0, 255).astype(np.uint8))
    if mode == "RGBA":
        full.putalpha(255)
    elif mode == "L":
        full = full.convert("L")
    p = _save(full, tmp_path / "big.png", compress_level=1)
    got = load_rgb(p, max_side=1000)
    want = np.asarray(full.convert("RGB").resize((1000, round(h * 1000 / w)), Image.Resampling.BILINEAR,
                                                 reducing_gap=2.0))
    assert got.shape == want.shape and np.array_equal(got, want)


def test_is_image_file():
    assert is_image_file("x/a.JPG") and is_image_file("b.tiff") and is_image_file("c.webp")
    assert not is_image_file("a.txt") and not is_image_file("jpg")


def _assert_one_line_error(exc_info, path: Path, words: str):
    msg = str(exc_info.value)
    assert str(path) in msg
    assert "\n" not in msg
    assert words in msg


def test_missing_file(tmp_path):
    p = tmp_path / "nope.jpg"
    with pytest.raises(BadImageError) as e:
        load_rgb(p)
    _assert_one_line_error(e, p, "no such file")


def test_a_link_to_a_moved_photo_names_its_target(tmp_path):
    """A folder's link whose photo has moved was skipped as "no such file", though the folder
    lists it: the line says it is a link and where it points."""
    p = tmp_path / "cat.jpg"
    p.symlink_to(tmp_path / "moved" / "cat.jpg")
    with pytest.raises(BadImageError) as e:
        load_rgb(p)
    assert str(e.value) == f"{p}: a symbolic link to {tmp_path / 'moved' / 'cat.jpg'}, which does not exist"


def test_directory(tmp_path):
    with pytest.raises(BadImageError) as e:
        load_rgb(tmp_path)
    _assert_one_line_error(e, tmp_path, "is a directory")


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(BadImageError) as e:
        load_rgb(p)
    _assert_one_line_error(e, p, "empty file (0 bytes)")


def test_text_file_renamed_jpg(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("these are not pixels\nsecond line\n")
    with pytest.raises(BadImageError) as e:
        load_rgb(p)
    _assert_one_line_error(e, p, "not an image")


def test_truncated_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    good = _save(Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)), tmp_path / "g.jpg")
    p = tmp_path / "cut.jpg"
    p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(BadImageError) as e:
        load_rgb(p)
    _assert_one_line_error(e, p, "truncated or corrupt")


def test_load_trimap_accepts_l_rgb_and_palette(tmp_path):
    t = np.array([[1, 2], [3, 2]], np.uint8)
    for name, im in [
        ("l.png", Image.fromarray(t)),
        ("rgb.png", Image.fromarray(np.repeat(t[..., None], 3, 2))),
        ("p.png", Image.fromarray(t).convert("P")),
    ]:
        out = load_trimap(_save(im, tmp_path / name))
        assert out.dtype == np.uint8 and out.tolist() == t.tolist(), name


def test_load_trimap_rejects_bad_values(tmp_path):
    p = _save(Image.fromarray(np.array([[0, 255]], np.uint8)), tmp_path / "bad.png")
    with pytest.raises(DatasetError) as e:
        load_trimap(p)
    _assert_one_line_error(e, p, "found 0, 255")


def test_load_trimap_missing_is_bad_image(tmp_path):
    with pytest.raises(BadImageError):
        load_trimap(tmp_path / "x.png")


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height; no pixel data needs to exist to test the cap."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("w, h", [(20000, 10000), (30000, 20000)])  # above our cap; above Pillow's hard limit
def test_decompression_bomb_is_a_clear_error(tmp_path, w, h):
    p = _png_header_only(tmp_path / "bomb.png", w, h)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(BadImageError) as e:
            load_rgb(p, max_side=256)
    _assert_one_line_error(e, p, f"image too large ({w}×{h}")


def test_large_but_allowed_png_is_downscaled(tmp_path):
    # 100 MP is over Pillow's default warning threshold (89 MP) but under our cap: accepted quietly.
    p = _png_header_only(tmp_path / "big.png", 10000, 10000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(BadImageError) as e:  # header only: decoding fails, but no bomb warning
            load_rgb(p, max_side=256)
    assert "truncated or corrupt" in str(e.value)
