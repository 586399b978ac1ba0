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

from tests import warm_petseg

REPO = Path(__file__).resolve().parents[2]


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def start_slowed(code: str, argv: list[str], env_extra: dict[str, str]) -> subprocess.Popen:
    """`petseg` (engine.cli.main) in a warm interpreter (tests/warm_petseg.py), after ``code`` slowed
    one step down: a step looked up at call time (a module's attribute), which petseg's imports,
    made before ``code`` runs, do not hold on to."""
    script = textwrap.dedent(code) + f"\nimport sys\nfrom engine.cli import main\nsys.exit(main({argv!r}))\n"
    env = dict(os.environ, PYTHONPATH=str(REPO), **env_extra)
    return warm_petseg.Popen([sys.executable, "-c", script], env=env, cwd=REPO, stdout=subprocess.PIPE,
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


SLOW_DECODE = """
    import time
    import engine.data.cache as cache
    real = cache.decode_pair
    def slow(*a, **kw):
        time.sleep(0.3)  # a full-size split takes minutes; this one is made to take seconds
        return real(*a, **kw)
    cache.decode_pair = slow
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_trainings_first_decode_stops_at_once_without_temp_arrays(tmp_path: Path, sig) -> None:
    """The decoded cache is written while a run loads its data: a stop there used to wait for
    the whole decode; now it ends it, removes the temp arrays, and the run is 'stopped'."""
    from engine.data.synthetic import generate_pet_dataset
    from engine.runs import RunStore

    data = generate_pet_dataset(tmp_path / "data", n_trainval=40, n_test=0, size=64, seed=1)
    cache = tmp_path / "cache"
    proc = start_slowed(SLOW_DECODE, ["train", "--runs", str(tmp_path / "runs"), "--run_name", "r", "--data_path",
                                      str(data), "--epochs", "1", "--image_size", "64", "--width", "4",
                                      "--workers", "0", "--device", "cpu", "--cache_dir", str(cache)], {})
    tmp = wait_for_file(cache, "*.tmp-*.npy", proc)
    started = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 30  # not after decoding the remaining ~35 images x 0.3 s x (4 splits)
    assert "stopped; resume with: petseg train --resume r" in out
    assert not tmp.exists() and not list(cache.glob("*.tmp*"))
    assert RunStore(tmp_path / "runs").summary("r").state == "stopped"


@pytest.mark.slow
def test_a_sigterm_during_eval_exits_143_with_one_line(tmp_path: Path, checkpoint: Path) -> None:
    """eval decodes photos in memory (issue 8's eval): nothing is left behind, and a SIGTERM
    while it scores is a clean one-line exit, not a traceback or a silent kill."""
    from engine.data.synthetic import generate_pet_dataset

    data = generate_pet_dataset(tmp_path / "data", n_trainval=4, n_test=30, size=64, seed=1)
    marker = tmp_path / "scoring"
    slow = SLOW_DECODE.replace("time.sleep(0.3)", f"open({str(marker)!r}, 'w').close(); time.sleep(0.3)")
    proc = start_slowed(slow, ["eval", "--checkpoint", str(checkpoint), "--data_path", str(data)],
                        {"PETSEG_CACHE": str(tmp_path / "cache")})
    wait_for_file(tmp_path, "scoring", proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, (out, err)
    assert err.strip() == ("petseg: stopped by SIGTERM; files being written were removed, nothing half-written "
                           "is left")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*.tmp*"))


@pytest.mark.slow
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
