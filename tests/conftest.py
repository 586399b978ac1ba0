"""Shared fixtures: isolate every test from the user's caches, runs folder and shared data."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # one cache per session so the generated dataset is built once, never in the user's ~/.cache
    cache = tmp_path_factory.getbasetemp() / "petseg-cache"
    monkeypatch.setenv("PETSEG_CACHE", str(cache))
    monkeypatch.delenv("PETSEG_RUNS", raising=False)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
