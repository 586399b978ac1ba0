"""Decoded-image cache: miss then hit, invalidation, skipped files, read-only cache folder."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PIL import Image

from engine.data.cache import cache_key, load_split_arrays
from engine.data.layout import PetLayout
from engine.data.synthetic import generate_pet_dataset


@pytest.fixture
def layout(tmp_path):
    return PetLayout(generate_pet_dataset(tmp_path / "data", n_trainval=6, n_test=0, size=64, seed=5))


def test_miss_then_hit_gives_equal_arrays(layout, tmp_path):
    names = layout.trainval_names()
    first = load_split_arrays(layout, names, 32, cache_dir=tmp_path / "c")
    assert not first.from_cache
    assert first.images.shape == (6, 32, 32, 3) and first.images.dtype == np.uint8
    assert first.trimaps.shape == (6, 32, 32)
    assert set(np.unique(first.trimaps).tolist()) <= {1, 2, 3}  # trimap values, not a mask
    second = load_split_arrays(layout, names, 32, cache_dir=tmp_path / "c")
    assert second.from_cache and second.names == names
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.trimaps, second.trimaps)
    assert not [p for p in (tmp_path / "c").iterdir() if ".tmp-" in p.name]  # no temp leftovers


def test_resized_trimap_matches_the_source(layout, tmp_path):
    name = layout.trainval_names()[0]
    arr = load_split_arrays(layout, [name], 48, cache_dir=tmp_path / "c")
    src = np.array(Image.open(layout.trimap_path(name)).resize((48, 48), Image.NEAREST))
    assert (arr.trimaps[0] == src).mean() > 0.995  # centre-aligned nearest, like PIL


def test_size_change_and_file_change_invalidate(layout, tmp_path):
    names = layout.trainval_names()
    key = cache_key(layout, names, 32)
    assert cache_key(layout, names, 64) != key
    assert cache_key(layout, names[:-1], 32) != key
    load_split_arrays(layout, names, 32, cache_dir=tmp_path / "c")
    assert not load_split_arrays(layout, names, 64, cache_dir=tmp_path / "c").from_cache

    # Replace one image with different content (and a new mtime): must be re-decoded.
    p = layout.image_path(names[0])
    with Image.open(p) as im:
        size = im.size
    Image.new("RGB", size, (255, 0, 0)).save(p)
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert cache_key(layout, names, 32) != key
    again = load_split_arrays(layout, names, 32, cache_dir=tmp_path / "c")
    assert not again.from_cache
    assert (np.abs(again.images[0].astype(int) - [255, 0, 0]) <= 3).all()  # JPEG rounding


def test_same_files_in_another_folder_are_a_separate_entry(layout, tmp_path):
    # The key covers the dataset's path: a copy elsewhere (same names, sizes, even mtimes) is
    # decoded again rather than served another folder's arrays.
    import shutil

    names = layout.trainval_names()
    load_split_arrays(layout, names, 32, cache_dir=tmp_path / "c")
    copy = tmp_path / "copy"
    shutil.copytree(layout.root, copy, copy_function=shutil.copy2)  # copy2 keeps mtimes
    other = PetLayout(copy)
    assert cache_key(other, names, 32) != cache_key(layout, names, 32)
    assert not load_split_arrays(other, names, 32, cache_dir=tmp_path / "c").from_cache
    assert load_split_arrays(other, names, 32, cache_dir=tmp_path / "c").from_cache


def test_corrupt_image_and_missing_trimap_are_skipped_with_reason(layout, tmp_path):
    names = layout.trainval_names()
    layout.image_path(names[1]).write_bytes(b"not a jpeg at all")
    layout.trimap_path(names[2]).unlink()
    seen = []
    out = load_split_arrays(layout, names, 32, cache_dir=tmp_path / "c", on_skip=lambda n, r: seen.append((n, r)))
    assert out.names == [n for n in names if n not in (names[1], names[2])]
    assert out.images.shape[0] == 4 == out.trimaps.shape[0]
    reasons = dict(out.skipped)
    assert "not an image" in reasons[names[1]] and "no such file" in reasons[names[2]]
    assert sorted(seen) == sorted(out.skipped)
    hit = load_split_arrays(layout, names, 32, cache_dir=tmp_path / "c")
    assert hit.from_cache and hit.skipped == out.skipped  # skips remembered


def test_image_trimap_size_mismatch_is_skipped(layout, tmp_path):
    name = layout.trainval_names()[0]
    Image.new("RGB", (10, 10)).save(layout.image_path(name))
    out = load_split_arrays(layout, [name], 32, cache_dir=tmp_path / "c")
    assert out.names == [] and "trimap is" in out.skipped[0][1]


def test_unwritable_cache_dir_falls_back_to_memory(layout, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    out = load_split_arrays(layout, layout.trainval_names(), 32, cache_dir=blocker / "sub")
    assert len(out) == 6 and not out.from_cache


def test_cache_is_faster_than_decoding(tmp_path):
    lay = PetLayout(generate_pet_dataset(tmp_path / "d", n_trainval=40, n_test=0, size=128, seed=1))
    names = lay.trainval_names()
    t0 = time.perf_counter()
    load_split_arrays(lay, names, 64, cache_dir=tmp_path / "c")
    t_decode = time.perf_counter() - t0
    t0 = time.perf_counter()
    hit = load_split_arrays(lay, names, 64, cache_dir=tmp_path / "c")
    t_hit = time.perf_counter() - t0
    assert hit.from_cache and t_hit < t_decode


def _damage(path, how: str) -> None:
    """One way a cache file can be damaged (issue 21, group 4: a damaged entry is rebuilt)."""
    import json as _json

    if how == "missing":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])
    elif how == "garbage":
        path.write_bytes(b"\x00\xff garbage {[")
    elif how == "fifo":
        path.unlink()
        os.mkfifo(path)
    elif how == "folder":
        path.unlink()
        path.mkdir()
    elif how == "wrong-shape":
        if path.suffix == ".json":
            path.write_text(_json.dumps([1, 2, 3]))
        else:
            np.save(path, np.zeros((2, 3), np.float32))
    elif how == "foreign":
        if path.suffix == ".json":
            meta = _json.loads(path.read_text())
            path.write_text(_json.dumps({**meta, "names": ["../../etc/passwd"] * len(meta["names"])}))
        else:
            np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["missing", "empty", "truncated", "garbage", "fifo", "folder", "wrong-shape", "foreign"])
@pytest.mark.parametrize("which", ["json", "images", "trimaps"])
def test_a_damaged_entry_is_rebuilt_never_a_raw_exception(layout, tmp_path, which: str, how: str) -> None:
    names = layout.trainval_names()
    first = load_split_arrays(layout, names, 32, cache_dir=tmp_path / "c")
    images, trimaps = np.array(first.images), np.array(first.trimaps)  # in RAM: the files are damaged next
    del first
    key = cache_key(layout, names, 32)
    path = tmp_path / "c" / (f"{key}.json" if which == "json" else f"{key}-{which}.npy")
    _damage(path, how)
    again = load_split_arrays(layout, names, 32, cache_dir=tmp_path / "c")
    assert not again.from_cache and again.names == names
    np.testing.assert_array_equal(images, again.images)
    np.testing.assert_array_equal(trimaps, again.trimaps)
    if how != "folder":  # a folder in the way cannot be replaced: the arrays stay in memory
        assert load_split_arrays(layout, names, 32, cache_dir=tmp_path / "c").from_cache


def _entry_keys(folder) -> set[str]:
    return {p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json")}


def _touch_later(path, seconds: float) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + int(seconds * 1e9)))


def test_an_edited_photo_replaces_its_old_entry_and_other_sizes_stay(layout, tmp_path):
    # the old entry could only be hit again if the photo got its old bytes and mtime back:
    # without eviction every edit of a dataset left a whole split's arrays behind for good
    names = layout.trainval_names()
    folder = tmp_path / "c"
    load_split_arrays(layout, names, 32, cache_dir=folder)
    load_split_arrays(layout, names, 48, cache_dir=folder)
    valid_only = load_split_arrays(layout, names[:2], 32, cache_dir=folder)
    assert not valid_only.from_cache
    old, other_size, other_split = (cache_key(layout, names, 32), cache_key(layout, names, 48),
                                    cache_key(layout, names[:2], 32))
    _touch_later(layout.image_path(names[0]), 5)
    load_split_arrays(layout, names, 32, cache_dir=folder)
    keys = _entry_keys(folder)
    assert old not in keys and cache_key(layout, names, 32) in keys
    assert other_size in keys  # not re-decoded at 48 px yet: kept until it is
    assert other_split in keys  # another split of the folder
    assert not [p for p in folder.iterdir() if p.name.startswith(old)]  # its arrays went too


def test_entries_of_an_older_cache_format_are_removed_when_a_new_entry_is_written(layout, tmp_path):
    import json

    folder = tmp_path / "c"
    names = layout.trainval_names()
    load_split_arrays(layout, names, 32, cache_dir=folder)
    # an entry as cache format 1 wrote it: no "v" in its JSON
    stale = "0" * 32
    for part in ("images", "trimaps"):
        (folder / f"{stale}-{part}.npy").write_bytes(b"x" * 1000)
    (folder / f"{stale}.json").write_text(json.dumps({"names": names, "skipped": [], "size": 64}))
    assert load_split_arrays(layout, names, 32, cache_dir=folder).from_cache  # a hit removes nothing
    assert stale in _entry_keys(folder)
    load_split_arrays(layout, names, 40, cache_dir=folder)
    assert not [p for p in folder.iterdir() if p.name.startswith(stale)]


def test_over_its_budget_the_cache_drops_the_least_recently_used_entries(layout, tmp_path, monkeypatch):
    folder = tmp_path / "c"
    names = layout.trainval_names()
    first = load_split_arrays(layout, names, 32, cache_dir=folder)
    load_split_arrays(layout, names, 40, cache_dir=folder)
    for key in _entry_keys(folder):  # both written "long ago"
        _touch_later(folder / f"{key}.json", -3600)
    assert load_split_arrays(layout, names, 32, cache_dir=folder).from_cache  # 32 px used just now
    # room for the 32 and 48 px entries (4 bytes a pixel, JSON included), not for the 40 px one too
    room = 6 * 4 * (32 * 32 + 48 * 48) + 8000
    assert room < 6 * 4 * (32 * 32 + 40 * 40 + 48 * 48)
    monkeypatch.setenv("PETSEG_CACHE_MAX_GB", str(room / (1 << 30)))
    load_split_arrays(layout, names, 48, cache_dir=folder)
    keys = _entry_keys(folder)
    assert keys == {cache_key(layout, names, 32), cache_key(layout, names, 48)}
    np.testing.assert_array_equal(first.images[0], load_split_arrays(layout, names, 32, cache_dir=folder).images[0])


def test_an_entry_removed_while_mapped_stays_readable_in_the_process_using_it(layout, tmp_path, monkeypatch):
    folder = tmp_path / "c"
    names = layout.trainval_names()
    load_split_arrays(layout, names, 32, cache_dir=folder)
    mapped = load_split_arrays(layout, names, 32, cache_dir=folder)
    expected = np.array(mapped.images)
    monkeypatch.setenv("PETSEG_CACHE_MAX_GB", "0")  # keep only the entry just written
    load_split_arrays(layout, names, 40, cache_dir=folder)
    assert _entry_keys(folder) == {cache_key(layout, names, 40)}
    np.testing.assert_array_equal(np.array(mapped.images), expected)
