"""The sweep spec: ``--param`` over any TrainConfig field (through its own parse_value), the TOML
file, and every bad spec as one line before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.config import config_fields
from engine.sweep.spec import SWEEP_OWNED_FIELDS, SweepSpecError, parse_param
from engine.sweep.spec_build import build_spec
from engine.sweep.spec_file import load_toml


def test_every_config_field_is_searchable_by_choice() -> None:
    """A field added to TrainConfig is searchable with no change to the sweep: its own parser reads the values."""
    for f in config_fields():
        if f.name in SWEEP_OWNED_FIELDS or f.default is None:
            continue
        p = parse_param(f"{f.name}=choice:{f.format_value(f.default)}")
        assert p.choices == (f.default,)


def test_ranges_are_typed_by_the_field() -> None:
    assert parse_param("learning_rate=log:1e-4:3e-3").low == pytest.approx(1e-4)
    width = parse_param("width=int:16:64:16")
    assert (width.low, width.high, width.step) == (16, 64, 16)
    assert width.grid_values() == (16, 32, 48, 64)
    assert parse_param("width=choice:32,64").choices == (32, 64)
    assert parse_param("channels_last=choice:yes,no").choices == (True, False)


@pytest.mark.parametrize("param, message", [
    ("lr=log:1e-4:1e-3", "unknown train field 'lr'"),
    ("learning_rate=log:0:1e-3", "a log range needs both ends above 0"),
    ("learning_rate=uniform:1e-3:1e-4", "empty range"),
    ("width=int:32:32", "empty range"),
    ("width=choice:", "an empty choice list"),
    ("width=choice:3,64", "width 3: must be an integer between 4 and 512"),
    ("augment_strength=uniform:1:2", "search it with choice"),
    ("width=beta:1:2", "unknown kind 'beta'"),
    ("devices=choice:1,2", "set by the sweep"),
    # the field's words, not Python's ("'two' is not a int value for epochs (invalid literal for int() ...)")
    ("epochs=choice:two,3", "epochs: expected an integer or none, got 'two'$"),
    ("learning_rate=log:1e-4:abc", "learning_rate: expected a number, got 'abc'$"),
    ("warmup_epochs=choice:1,x", "warmup_epochs: expected an integer or auto, got 'x'$"),
])
def test_bad_params_are_one_line(param: str, message: str) -> None:
    with pytest.raises(SweepSpecError, match="^--param .*" + message.replace("(", r"\(")):
        build_spec({"name": "s", "params": [param]})


@pytest.mark.parametrize("param, meant", [("lr=log:1e-4:1e-3", "learning_rate"), ("bs=choice:8,16", "batch_size"),
                                          ("learning_rat=log:1e-4:1e-3", "learning_rate")])
def test_an_unknown_field_names_the_one_meant(param: str, meant: str) -> None:
    """`--param lr=log:1e-4:1e-3` said "unknown train field 'lr'" and no more, though lr is the
    runs filter's (and the compare table's) own short name for learning_rate."""
    with pytest.raises(SweepSpecError) as exc:
        build_spec({"name": "s", "params": [param]})
    assert str(exc.value).endswith(f"(did you mean {meant}?)")


@pytest.mark.parametrize("param, message", [
    ("image_size=int:64:128", "--param image_size=int:64:128: image_size 65: must be a multiple of 32"),
    ("image_size=uniform:64:128", "--param image_size=uniform:64:128: image_size 65: must be a multiple of 32"),
    ("image_size=log:64:128", "--param image_size=log:64:128: image_size 65: must be a multiple of 32"),
    ("image_size=int:64:256:48", "--param image_size=int:64:256:48: image_size 112: must be a multiple of 32"),
])
def test_an_integer_range_with_values_inside_it_the_field_refuses_is_one_line(param: str, message: str) -> None:
    """Both ends pass but a trial draws any integer between them: image_size 64..128 would spend
    the whole budget on trials that fail before they start (99, 110, 103: not multiples of 32)."""
    with pytest.raises(SweepSpecError) as exc:
        build_spec({"name": "s", "params": [param], "base": {"device": "cpu"}})
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)
    assert build_spec({"name": "s", "params": ["image_size=int:64:128:32"]}).params[0].grid_values() == (64, 96, 128)


@pytest.mark.parametrize("settings, message", [
    ({"params": ["width=choice:16,32"], "base": {"model": "resnet34_unet"}},
     "--param width=choice:16,32: --model resnet34_unet ignores width: every trial would train the same network"),
    ({"params": ["width=int:16:64:16", "model=choice:resnet18_unet,resnet34_unet"]},
     "--param width=int:16:64:16: --model resnet18_unet, resnet34_unet ignore width"),
    ({"params": ["pretrained=choice:imagenet,w.pth"]},
     "--param pretrained=choice:imagenet,w.pth: --model unet ignores pretrained"),
    ({"params": ["sync_bn=choice:yes,no"]},
     "--param sync_bn=choice:yes,no: a trial with one process ignores sync_bn (see --devices_per_trial)"),
])
def test_a_searched_field_no_trial_uses_is_one_line(settings: dict, message: str) -> None:
    """Searching a field the trials' model ignores (width of an encoder model, pretrained of the
    plain UNet) would spend the budget on one same network, each trial's Dice only noise."""
    with pytest.raises(SweepSpecError) as exc:
        build_spec({"name": "s", **settings})
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_a_field_some_searched_model_uses_is_searched() -> None:
    spec = build_spec({"name": "s", "params": ["width=choice:16,32", "model=choice:unet,resnet18_unet"]})
    assert [p.name for p in spec.params] == ["width", "model"]


@pytest.mark.parametrize("settings, message", [
    ({"trials": 0}, "--trials 0: must be an integer >= 1"),
    ({"devices": "0,3"}, "--devices 0,3: GPU 3 does not exist (this machine has GPUs 0-1)"),
    ({"devices": "0,1", "devices_per_trial": 3}, "do not split"),
    ({"per_device": 2}, "--per_device: needs --devices"),
    ({"sampler": "grid", "params": ["learning_rate=log:1e-4:1e-3"]}, "--sampler grid needs choice"),
    ({"name": "bad name"}, "--name bad name"),
    ({"base": {"epochs": 0}}, "--epochs 0: must be an integer"),
    ({"sampler_seed": -1}, "--sampler_seed -1: must be an integer >= 0"),
    ({"base": {"device": "cuda:2"}}, "--device cuda:2: this machine has GPUs 0-1"),
    ({"params": ["device=choice:cpu,cuda:3"]}, "--param device=choice:cpu,cuda:3: this machine has GPUs 0-1"),
])
def test_bad_settings_are_one_line(settings: dict, message: str) -> None:
    full = {"name": "s", "params": ["width=choice:16,32"], **settings}
    with pytest.raises(SweepSpecError) as exc:
        build_spec(full, gpu_count=lambda: 2)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_cuda_on_a_machine_without_a_gpu_is_refused_before_any_trial() -> None:
    with pytest.raises(SweepSpecError, match=r"^--device cuda: this machine has no GPU$"):
        build_spec({"name": "s", "params": ["width=choice:16,32"], "base": {"device": "cuda"}}, gpu_count=lambda: 0)
    on_gpus = build_spec({"name": "s", "params": ["width=choice:16,32"], "base": {"device": "cuda"}},
                         gpu_count=lambda: 1)
    assert on_gpus.base["device"] == "cuda"
    with pytest.raises(SweepSpecError, match=r"^--device cuda:1: a trial sees only its own 1 GPU"):
        build_spec({"name": "s", "params": ["width=choice:16,32"], "devices": "0,1", "base": {"device": "cuda:1"}},
                   gpu_count=lambda: 2)


def test_grid_budget_is_the_grid() -> None:
    spec = build_spec({"name": "g", "sampler": "grid", "trials": 50,
                       "params": ["width=choice:16,32", "augment_strength=choice:off,light,smp"]})
    assert spec.trials == 6


@pytest.mark.parametrize("sampler", ["random", "tpe", "grid"])
def test_a_seeded_sampler_draws_the_same_trials_again(sampler: str, tmp_path: Path) -> None:
    """--sampler_seed N: a second sweep with the same seed asks the same parameters in the same
    order (a reproducible search); no seed draws afresh."""
    from engine.sweep.study import open_study, suggest

    params = ["width=choice:8,16,32,64"] if sampler == "grid" else ["learning_rate=log:1e-4:1e-2"]

    def draws(name: str, seed: int | None) -> list:
        spec = build_spec({"name": name, "sampler": sampler, "sampler_seed": seed, "params": params, "trials": 4})
        study = open_study(spec, tmp_path)
        for _ in range(4):
            trial = study.ask()
            suggest(trial, spec.params[0])
            study.tell(trial, 0.5)
        return [t.params for t in study.trials]

    assert draws("a", 7) == draws("b", 7)
    assert draws("c", 7) != draws("d", 8) or sampler == "grid"  # a grid of 4 may come out in one order twice


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_seeded_sweep_run_again_draws_new_trials(sampler: str, tmp_path: Path) -> None:
    """The same seeded command run again (after a crash, or with a larger --trials) goes on with
    new draws: a sampler seeded afresh would repeat the first trials' values (random: every one,
    tpe: its random start-up trials), each a wasted trial. Still reproducible."""
    from engine.sweep.study import open_study, suggest

    def draws(name: str) -> list:
        for trials in (2, 4):  # the first process, then the same command with a larger budget
            spec = build_spec({"name": name, "sampler": sampler, "sampler_seed": 7, "trials": trials,
                               "params": ["learning_rate=log:1e-4:1e-2"]})
            study = open_study(spec, tmp_path)
            for _ in range(2):
                trial = study.ask()
                suggest(trial, spec.params[0])
                study.tell(trial, 0.5)
        return [t.params["learning_rate"] for t in study.trials]

    first = draws("a")
    assert len(set(first)) == 4, first
    assert draws("b") == first


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_two_sweep_processes_with_their_own_seeds_draw_different_trials(sampler: str, tmp_path: Path) -> None:
    """Two "boxes" on one study, --sampler_seed 2 first and --sampler_seed 1 after its first trial:
    both samplers were seeded 2 (seed + trials asked) and the second trial repeated the first."""
    from engine.sweep.study import open_study, suggest

    def one_trial(seed: int) -> None:
        spec = build_spec({"name": "shared", "sampler": sampler, "sampler_seed": seed, "trials": 4,
                           "params": ["learning_rate=log:1e-4:1e-2"]})
        study = open_study(spec, tmp_path)
        trial = study.ask()
        suggest(trial, spec.params[0])
        study.tell(trial, 0.5)

    one_trial(2)
    one_trial(1)
    spec = build_spec({"name": "shared", "sampler": sampler, "trials": 4, "params": ["learning_rate=log:1e-4:1e-2"]})
    first, second = [t.params["learning_rate"] for t in open_study(spec, tmp_path).trials]
    assert first != second


def test_toml_spec(tmp_path: Path) -> None:
    toml = tmp_path / "sweep.toml"
    toml.write_text('name = "t"\ntrials = 4\nparallel = 2\n[params]\nlearning_rate = "log:1e-4:3e-3"\n'
                    'width = [16, 32]\n[train]\nepochs = 3\nimage_size = 64\n')
    spec = build_spec(load_toml(toml))
    assert (spec.name, spec.trials, spec.parallel) == ("t", 4, 2)
    assert [p.name for p in spec.params] == ["learning_rate", "width"]
    assert spec.params[1].choices == (16, 32)
    assert spec.base == {"epochs": 3, "image_size": 64}
    assert spec.trial_config({"learning_rate": 1e-3, "width": 16}).epochs == 3
    toml.write_text('name = "t"\nwidht = 3\n')
    with pytest.raises(SweepSpecError, match="unknown key 'widht'"):
        load_toml(toml)


def test_a_spec_path_that_is_no_small_file_is_refused_unread(tmp_path: Path) -> None:
    """The dashboard's form reads the spec file as its path is typed: a FIFO (read waits for a
    writer), /dev/zero (never ends) or a huge file froze its UI thread. Each is one line, unread."""
    import os

    from engine.sweep.spec_file import MAX_SPEC_BYTES

    fifo, huge = tmp_path / "fifo.toml", tmp_path / "huge.toml"
    os.mkfifo(fifo)
    with open(huge, "wb") as f:
        f.truncate(3 * MAX_SPEC_BYTES)
    for path, why in ((fifo, "not a regular file"), (Path("/dev/zero"), "not a regular file"),
                      (huge, "3 MiB, larger than a sweep spec (at most 1 MiB)"),
                      (tmp_path, "a folder, not a TOML file")):
        with pytest.raises(SweepSpecError) as exc:
            load_toml(path)
        assert str(exc.value) == f"--spec {path}: {why}"


def test_cli_bad_spec_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    for argv in (["--param", "learning_rate=log:0:1"], ["--param", "width=choice:16,32", "--trials", "0"],
                 ["--param", "width=choice:16,32", "--devices", "99"], ["--param", "width=choice:16", "--epochs", "0"]):
        assert main(["sweep", "--runs", str(runs), "--name", "s", *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("petseg: error: --") and "\n" not in err
    assert not runs.exists()


def test_a_data_folder_petseg_train_refuses_starts_no_trial(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The data check ``petseg train`` makes before its run folder, made once for every trial's data:
    one line naming the flag (or the file's key, or the searched choice), no trial folder, no study."""
    monkeypatch.delenv("PETSEG_DATA", raising=False)
    runs, nope, afile = tmp_path / "runs", tmp_path / "nope", tmp_path / "afile"
    afile.write_text("not a folder")
    toml = tmp_path / "s.toml"
    toml.write_text(f'name = "d"\n[params]\nwidth = [8, 16]\n[train]\ndata_path = "{nope}"\n')
    for argv, message in [
        (["--name", "d", "--param", "width=choice:8,16", "--data_path", str(nope)],
         f"--data_path {nope}: dataset folder does not exist"),
        (["--name", "d", "--param", "width=choice:8,16", "--data_path", str(afile)],
         f"--data_path {afile}: is a file, not a dataset folder"),
        (["--name", "d", "--param", f"data_path=choice:@generated,{nope}"],
         f"--param data_path=choice:@generated,{nope}: {nope}: dataset folder does not exist"),
        (["--spec", str(toml)], f'--spec {toml}: train.data_path = "{nope}": dataset folder does not exist'),
    ]:
        assert main(["sweep", "--runs", str(runs), *argv]) == 1
        assert capsys.readouterr().err.strip() == f"petseg: error: {message}"
    assert not runs.exists()


def test_a_sweep_started_in_the_background_keeps_every_setting() -> None:
    """The TUI's sweeps start as `petseg sweep` children (`sweep_argv`): every setting of the spec
    survives spec -> argv -> the CLI's parser -> spec."""
    from engine.cli.parser import build_parser
    from engine.cli.sweep import settings_from_args
    from engine.sweep.launch import sweep_argv

    spec = build_spec({"name": "all", "params": ["learning_rate=log:1e-4:1e-2", "width=choice:16,32"],
                       "trials": 7, "sampler": "random", "sampler_seed": 11, "prune": "none", "prune_warmup": 2,
                       "parallel": 2, "storage": "sqlite:///s.db", "eval_best": False,
                       "base": {"epochs": 3, "image_size": 64}})
    args = build_parser().parse_args(["sweep", *sweep_argv(spec)])
    again = build_spec(settings_from_args(args))
    assert again.to_dict() == spec.to_dict()  # params by their normal text (1e-4 comes back as 0.0001)
    assert (again.storage, again.eval_best, again.params[0].low) == (spec.storage, spec.eval_best, 1e-4)


def test_a_claimed_trial_never_shows_its_host_without_its_owner(tmp_path: Path) -> None:
    """Another sweep process's recovery takes its own host's trials whose owner is dead: a trial
    must never be seen with this host and no owner, or a trial just asked is taken twice."""
    from engine.sweep.study import HOST_ATTR, OWNER_ATTR, claim, open_study

    study = open_study(build_spec({"name": "c", "params": ["width=choice:8,16"]}), tmp_path)
    trial = study.ask()
    seen: list[dict] = []
    real = trial.set_user_attr

    def recording(key: str, value: object) -> None:
        real(key, value)
        seen.append(dict(study.trials[-1].user_attrs))

    trial.set_user_attr = recording  # type: ignore[method-assign]
    claim(trial, "cpu#0")
    assert all(OWNER_ATTR in attrs for attrs in seen if HOST_ATTR in attrs) and HOST_ATTR in seen[-1]


@pytest.mark.parametrize("line, flags, key, value", [
    ('eval_best = "no"', ["--eval_best", "no"], "eval_best", False),
    ("eval_best = false", ["--eval_best", "no"], "eval_best", False),
    ('eval_best = "yes"', ["--eval_best", "yes"], "eval_best", True),
    ('trials = "5"', ["--trials", "5"], "trials", 5),
    ("trials = 5", ["--trials", "5"], "trials", 5),
    ('sampler_seed = "3"', ["--sampler_seed", "3"], "sampler_seed", 3),
    ('prune_warmup = "0"', ["--prune_warmup", "0"], "prune_warmup", 0),
    ('parallel = "2"', ["--parallel", "2"], "parallel", 2),
])
def test_a_toml_setting_takes_what_its_flag_takes(tmp_path: Path, line: str, flags: list[str], key: str,
                                                  value: object) -> None:
    """A top-level TOML value means what the flag with the same text means (``eval_best = "no"``
    skips the test evaluation as ``--eval_best no`` does, never a truthy string read as yes)."""
    from engine.cli.parser import build_parser
    from engine.cli.sweep import settings_from_args

    toml = tmp_path / "s.toml"
    toml.write_text(f'name = "t"\n{line}\n[params]\nwidth = [8, 16]\n')
    from_file = build_spec(settings_from_args(build_parser().parse_args(["sweep", "--spec", str(toml)])))
    from_flags = build_spec(settings_from_args(build_parser().parse_args(
        ["sweep", "--name", "t", "--param", "width=choice:8,16", *flags])))
    assert getattr(from_file, key) == getattr(from_flags, key) == value


@pytest.mark.parametrize("line, message", [
    ('eval_best = "maybe"', "eval_best = \"maybe\": expected yes or no, got 'maybe'"),
    ("eval_best = 3", 'eval_best = 3: expected true/false or "yes"/"no"'),
    ('trials = "many"', "trials = \"many\": expected an integer, got 'many'"),
    ("parallel = 1.5", "parallel = 1.5: expected an integer, got 1.5"),
    ("storage = 5", "storage = 5: expected a string"),
])
def test_a_toml_setting_of_the_wrong_kind_is_one_line(tmp_path: Path, line: str, message: str) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text(f'name = "t"\n{line}\n')
    with pytest.raises(SweepSpecError) as exc:
        load_toml(toml)
    assert str(exc.value) == f"--spec {toml}: {message}"


@pytest.mark.parametrize("toml_body, flags, message", [
    ("[params]\nwidth = [8, 16]\n[train]\nepochs = 0\n", [],
     "{toml}: train.epochs = 0: must be an integer between 1 and 100000"),
    ("trials = 0\n[params]\nwidth = [8, 16]\n", [], "{toml}: trials = 0: must be an integer >= 1"),
    ("[params]\nwidth = [3, 16]\n", [], "{toml}: params.width = [3, 16]: width 3: must be an integer between 4 and 512"),
    # a train value of the wrong kind: the file's key and value, then the field's words (it was
    # "train.epochs: invalid literal for int() with base 10: 'two'")
    ('[params]\nwidth = [8, 16]\n[train]\nepochs = "two"\n', [],
     "{toml}: train.epochs = \"two\": expected an integer or none, got 'two'"),
    ('[params]\nlearning_rate = "log:0:1"\n', [],
     '{toml}: params.learning_rate = "log:0:1": a log range needs both ends above 0'),
    # a flag typed over the file's value: the error names the flag
    ("[params]\nwidth = [8, 16]\n[train]\nepochs = 3\n", ["--epochs", "0"],
     "--epochs 0: must be an integer between 1 and 100000"),
])
def test_an_error_in_a_spec_file_names_the_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        toml_body: str, flags: list[str], message: str) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(toml_body)
    runs = tmp_path / "runs"
    assert main(["sweep", "--runs", str(runs), "--spec", str(toml), "--name", "y", *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "petseg: error: " + message.format(toml=f"--spec {toml}")
    assert not runs.exists()


@pytest.mark.parametrize("toml_body, flags, message", [
    ('[params]\nepochs = "int:1:3"\n[train]\nepochs = 8\n', [],
     '{toml}: params.epochs = "int:1:3": epochs is also fixed ({toml}: train.epochs = 8); search it or fix it, not both'),
    ("[params]\nwidth = [8, 16]\n", ["--param", "learning_rate=log:1e-4:1e-2", "--learning_rate", "0.05"],
     ("--param learning_rate=log:1e-4:1e-2: learning_rate is also fixed (--learning_rate 0.05); search it or fix it, "
      "not both")),
])
def test_a_field_both_searched_and_fixed_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     toml_body: str, flags: list[str], message: str) -> None:
    """``--param learning_rate=log:... --learning_rate 0.05`` started the sweep and every trial took
    the searched value: the fixed one was dropped without a word."""
    toml = tmp_path / "both.toml"
    toml.write_text(toml_body)
    runs = tmp_path / "runs"
    assert main(["sweep", "--runs", str(runs), "--spec", str(toml), "--name", "y", "--trials", "1",
                 "--data_path", "/nonexistent-so-nothing-starts", *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "petseg: error: " + message.format(toml=f"--spec {toml}")
    assert not runs.exists()


def test_a_flag_typed_over_the_spec_file_replaces_its_search_or_its_value(tmp_path: Path) -> None:
    """Flags typed beside --spec override it: a typed --param replaces the file's fixed value of
    that field, a typed train flag the file's search of it (no conflict either way)."""
    from engine.cli.parser import build_parser
    from engine.cli.sweep import settings_from_args

    toml = tmp_path / "s.toml"
    toml.write_text('name = "s"\n[params]\nwidth = [8, 16]\nlearning_rate = "log:1e-4:1e-2"\n'
                    '[train]\nepochs = 3\nimage_size = 64\n')
    spec = build_spec(settings_from_args(build_parser().parse_args(
        ["sweep", "--spec", str(toml), "--param", "epochs=int:1:3", "--learning_rate", "0.01"])))
    assert sorted(p.name for p in spec.params) == ["epochs", "width"]
    assert spec.base == {"image_size": 64, "learning_rate": 0.01}


def test_a_sweep_lists_only_the_gpus_this_shell_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under CUDA_VISIBLE_DEVICES=4,5 on an 8-GPU box a sweep may list GPUs 0 and 1 (the machine's
    4 and 5): `--devices 0,1,2,3` was accepted and trials 2 and 3 ran on GPUs the user kept out.
    NVML is faked at the library boundary (the pynvml module)."""
    import sys
    import types

    from engine.sweep.slots import visible_gpu_count

    nvml = types.ModuleType("pynvml")
    nvml.nvmlInit, nvml.nvmlShutdown, nvml.nvmlDeviceGetCount = (lambda: None), (lambda: None), (lambda: 8)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    assert visible_gpu_count() == 2
    settings = {"name": "s", "params": ["learning_rate=log:1e-4:1e-3"], "devices": "0,1,2,3",
                "base": {"device": "cuda"}}
    with pytest.raises(SweepSpecError, match="--devices"):
        build_spec(settings, gpu_count=visible_gpu_count)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpu_count() == 8
    assert build_spec(settings, gpu_count=visible_gpu_count).devices == (0, 1, 2, 3)


def test_a_searched_choice_of_unset_is_said_as_the_flag_takes_it() -> None:
    """``--param pretrained=choice:imagenet,none`` started with "pretrained in {imagenet, None}"
    (and "trial 0 started: ... pretrained=None"): Python's None, a word no flag takes."""
    assert parse_param("pretrained=choice:imagenet,none").describe() == "pretrained in {imagenet, none}"
    assert parse_param("sync_bn=choice:yes,no").describe() == "sync_bn in {yes, no}"


@pytest.mark.parametrize("flags, meant", [("--epochs 2 --imagesize 64", "--image_size"), ("--lr 0.01", "--learning_rate")])
def test_a_mistyped_train_flag_of_the_sweep_form_names_the_one_meant(flags: str, meant: str) -> None:
    """The dashboard's new-sweep form said "train flags: --imagesize is not a train flag a trial
    takes", where `petseg sweep --imagesize 64` names --image_size."""
    from engine.sweep.launch import parse_train_flags

    with pytest.raises(SweepSpecError) as exc:
        parse_train_flags(flags)
    assert str(exc.value).endswith(f"is not a train flag a trial takes (did you mean {meant}?)")


@pytest.mark.parametrize("flags, said", [
    ("--run_name 'my run", "train flags: --run_name 'my run: a quote is not closed"),
    ("--epochs 2 \\", "train flags: --epochs 2 \\: a \\ at the end escapes nothing"),
])
def test_train_flags_that_do_not_split_say_what_is_wrong_in_words(flags: str, said: str) -> None:
    """The sweep form's Train flags with an open quote said Python's shlex words, "train flags:
    No closing quotation": capitalised mid-line, naming neither the text nor what to fix."""
    from engine.sweep.launch import parse_train_flags

    with pytest.raises(SweepSpecError) as exc:
        parse_train_flags(flags)
    assert str(exc.value) == said


def test_a_time_budget_without_epochs_makes_every_trial_train_for_the_time_alone() -> None:
    """As ``petseg train --time_budget 10m``: the trials have no epoch bound, unless the sweep
    fixes or searches the epochs."""
    alone = build_spec({"name": "s", "params": ["width=choice:8,16"], "base": {"time_budget": "10m"}})
    assert alone.trial_config({"width": 8}).epochs is None
    searched = build_spec({"name": "s", "params": ["epochs=int:5:10"], "base": {"time_budget": "10m"}})
    assert "epochs" not in searched.base
    fixed = build_spec({"name": "s", "params": ["width=choice:8,16"], "base": {"time_budget": "10m", "epochs": 40}})
    assert fixed.base["epochs"] == 40
