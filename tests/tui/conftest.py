"""Fixtures for the TUI tests: run folders written with the real RunStore/RunWriter, UTC times,
the sweeps screen's fixture sweep, the inference screen's (a fake predictor, a folder of photos,
a run with a real tiny checkpoint), and the session's tiny run exported once (``exported_tiny``).
The helpers they use (and the tests import) live in tui_helpers.py, tui_sweep.py and
tui_inference.py."""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_helpers import (DIVERGED_DICES, DIVERGED_LOSSES, OUTLIER_DICES, OUTLIER_LOSSES, T0, make_curve_run, make_run,
                         make_sweep_runs)
from tui_inference import FakePredictor, make_photo

from petseg_tui.screens import inference as inf

_PARSED_CSS: dict[tuple, list] = {}


@pytest.fixture(scope="session", autouse=True)
def _css_parsed_once_per_worker() -> Iterator[None]:
    """Textual parses every widget's CSS again for each app (its parse cache is the app's own
    stylesheet's): ~60 ms of each TUI test's CPU, ~7-10 % of it. The parse reads only its arguments
    and the stylesheet's variables (the theme), so its rule sets are shared between the apps of a
    worker under a key of all of those, as one app already shares them between its own parses.
    Textual is pinned (pyproject.toml); a version whose method differs is left alone."""
    from textual.css.stylesheet import Stylesheet

    own = Stylesheet._parse_rules
    if list(inspect.signature(own).parameters) != ["self", "css", "read_from", "is_default_rules", "tie_breaker",
                                                     "scope"]:
        yield
        return

    def parse_rules(self: Stylesheet, css: str, read_from: object, is_default_rules: bool = False,
                    tie_breaker: int = 0, scope: str = "") -> list:
        key = (css, read_from, is_default_rules, tie_breaker, scope, tuple(self._variables.items()))
        rules = _PARSED_CSS.get(key)
        if rules is None:
            rules = own(self, css, read_from, is_default_rules, tie_breaker, scope)
            if len(_PARSED_CSS) > 4096:
                _PARSED_CSS.clear()
            _PARSED_CSS[key] = rules
        return rules

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Stylesheet, "_parse_rules", parse_rules)
        yield


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


@pytest.fixture
def sample_runs(runs_dir: Path) -> Path:
    """Three finished/stopped/failed runs plus a broken one (garbage config.json)."""
    make_run(runs_dir, "alpha", epochs_done=5, total=5, learning_rate=1e-3, batch_size=16)
    make_run(runs_dir, "bravo", epochs_done=3, total=6, state="stopped", t0=T0 + 3600, learning_rate=3e-4,
             batch_size=16)
    make_run(runs_dir, "charlie", epochs_done=2, total=4, state="failed", t0=T0 + 7200, model="resnet34_unet",
             learning_rate=1e-3, batch_size=8)
    broken = runs_dir / "delta-broken"
    broken.mkdir()
    (broken / "config.json").write_text("{ this is not json")
    (broken / "events.jsonl").write_text("garbage line\n")
    return runs_dir


@pytest.fixture
def sweep_runs(runs_dir: Path) -> Path:
    make_sweep_runs(runs_dir)
    return runs_dir


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    """Started times render in UTC so tables and snapshots do not depend on the machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def chart_runs(sample_runs: Path) -> Path:
    """sample_runs plus an epoch-1 outlier (train loss 3.81) and a run diverging to 1.7e13 at lr 9."""
    make_curve_run(sample_runs, "outlier", OUTLIER_LOSSES, OUTLIER_DICES, t0=T0 + 10_000)
    make_curve_run(sample_runs, "diverged-lr9", DIVERGED_LOSSES, DIVERGED_DICES, total=20, t0=T0 + 11_000,
                   diverged=True, learning_rate=9.0)
    return sample_runs


@pytest.fixture(autouse=True)
def _quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The screens' watcher threads look at the disk every ~0.1 s, not every 0.25-2 s: a test
    waits for what it asserts (`wait_for`), and most of that wait was the next poll's tick, idle
    time in which the test's worker did nothing (what is shown, and when it is read, is the same)."""
    from petseg_tui.screens import compare, live_run, runs, sweep
    from petseg_tui.widgets import log_pane, system_strip

    for module, name in ((runs, "ACTIVE_POLL_S"), (live_run, "POLL_S"), (sweep, "POLL_S"), (compare, "POLL_S"),
                         (log_pane, "POLL_S"), (system_strip, "POLL_S")):
        monkeypatch.setattr(module, name, 0.1)


@pytest.fixture
def fake_predictor(monkeypatch: pytest.MonkeyPatch) -> type[FakePredictor]:
    FakePredictor.calls = 0
    monkeypatch.setattr(inf, "load_predictor", lambda checkpoint: FakePredictor(checkpoint))
    return FakePredictor


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    make_photo(folder / "cat.jpg", seed=1)
    make_photo(folder / "dog.png", size=(80, 100), seed=2)
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "fake.jpg").write_text("this is text, not a JPEG\n")
    return folder


@pytest.fixture
def real_checkpoint_run(tmp_path: Path) -> Path:
    """A run folder whose best.pt is a tiny real UNet checkpoint in the contract format."""
    torch = pytest.importorskip("torch")
    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model("unet", width=4)
    run = tmp_path / "runs" / "tiny-unet"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"model": "unet", "image_size": 64}\n')
    torch.save(
        {
            "format": "petseg-checkpoint/1",
            "arch": {"name": "unet", "kwargs": {"width": 4}},
            "model": model.state_dict(),
            "image_size": 64,
            "mask_rule": "pet_border",
            "epoch": 1,
            "best_dice": 0.5,
            "config": {"model": "unet", "image_size": 64, "width": 4},
        },
        run / "checkpoints" / "best.pt",
    )
    return run


@pytest.fixture
def exported_tiny(tmp_path_factory, finished_tiny_run):
    from tests.engine.export.exported import exported_run

    return exported_run(tmp_path_factory, finished_tiny_run)[0]
