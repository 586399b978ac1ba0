"""Where a sweep's trials train at once: each trial its own GPUs (--devices, --devices_per_trial),
the GPUs this shell sees (CUDA_VISIBLE_DEVICES), and the warning when more CPU trials run at once
than there are cores, from the command line, a spec and the form's draft alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.runs import RunStore
from tests.engine.sweep.sweep_cli_helpers import SPACE


@pytest.mark.slow
def test_gpu_slots_give_each_trial_its_gpus(tmp_path: Path, fake_trainer: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """--devices 0,1,2,3 --devices_per_trial 2: two trials at once, each seeing its own pair of GPUs
    (a GPU box faked at the library boundary: the GPU count, and a trainer that records its env)."""
    import engine.sweep.slots as slots

    monkeypatch.setattr(slots, "visible_gpu_count", lambda: 4)
    runs = tmp_path / "runs"
    assert main(["sweep", "--runs", str(runs), "--name", "gpu", *SPACE, "--trials", "4", "--devices", "0,1,2,3",
                 "--devices_per_trial", "2", "--epochs", "2", "--prune", "none"]) == 0
    configs = [json.loads((s.path / "config.json").read_text()) for s in RunStore(runs).list_runs()]
    assert sorted(c["visible_gpus"] for c in configs) == ["0,1", "0,1", "2,3", "2,3"]
    assert {c["devices"] for c in configs} == {"2"}  # each trial a 2-process data-parallel run


def test_slots_per_gpu_group() -> None:
    from engine.sweep.slots import make_slots
    from engine.sweep.spec_build import build_spec

    spec = build_spec({"name": "s", "params": ["width=choice:16"], "devices": "0,1,2,3", "per_device": 2,
                       "devices_per_trial": 2}, gpu_count=lambda: 4)
    assert [(s.label, s.env["CUDA_VISIBLE_DEVICES"]) for s in make_slots(spec)] == [
        ("gpu0,1#0", "0,1"), ("gpu2,3#0", "2,3"), ("gpu0,1#1", "0,1"), ("gpu2,3#1", "2,3")]


def test_slots_follow_the_gpus_this_shell_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under CUDA_VISIBLE_DEVICES=4,5,6,7 a sweep's --devices 0,1,2,3 are those four GPUs, not
    the machine's first four (that others may be using)."""
    from engine.sweep.slots import make_slots
    from engine.sweep.spec_build import build_spec

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    spec = build_spec({"name": "s", "params": ["width=choice:16"], "devices": "0,1,2,3", "per_device": 1,
                       "devices_per_trial": 2}, gpu_count=lambda: 4)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in make_slots(spec)] == ["4,5", "6,7"]


@pytest.mark.parametrize("parallel, warned", [(3, True), (2, False)])
def test_more_cpu_trials_at_once_than_cores_is_said(tmp_path: Path, fake_trainer: None,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch, parallel: int,
                                                     warned: bool) -> None:
    """``--parallel 99`` on a 2-core CPU was accepted without a word: every trial time-slices the
    same cores and trains slowly."""
    import engine.cores
    import engine.sweep.slots

    monkeypatch.setattr(engine.cores, "available_cores", lambda: 2)
    monkeypatch.setattr(engine.sweep.slots, "visible_gpu_count", lambda: 0)
    main(["sweep", "--runs", str(tmp_path / "runs"), "--name", "many", *SPACE, "--trials", "3",
          "--parallel", str(parallel), "--epochs", "1"])
    said = [line for line in capsys.readouterr().err.splitlines() if "CPU cores" in line]
    expected = ("petseg: warning: --parallel 3: 3 training processes at once on the 2 CPU cores available here "
                "time-slice them, so every trial trains slowly; --parallel 2 gives each one a core")
    assert said == ([expected] if warned else [])


def test_trials_on_gpus_are_not_warned_about_the_cpu_cores() -> None:
    """--devices places trials on GPUs (and without it, a GPU seen here is a trial's auto device):
    the CPU's cores do not bound how many train at once."""
    from engine.sweep.slots import cpu_slots_warning
    from engine.sweep.spec_build import build_spec

    space = {"name": "g", "params": ["learning_rate=log:1e-4:1e-3"]}
    on_gpus = build_spec({**space, "devices": "0,1", "per_device": 8}, gpu_count=lambda: 2)
    assert cpu_slots_warning(on_gpus, cores=2, gpus=2) == ""
    auto = build_spec({**space, "parallel": 8})
    assert cpu_slots_warning(auto, cores=2, gpus=1) == ""
    assert "8 training processes" in cpu_slots_warning(auto, cores=2, gpus=0)
    on_cpu = build_spec({**space, "parallel": 8, "base": {"device": "cpu"}})
    assert "8 training processes" in cpu_slots_warning(on_cpu, cores=2, gpus=1)
    few = build_spec({**space, "parallel": 8, "trials": 2})  # never more at once than the trials
    assert cpu_slots_warning(few, cores=2, gpus=0) == ""


def test_the_warning_is_read_from_a_draft_of_the_settings_as_the_form_has_them() -> None:
    """The sweep form warns as its fields are typed, its name maybe still blank: the same rule and
    words as `cpu_slots_warning`, nothing while a number does not read, nothing for GPU trials."""
    from engine.sweep.slots import cpu_slots_warning, draft_slots_warning
    from engine.sweep.spec_build import build_spec

    settings = {"name": "", "params": [], "parallel": 8, "base": {"device": "cpu"}}
    full = build_spec({**settings, "name": "s", "params": ["learning_rate=log:1e-4:1e-3"]})
    assert draft_slots_warning(settings, cores=2, gpus=0) == cpu_slots_warning(full, cores=2, gpus=0) != ""
    assert draft_slots_warning({**settings, "trials": 2}, cores=2, gpus=0) == ""  # never more at once than trials
    assert draft_slots_warning({**settings, "parallel": 0}, cores=2, gpus=0) == ""  # refused at start instead
    assert draft_slots_warning({**settings, "devices": "0"}, cores=2, gpus=1) == ""
