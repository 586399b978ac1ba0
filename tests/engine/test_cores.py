"""engine.cores: each child's share of the cores when several run at once."""

from __future__ import annotations

import pytest

from engine.cores import threads_env


def test_each_process_gets_its_share_of_the_cores_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads_env(2, cores=16) == {"OMP_NUM_THREADS": "8"}
    assert threads_env(3, cores=2) == {"OMP_NUM_THREADS": "1"}  # never 0
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert threads_env(2, cores=16) == {}
