"""SIGTERM, SIGHUP and SIGINT end any command promptly and leave no partial file (issue 21,
group 2): training while it decodes its data and while it trains, eval while it scores, folder
inference while it writes, and the demo while it trains and while it scores. Each case starts a
real ``petseg`` process, waits for a line of the phase, sends the signal and measures the time
to exit; then no temp file is left anywhere the command writes (runs, outputs, cache)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.config import GENERATED_DATA
from tests import warm_petseg
from tests.process_watch import ProcessWatch

REPO = Path(__file__).resolve().parents[2]
EXIT_SECONDS = 2.0  # the bound the issue asks for, from the signal to the process's end
TINY = ["--image_size", "64", "--width", "4", "--batch_size", "8", "--device", "cpu", "--data_path", GENERATED_DATA]


def _photos(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)).save(folder / f"p{i:03d}.jpg", quality=85)


def _many_photos(root: Path, split: str, n: int, seed: int) -> None:
    """A 512 px dataset of ``n`` photos in ``split``: 5 generated, each copied under new names
    (decoding and scoring cost per file; generating a 512 px photo costs ~0.13 s, so generating
    them all would cost the test 10-30 s, and 25 of them cost 3.3 s)."""
    import shutil

    from engine.data.synthetic import generate_pet_dataset

    generate_pet_dataset(root, n_trainval=5 if split == "trainval" else 1, n_test=5 if split == "test" else 0,
                         size=512, seed=seed)
    listing = root / "annotations" / f"{split}.txt"
    lines = listing.read_text().splitlines()
    out = []
    for i in range(n):
        name, rest = lines[i % len(lines)].split(" ", 1)
        copy = f"{name}{i:03d}" if i >= len(lines) else name
        if copy != name:
            shutil.copy(root / "images" / f"{name}.jpg", root / "images" / f"{copy}.jpg")
            shutil.copy(root / "annotations" / "trimaps" / f"{name}.png", root / "annotations" / "trimaps" / f"{copy}.png")
        out.append(f"{copy} {rest}")
    listing.write_text("\n".join(out) + "\n")


def _temp_files(*folders: Path) -> list[str]:
    out = []
    for folder in folders:
        if folder.exists():
            out += [str(p) for p in folder.rglob("*") if ".tmp" in p.name]
    return out


# (id, argv builder, line that marks the phase, signal)
CASES = [
    ("train-decoding", lambda t, ck: ["train", "--runs", str(t / "runs"), "--run_name", "r", "--epochs", "50",
                                      "--max_train_images", "100", *TINY[:-2], "--data_path", str(t / "fresh-data")],
     "data: train:", signal.SIGTERM),
    ("train-training", lambda t, ck: ["train", "--runs", str(t / "runs"), "--run_name", "r", "--epochs", "50", *TINY],
     "device:", signal.SIGHUP),
    ("eval-scoring", lambda t, ck: ["eval", "--checkpoint", str(ck), "--data_path", str(t / "photos-data"),
                                    "--device", "cpu", "--split", "test"],
     "scoring test:", signal.SIGTERM),
    ("infer-folder", lambda t, ck: ["infer", "--checkpoint", str(ck), "--data_path", str(t / "photos"),
                                    "--output_path", str(t / "masks"), "--batch_size", "2"],
     "photos in", signal.SIGINT),
    ("demo-training", lambda t, ck: ["demo", "--runs", str(t / "runs"), "--epochs", "50", "--image_size", "64",
                                     "--width", "4", "--device", "cpu", "--data_path", GENERATED_DATA],
     "device:", signal.SIGTERM),
    ("demo-scoring", lambda t, ck: ["demo", "--runs", str(t / "runs"), "--epochs", "1", "--image_size", "64",
                                    "--width", "4", "--device", "cpu", "--data_path", GENERATED_DATA],
     "finished:", signal.SIGTERM),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_signal_ends_every_command_within_two_seconds(case, tmp_path: Path, checkpoint: Path) -> None:
    name, argv, marker, sig = case
    if name == "infer-folder":
        _photos(tmp_path / "photos", 80)
    if name == "train-decoding":  # a dataset never decoded before: the first decode is the phase
        _many_photos(tmp_path / "fresh-data", "trainval", 400, seed=3)
    if name == "eval-scoring":
        _many_photos(tmp_path / "photos-data", "test", 300, seed=4)
    cache = tmp_path / "cache"
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1", PYTHONUNBUFFERED="1",
               PETSEG_CACHE=str(cache))
    # SIGINT as a terminal's Ctrl-C delivers it, even when pytest runs as a background job (which
    # inherits SIGINT ignored, and Python then leaves it ignored, as `nohup` users want). A warm
    # process (tests/warm_petseg.py): its own handlers, the signal sent to its own pid
    proc = warm_petseg.Popen([sys.executable, "-m", "engine.cli", *argv(tmp_path, checkpoint)], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             sigint_default=True)
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 240
    try:
        for line in proc.stdout:
            seen.append(line.rstrip())
            if marker in line:
                break
            assert time.monotonic() < deadline, seen
        assert proc.poll() is None, f"{name}: ended before its phase:\n" + "\n".join(seen)
        sent = time.monotonic()
        proc.send_signal(sig)
        watch = ProcessWatch(proc.pid)  # where the time went, for the message if it is too long
        rest = proc.communicate(timeout=30)[0]
        seconds = time.monotonic() - sent
        watch.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "\n".join(seen) + "\n" + rest
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    assert seconds <= EXIT_SECONDS, f"{name}: {seconds:.2f} s from {sig.name} to exit\n{watch.report()}\n{out}"
    assert _temp_files(tmp_path / "runs", tmp_path / "masks", cache) == []
    print(f"{name}: {sig.name} -> exit {proc.returncode} in {seconds:.2f} s")
