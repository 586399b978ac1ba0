"""build_datasets from a TrainConfig, and reproducible make_loader."""

from __future__ import annotations

import pytest
import torch

from engine.config import TrainConfig
from engine.data.loaders import build_datasets, cap_evenly, make_loader
from engine.data.synthetic import generate_pet_dataset
from engine.errors import DatasetError


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return generate_pet_dataset(tmp_path_factory.mktemp("pets"), n_trainval=20, n_test=4, size=64, seed=7)


def _config(data_dir, tmp_path, **kw) -> TrainConfig:
    return TrainConfig(data_path=str(data_dir), image_size=32, cache_dir=str(tmp_path / "cache"), **kw)


def test_build_datasets_splits_and_logs(data_dir, tmp_path):
    lines: list[str] = []
    bundle = build_datasets(_config(data_dir, tmp_path), log=lines.append)
    assert (len(bundle.train), len(bundle.valid), len(bundle.test)) == (18, 2, 4)
    assert bundle.source.kind == "real" or bundle.source.kind == "generated"
    assert not set(bundle.train_names) & set(bundle.valid_names)
    assert bundle.skipped == []
    img, mask = bundle.train[0]
    assert img.shape == (3, 32, 32) and mask.shape == (1, 32, 32)
    assert any("train: 18 images" in line for line in lines)
    again = build_datasets(_config(data_dir, tmp_path), log=lines.append)
    assert again.train.arrays.from_cache and again.valid_names == bundle.valid_names


def test_max_train_images_caps_evenly(data_dir, tmp_path):
    bundle = build_datasets(_config(data_dir, tmp_path, max_train_images=5), log=lambda s: None)
    assert len(bundle.train) == 5 and len(bundle.valid) == 2
    assert cap_evenly(list("abcdefghij"), 5) == list("acegi")


def test_missing_data_path_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError):
        build_datasets(_config(tmp_path / "none", tmp_path), log=lambda s: None)


def _batches(loader, n=2):
    it = iter(loader)
    return [next(it) for _ in range(n)]


def test_loader_is_reproducible_and_seed_dependent(data_dir, tmp_path):
    bundle = build_datasets(_config(data_dir, tmp_path), log=lambda s: None)
    a = _batches(make_loader(bundle.train, 4, True, 0, "cpu", seed=1))
    b = _batches(make_loader(bundle.train, 4, True, 0, "cpu", seed=1))
    c = _batches(make_loader(bundle.train, 4, True, 0, "cpu", seed=2))
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not all(torch.equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))
    loader = make_loader(bundle.valid, 4, False, 0, "cuda", seed=0, drop_last=True)
    assert loader.pin_memory and loader.drop_last and not loader.persistent_workers


def test_loader_with_workers_is_reproducible(data_dir, tmp_path):
    bundle = build_datasets(_config(data_dir, tmp_path), log=lambda s: None)
    runs = []
    for _ in range(2):
        loader = make_loader(bundle.train, 3, True, 2, "cpu", seed=3)
        assert loader.persistent_workers
        runs.append(_batches(loader, 2))
        del loader
    for (xa, ya), (xb, yb) in zip(*runs):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # the two workers must not replay identical augmentation streams
    (x0, _), (x1, _) = runs[0]
    assert not torch.equal(x0, x1)


def test_a_loader_outlives_a_sigterm_sent_to_its_process_group(data_dir, tmp_path):
    """torchrun's agent (kill <torchrun>, a scheduler's scancel) SIGTERMs each rank's whole process
    group: the workers died with it and the rank, stopping gracefully, failed with "DataLoader
    worker (pid(s) ...) exited unexpectedly" instead of saving last.pt as "stopped"."""
    import os
    import signal
    import time

    import psutil

    bundle = build_datasets(_config(data_dir, tmp_path))
    loader = make_loader(bundle.train, batch_size=4, shuffle=True, workers=2, device_type="cpu", seed=1)
    first = len(list(loader))
    for child in psutil.Process().children():
        os.kill(child.pid, signal.SIGTERM)
    time.sleep(0.5)
    assert len(list(loader)) == first  # the next epoch, as after no signal


def test_a_worker_its_rank_does_not_shut_down_still_ends_after_the_grace(data_dir, tmp_path, monkeypatch):
    """Ignoring SIGTERM for good would keep a stuck worker alive through torch's terminate() and
    hang its process's exit in multiprocessing's join: a worker ends TERM_GRACE_SECONDS after it."""
    import os
    import signal
    import time

    import psutil

    import engine.data.loaders as loaders

    # the workers are forked: they see it. Far longer than the 0.3 s below, which a loaded machine
    # stretches: the worker must still be serving when it is looked at
    monkeypatch.setattr(loaders, "TERM_GRACE_SECONDS", 2.0)
    bundle = build_datasets(_config(data_dir, tmp_path))
    loader = make_loader(bundle.train, batch_size=4, shuffle=True, workers=2, device_type="cpu", seed=1)
    batches = iter(loader)
    next(batches)
    workers = psutil.Process().children()
    assert workers
    os.kill(workers[0].pid, signal.SIGTERM)
    time.sleep(0.3)
    assert workers[0].is_running() and workers[0].status() != psutil.STATUS_ZOMBIE  # serving still
    # then it ends, as torch's SIGCHLD handler in this process says (as it would in a rank)
    with pytest.raises(RuntimeError, match=r"exited unexpectedly with exit code 143"):
        workers[0].wait(timeout=10)
        time.sleep(1)  # the handler raises on the next bytecode after the child's end
    assert not workers[0].is_running() or workers[0].status() == psutil.STATUS_ZOMBIE
    del batches


_ITERATE_WITH_WORKERS = """
import torch
from torch.utils.data import TensorDataset
from engine.data.loaders import make_loader
data = TensorDataset(torch.zeros(8, 3, 16, 16), torch.zeros(8, 1, 16, 16))
loader = make_loader(data, batch_size=4, shuffle=True, workers=2, device_type="cpu", seed=1)
print("batches", len(list(loader)))
"""


def test_workers_serve_under_a_temp_folder_too_long_for_a_socket(tmp_path):
    """A cluster job's $TMPDIR can be longer than a unix socket's path allows once multiprocessing
    adds "/pymp-XXXXXXXX/listener-XXXXXXXX": every run with workers failed with "AF_UNIX path too
    long" in the workers, then "DataLoader worker ... exited unexpectedly"."""
    import os
    import sys
    from pathlib import Path

    from tests import warm_petseg

    long_tmp = tmp_path / ("scratch-" + "x" * 100)
    long_tmp.mkdir()
    repo = Path(__file__).resolve().parents[3]
    # a process of its own, warm (tests/warm_petseg.py): its temp folder is the TMPDIR given it
    done = warm_petseg.run([sys.executable, "-c", _ITERATE_WITH_WORKERS], capture_output=True, text=True,
                           timeout=120, check=False, cwd=repo,
                           env=dict(os.environ, TMPDIR=str(long_tmp), PYTHONPATH=str(repo)))
    assert done.returncode == 0 and "batches 2" in done.stdout, done.stderr[-1500:]
    assert list(long_tmp.iterdir()) == []  # multiprocessing's folder went to /tmp, and is gone
