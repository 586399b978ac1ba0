"""Interrupted work leaves no debris: SIGTERM/SIGHUP during eval's decode or infer's PNG save
removes the temp files at once; a SIGKILLed writer's temp files are swept by the next writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def start_slowed(code: str, argv: list[str], env_extra: dict[str, str]) -> subprocess.Popen:
    """`petseg` (engine.cli.main) in a fresh interpreter, after ``code`` slowed one step down."""
    script = textwrap.dedent(code) + f"\nimport sys\nfrom engine.cli import main\nsys.exit(main({argv!r}))\n"
    env = dict(os.environ, PYTHONPATH=str(REPO), **env_extra)
    return subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_file(folder: Path, pattern: str, proc: subprocess.Popen, timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if found:
            return found[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"no {pattern} appeared in {folder}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_evals_decode_leaves_no_temp_arrays(tmp_path: Path, checkpoint: Path, sig) -> None:
    from engine.data.synthetic import generate_pet_dataset

    data = generate_pet_dataset(tmp_path / "data", n_trainval=4, n_test=12, size=64, seed=1)
    cache = tmp_path / "cache"
    slow = """
        import time
        import engine.data.cache as cache
        real = cache._decode_pair
        def slow(*a, **kw):
            time.sleep(0.3)  # a big split takes minutes; this one is made to take seconds
            return real(*a, **kw)
        cache._decode_pair = slow
    """
    proc = start_slowed(slow, ["eval", "--checkpoint", str(checkpoint), "--data_path", str(data)],
                        {"PETSEG_CACHE": str(cache)})
    tmp = wait_for_file(cache / "decoded", "*.tmp-*.npy", proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert err.strip() == (f"petseg: stopped by {signal.Signals(sig).name}; files being written were removed, "
                           "nothing half-written is left")
    assert not tmp.exists() and list((cache / "decoded").iterdir()) == []


def test_a_sigterm_during_infers_png_save_leaves_nothing_in_the_users_folder(tmp_path: Path, checkpoint: Path) -> None:
    img = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), (100, 80, 60)).save(img)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    slow = """
        import time
        import engine.atomic as atomic
        real = atomic.os.fsync
        def slow(fd):
            time.sleep(60)  # stands for a slow disk between writing and renaming
            return real(fd)
        atomic.os.fsync = slow
    """
    proc = start_slowed(slow, ["infer", "--checkpoint", str(checkpoint), "--image", str(img),
                               "--output", str(out_dir / "mask.png")], {})
    tmp = wait_for_file(out_dir, ".mask.png.*.tmp", proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert not tmp.exists() and list(out_dir.iterdir()) == []


def test_temp_files_of_killed_writers_are_swept_where_they_are_written(tmp_path: Path, checkpoint: Path) -> None:
    from engine.cli import main

    dead = dead_pid()
    img = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), (100, 80, 60)).save(img)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    debris = out_dir / f".mask.png.{dead}.140385337047936.tmp"  # infer SIGKILLed mid-save
    in_progress = out_dir / f".other.png.{os.getpid()}.140385337047936.tmp"  # a live writer's: kept
    users = out_dir / f".notes.{dead}.tmp"  # not named like ours: never touched
    for p in (debris, in_progress, users):
        p.write_bytes(b"partial")
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(img), "--output",
                 str(out_dir / "mask.png")]) == 0
    assert not debris.exists() and in_progress.exists() and users.exists()


def test_the_decoded_cache_sweeps_a_dead_decoders_arrays(tmp_path: Path) -> None:
    from engine.data.cache import load_split_arrays
    from engine.data.layout import PetLayout
    from engine.data.synthetic import generate_pet_dataset

    data = generate_pet_dataset(tmp_path / "data", n_trainval=3, n_test=0, size=32, seed=1)
    cache = tmp_path / "cache"
    cache.mkdir()
    dead = dead_pid()
    debris = [cache / f"0123abcd-images.tmp-{dead}-140385337047936.npy",
              cache / f"0123abcd-trimaps-c.tmp-{dead}-1.npy", cache / f"0123abcd.json.tmp-{dead}-7"]
    live = cache / f"0123abcd-images.tmp-{os.getpid()}-5.npy"
    for p in (*debris, live):
        p.write_bytes(np.zeros(4, np.uint8).tobytes())
    layout = PetLayout(data)
    arrays = load_split_arrays(layout, layout.trainval_names(), 32, cache_dir=cache)
    assert len(arrays) == 3
    assert not any(p.exists() for p in debris) and live.exists()
