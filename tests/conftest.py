"""Shared fixtures: isolate every test from the user's caches, runs folder and data settings."""

from __future__ import annotations

import os

import pytest

from engine.config import DATA_PATH_ENV, GENERATED_DATA


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # one cache per session so the generated dataset is built once, never in the user's ~/.cache
    cache = tmp_path_factory.getbasetemp() / "petseg-cache"
    monkeypatch.setenv("PETSEG_CACHE", str(cache))
    monkeypatch.delenv("PETSEG_RUNS", raising=False)
    monkeypatch.delenv(DATA_PATH_ENV, raising=False)  # a user's dataset must not change what tests train on
    os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def generated_data() -> str:
    """The ``--data_path`` value of the generated (synthetic) set: small, fast and deterministic.

    Tests that train only to check mechanics (events, resume, faults, the form) name it
    explicitly; without a data path training uses the bundled real sample, as a user's would.
    """
    return GENERATED_DATA
