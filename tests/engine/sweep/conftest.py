"""The sweep tests' fixtures: ``fake_trainer``, each trial's ``petseg train`` run as fake_train.py
(no torch) by a sweep in the test's own process, so the sweep's own code is what runs; ``closed_port``,
a storage server that is down."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from tests.engine.sweep.sweep_cli_helpers import HERE


@pytest.fixture
def fake_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(HERE))
    try:
        from fake_sweep import use_fake_trainer
    finally:
        sys.path.remove(str(HERE))
    from engine.train import launch

    monkeypatch.setattr(launch, "train_command", launch.train_command)
    monkeypatch.setattr(launch, "resume_command", launch.resume_command)
    use_fake_trainer()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")]))


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening (bound, then freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
