"""Shared fixtures: isolate every test from the user's caches, runs folder and data settings, and a
tiny finished run trained once per session for the tests that only read one."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Python's bytecode cache, which a machine's environment may turn off (PYTHONDONTWRITEBYTECODE=1
# here and on CI): without it every `petseg` child process a test starts (ranks, signal, fault
# and sweep tests) compiles the project's modules again, ~0.45 s of CPU each, and
# each xdist worker rewrites every test module's asserts again. Set before the workers and any
# child start, so they all inherit it; the caches go to the ignored __pycache__ folders.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
# one thread in torch's pool per process: the suite already runs one xdist worker per core, plus
# the child processes of the multi-process tests, and torch's default pool (as wide as the
# machine) in each of them oversubscribed the cores: OpenMP's spinning threads burnt ~13 % of
# the suite's CPU (docs/PERFORMANCE.md, "The two commands"). A value the developer set is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.no_fsync import skip_fsync_waits  # noqa: E402

skip_fsync_waits()

# the warm petseg zygote's environment: this process's now, before its imports (engine, OpenCV,
# torch) add variables of their own to it, as the zygote's imports do to its own
import tests.warm_petseg  # noqa: E402,F401

from engine.config import DATA_PATH_ENV, GENERATED_DATA


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n logical` (addopts) starts one xdist worker more than the logical cores: much of the
    suite waits (child processes starting, Textual's idle waits after each key, sweeps' timed
    fake epochs, timeouts), and on 2 cores two workers left ~30 % of the CPU idle. A mixed third
    of the suite (TUI, sweeps, signals, clean exit, data-parallel) took 242 s on 2 workers and
    213 s on 3. $PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set; `-n N` is left alone."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    import psutil

    return (psutil.cpu_count(logical=True) or os.cpu_count() or 1) + 1


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freezes what collection left alive (torch, Textual and the test modules: ~350 000 objects)
    so that each full collection after it, automatic or a test's own `gc.collect()`, no longer
    walks them; objects made by tests are collected as before. See docs/PERFORMANCE.md."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def _warm_petseg_zygote() -> Iterator[None]:
    """Ends this worker's warm petseg zygote (tests/warm_petseg.py), if a test started one."""
    yield
    if "tests.warm_petseg" in sys.modules:
        sys.modules["tests.warm_petseg"].shutdown()


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # one cache per session so the generated dataset is built once, never in the user's ~/.cache
    cache = tmp_path_factory.getbasetemp() / "petseg-cache"
    monkeypatch.setenv("PETSEG_CACHE", str(cache))
    monkeypatch.delenv("PETSEG_RUNS", raising=False)
    monkeypatch.delenv(DATA_PATH_ENV, raising=False)  # a user's dataset must not change what tests train on


@pytest.fixture
def ctrl_c_reaches_us() -> Iterator[None]:
    """SIGINT handled as a terminal's foreground job gets it: a test run started as a background
    job (``pytest &``, some CI runners) inherits it ignored, and petseg rightly keeps it ignored."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def generated_data() -> str:
    """The ``--data_path`` value of the generated (synthetic) set: small, fast and deterministic.

    Tests that train only to check mechanics (events, resume, faults, the form) name it
    explicitly; without a data path training uses the bundled real sample, as a user's would.
    """
    return GENERATED_DATA


# the flags of the session's tiny runs: CPU, the generated set, seconds per epoch
TINY_TRAIN = ["--image_size", "64", "--width", "4", "--batch_size", "8", "--max_train_images", "16",
              "--workers", "0", "--device", "cpu"]


@pytest.fixture(scope="session")
def finished_tiny_run(tmp_path_factory: pytest.TempPathFactory, generated_data: str) -> Path:
    """A run folder ``r`` that ``petseg train`` finished: 2 epochs, cosine, UNet width 4 at 64 px on
    the generated set (flags TINY_TRAIN). Trained once per test run, whichever xdist worker asks
    first (`made_once`), and shared: read-only; a test that changes it copies it first
    (``shutil.copytree(finished_tiny_run, tmp_path / "runs" / "r")``)."""
    from tests.once_per_run import made_once

    def train(root: Path) -> None:
        from engine.cli import main

        assert main(["train", "--runs", str(root), "--run_name", "r", "--epochs", "2", *TINY_TRAIN,
                     "--data_path", generated_data]) == 0

    return made_once(tmp_path_factory, "finished-tiny-run", train) / "r"
