"""Resume rules (engine/train/resume.py): a new epoch budget trains, flags are applied or refused by
name, hand-edited config is refused, and a refused or failed resume leaves the run as it was."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.cli import main
from engine.config import TrainConfig
from engine.errors import ConfigError, RunStoreError
from engine.events import EpochEnded
from engine.train.resume import ResumePlan, plan_resume
from engine.train.resume_budget import BudgetChange, apply_budget, describe_budget_changes
from engine.runs import RunStore

TINY = ["--image_size", "64", "--width", "4", "--batch_size", "8", "--max_train_images", "16", "--workers", "0",
        "--device", "cpu"]


# ---- the rules themselves (no training) ---------------------------------------------------------

def stored(**kw) -> dict:
    return TrainConfig(epochs=2, **kw).to_dict()


def ckpt(epoch: int = 2, **kw) -> dict:
    return {"arch": {"name": "unet", "kwargs": {"width": 64}}, "epoch": epoch, "config": stored(**kw)}


@pytest.mark.parametrize("flag, value", [
    ("model", "resnet34_unet"), ("learning_rate", 0.01), ("batch_size", 4), ("image_size", 128),
    ("data_path", "/elsewhere"), ("seed", 7), ("scheduler", "none"), ("mask_rule", "pet_only"),
])
def test_a_flag_that_would_change_what_is_learned_is_refused_by_name(flag: str, value) -> None:
    with pytest.raises(ConfigError, match=rf"^--{flag} {value}: a resumed run keeps its {flag}"):
        plan_resume(Path("/r"), stored(), {flag: value}, ckpt(), Path("/r/last.pt"))


@pytest.mark.parametrize("flag, value, kept", [
    ("time_budget", "5m", "none"), ("pretrained", "imagenet", "none"), ("max_train_images", 8, "all"),
    ("data_path", "/elsewhere", "bundled real sample"),
])
def test_a_flag_refused_on_a_run_that_left_it_unset_names_what_unset_means(flag: str, value, kept: str) -> None:
    """`--resume r --time_budget 5m` of a run without a time budget read "keeps its time_budget
    (unset: chosen automatically)": nothing is chosen, the run has none. The unset value is said
    as the flag's word for it (`--time_budget none`, `--max_train_images all`)."""
    with pytest.raises(ConfigError) as info:
        plan_resume(Path("/r"), stored(), {flag: value}, ckpt(), Path("/r/last.pt"))
    assert str(info.value).startswith(f"--{flag} {value}: a resumed run keeps its {flag} ({kept}); start a new run")


@pytest.mark.parametrize("typo, meant", [("epoch", "epochs"), ("learning_rat", "learning_rate"),
                                         ("batchsize", "batch_size")])
def test_a_mistyped_setting_in_config_json_is_refused_not_ignored(typo: str, meant: str) -> None:
    """README says a resume takes epochs edited in config.json: an "epoch": 20 went on with the old
    budget without a word (TrainConfig.from_dict drops what it does not know)."""
    edited = {**stored(), typo: 20}
    with pytest.raises(RunStoreError) as info:
        plan_resume(Path("/r"), edited, {}, ckpt(epoch=1), Path("/r/last.pt"))
    assert str(info.value) == (f"/r/config.json: {typo}: not a setting (did you mean {meant}?); correct config.json, "
                               "then resume again")


def test_config_json_records_are_not_taken_for_mistyped_settings() -> None:
    """What petseg itself adds to config.json (resolved device and precision, versions, the sweep,
    the data-parallel record, ...) resumes as before."""
    records = {"amp_probe": {}, "amp_resolved": "fp32", "argv": [], "augment_on_resolved": "cpu",
               "compile_resolved": "off", "data_source": "", "device_resolved": "cpu", "distributed": {},
               "sweep": {}, "versions": {}, "workers_used": 0, "budget_changes": [], "data_placement": "cpu",
               "time_budget_result": {}}
    plan = plan_resume(Path("/r"), {**stored(), **records}, {}, ckpt(epoch=1), Path("/r/last.pt"))
    assert plan.done_epochs == 1 and plan.config == TrainConfig(epochs=2)


def test_the_recorded_data_folder_named_relative_is_the_same_data(tmp_path: Path, monkeypatch) -> None:
    """A run records its data folder absolute; --resume --data_path with the same folder named
    relative (as it was given to train) is no change, another folder still is."""
    monkeypatch.chdir(tmp_path)
    record = stored(data_path=str(tmp_path / "pets"))
    plan = plan_resume(Path("/r"), record, {"data_path": "pets"}, ckpt(), Path("/r/last.pt"))
    assert plan.config.data_path == str(tmp_path / "pets") and plan.applied == {}
    with pytest.raises(ConfigError, match=r"^--data_path other: a resumed run keeps its data_path"):
        plan_resume(Path("/r"), record, {"data_path": "other"}, ckpt(), Path("/r/last.pt"))


def test_the_same_value_is_no_change_and_runtime_flags_are_applied() -> None:
    plan = plan_resume(Path("/r"), stored(), {"model": "unet", "learning_rate": 1e-3, "device": "cpu",
                                              "workers": 0, "epochs": 5}, ckpt(), Path("/r/last.pt"))
    assert plan.config.device == "cpu" and plan.config.workers == 0 and plan.config.epochs == 5
    assert plan.applied == {"device": ("auto", "cpu"), "workers": (2, 0)}
    assert plan.budget == BudgetChange(after_epoch=2, old=2, new=5, scheduler="cosine")
    record = plan.updated_record(stored())
    assert record["epochs"] == 5 and record["device"] == "cpu" and record["budget_changes"][0]["to"] == 5


@pytest.mark.parametrize("field, value", [("model", "resnet34_unet"), ("width", 32), ("image_size", 128),
                                          ("mask_rule", "pet_only"), ("scheduler", "plateau"),
                                          ("learning_rate", 0.5)])
def test_hand_edited_config_that_last_pt_contradicts_is_refused(field: str, value) -> None:
    edited = stored()
    edited[field] = value
    with pytest.raises(RunStoreError, match=rf"config.json: {field} is {value!r} but last.pt was trained with"):
        plan_resume(Path("/r"), edited, {}, ckpt(epoch=1), Path("/r/last.pt"))


def test_hand_edits_that_are_safe_are_accepted() -> None:
    edited = stored(data_path="/moved/oxford-pet")  # the same dataset, moved
    edited["workers"] = 0
    plan = plan_resume(Path("/r"), edited, {}, ckpt(epoch=1), Path("/r/last.pt"))
    assert plan.config.data_path == "/moved/oxford-pet" and plan.budget is None


def test_epoch_budget_rules() -> None:
    with pytest.raises(RunStoreError, match="has already trained all its 2 epochs; to train more: "
                                            r"petseg train --resume r --epochs N \(N > 2\)"):
        plan_resume(Path("/r"), stored(), {}, ckpt(), Path("/r/last.pt"), finished=True)
    with pytest.raises(ConfigError, match="--epochs 2: the run has already trained 2 epochs"):
        plan_resume(Path("/r"), stored(), {"epochs": 2}, ckpt(), Path("/r/last.pt"))
    # killed after its final last.pt, before it said "finished": a plain resume completes it
    plan = plan_resume(Path("/r"), stored(), {}, ckpt(), Path("/r/last.pt"), finished=False)
    assert plan.config.epochs == 2 and plan.budget is None
    # edited epochs in config.json is a new budget too
    plan = plan_resume(Path("/r"), dict(stored(), epochs=6), {}, ckpt(epoch=1), Path("/r/last.pt"))
    assert plan.budget == BudgetChange(after_epoch=1, old=2, new=6, scheduler="cosine")


def test_cosine_budget_is_the_original_schedule_stretched() -> None:
    """A 2-epoch cosine run at lr 0 after epoch 2, extended to 6: epochs 3..6 get
    base * (1 + cos(pi * (e-1) / 6)) / 2, exactly a 6-epoch run's values there."""
    base = 1e-3
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=base)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    for _ in range(2):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # what the old resume trained at
    plan = ResumePlan(Path("/r"), TrainConfig(epochs=6), None, 2,
                      budget=BudgetChange(after_epoch=2, old=2, new=6, scheduler="cosine"))
    apply_budget(plan, sched, opt)
    lrs = []
    for _ in range(4):  # epochs 3..6
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [base * (1 + math.cos(math.pi * (e - 1) / 6)) / 2 for e in (3, 4, 5, 6)]
    assert lrs == pytest.approx(expected, rel=1e-9)
    assert plan.budget.next_lr == pytest.approx(expected[0])
    assert "epochs 2→6 after epoch 2 (cosine stretched, lr 7.50e-04 at epoch 3)" == plan.budget.describe()


# ---- with real (tiny) runs ------------------------------------------------------------------------

@pytest.fixture
def run(finished_tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the session's finished 2-epoch cosine run (trained with TINY's flags), to change."""
    dest = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, dest)
    return dest


def snapshot(run: Path) -> dict[str, bytes]:
    files = [run / "status.json", run / "config.json", *sorted((run / "checkpoints").glob("*.pt"))]
    return {p.name: p.read_bytes() for p in files}


@pytest.mark.slow
def test_extending_a_finished_cosine_run_really_trains(run: Path, capsys) -> None:
    before = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    assert main(["train", "--runs", str(run.parent), "--resume", "r", "--epochs", "4", *TINY]) == 0
    out = capsys.readouterr().out
    assert "resume: epochs 2→4 after epoch 2 (cosine stretched, lr 5.00e-04 at epoch 3)" in out
    h = RunStore(run.parent).load("r")
    assert sorted(h.epochs) == [1, 2, 3, 4] and h.state == "finished"
    assert h.epochs[3].lr == pytest.approx(5e-4) and h.epochs[4].lr == pytest.approx(1e-3 * (1 + math.cos(math.pi * 3 / 4)) / 2)
    after = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    moved = max((after[k].float() - before[k].float()).abs().max().item() for k in before if before[k].is_floating_point())
    assert moved > 1e-4  # the weights changed (at lr 0 only BatchNorm statistics moved)
    config = json.loads((run / "config.json").read_text())
    assert config["epochs"] == 4 and config["budget_changes"][0]["from"] == 2 and config["budget_changes"][0]["to"] == 4
    assert describe_budget_changes(config).startswith("epochs 2→4 after epoch 2")
    assert main(["runs", "--runs", str(run.parent)]) == 0
    listing = capsys.readouterr().out
    assert "4/4" in listing and "r: epochs 2→4 after epoch 2 (cosine stretched, lr 5.00e-04 at epoch 3)" in listing


@pytest.mark.slow
def test_a_stopped_extension_resumes_to_its_new_budget(run: Path, capsys) -> None:
    """The printed `petseg train --resume r` after a stop used to 'finish' at once (config.json
    still said 2 epochs; runs showed 4/2)."""
    from engine.train.trainer import Trainer

    t = Trainer(None, run.parent, "r", resume=True, overrides={"epochs": 5})
    t.subscribe(lambda e: t.stop() if e.kind == "epoch_ended" and e.epoch == 3 else None)
    assert t.run() == "stopped"
    assert RunStore(run.parent).summary("r").total_epochs == 5
    assert main(["train", "--runs", str(run.parent), "--resume", "r"]) == 0
    h = RunStore(run.parent).load("r")
    assert sorted(h.epochs) == [1, 2, 3, 4, 5] and h.state == "finished"
    s = RunStore(run.parent).summary("r")
    assert (s.epoch, s.total_epochs) == (5, 5)
    config = json.loads((run / "config.json").read_text())
    assert len(config["budget_changes"]) == 1  # one change, 2→5, whatever the resumes after it
    capsys.readouterr()


@pytest.mark.parametrize("damage", ["torn", "gone"])
def test_a_finished_run_whose_status_is_damaged_is_not_resumed_to_nothing(run: Path, capsys, damage: str) -> None:
    """status.json torn or gone: a plain resume said "resuming at epoch 3", trained nothing and
    called it finished. The journal's last session finished, so it is refused as any finished run is."""
    status = run / "status.json"
    if damage == "torn":
        status.write_bytes(status.read_bytes()[:20])
    else:
        status.unlink()
    assert main(["train", "--runs", str(run.parent), "--resume", "r"]) == 1
    assert "has already trained all its 2 epochs; to train more" in capsys.readouterr().err
    # a session that started again and died before it finished: completed at once, as before
    with (run / "events.jsonl").open("a") as f:
        f.write(json.dumps({"kind": "run_started", "run": "r", "total_epochs": 2, "start_epoch": 3, "train_size": 16,
                            "valid_size": 4, "device": "cpu", "data": "test", "t": 9e9, "resumed": True}) + "\n")
    assert main(["train", "--runs", str(run.parent), "--resume", "r"]) == 0
    assert RunStore(run.parent).summary("r").state == "finished"
    capsys.readouterr()


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "4", "--model", "resnet34_unet"], "--model resnet34_unet: a resumed run keeps its model ('unet')"),
    (["--epochs", "4", "--learning_rate", "0.01"], "--learning_rate 0.01: a resumed run keeps its learning_rate"),
    (["--run_name", "other"], "--run_name other: cannot rename a run on --resume"),
    ([], "has already trained all its 2 epochs"),
    (["--epochs", "4", "--device", "cuda"], "--device cuda: CUDA is not available"),
])
def test_a_refused_resume_leaves_the_run_as_it_was(run: Path, capsys, argv: list[str], message: str) -> None:
    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    before = snapshot(run)
    events_before = (run / "events.jsonl").read_bytes()
    assert main(["train", "--runs", str(run.parent), "--resume", "r", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("petseg: error:") and message in err and "\n" not in err, err
    assert snapshot(run) == before and (run / "events.jsonl").read_bytes() == events_before
    assert RunStore(run.parent).summary("r").state == "finished"


def test_hand_edited_config_is_refused_with_one_line(run: Path, capsys) -> None:
    config = json.loads((run / "config.json").read_text())
    config["image_size"] = 128
    (run / "config.json").write_text(json.dumps(config))
    before = snapshot(run)
    assert main(["train", "--runs", str(run.parent), "--resume", "r", "--epochs", "4"]) == 1
    err = capsys.readouterr().err.strip()
    assert "config.json: image_size is 128 but last.pt was trained with 64 (edited by hand?)" in err
    assert snapshot(run) == before


def test_a_resume_that_fails_before_training_leaves_the_run_as_it_was(run: Path, capsys, tmp_path: Path) -> None:
    config = json.loads((run / "config.json").read_text())
    config["data_path"] = str(tmp_path / "moved-away")  # a data folder that is gone
    (run / "config.json").write_text(json.dumps(config))
    before = snapshot(run)
    assert main(["train", "--runs", str(run.parent), "--resume", "r", "--epochs", "4", *TINY[-4:]]) == 1
    err = capsys.readouterr().err.strip()
    assert "dataset folder does not exist" in err and "resume abandoned; r is left as it was" in err
    assert snapshot(run) == before  # status, config and checkpoints untouched
    s = RunStore(run.parent).summary("r")
    assert s.state == "finished" and (s.epoch, s.total_epochs) == (2, 2)
    h = RunStore(run.parent).load("r")
    assert any("resume abandoned" in w for w in h.warnings)  # why R/--resume did nothing, for the TUI


def test_a_resume_stopped_while_it_loads_data_leaves_the_run_as_it_was(run: Path, tmp_path: Path) -> None:
    from engine.train.trainer import Trainer

    before = snapshot(run)
    t = Trainer(None, run.parent, "r", resume=True,
                overrides={"epochs": 4, "cache_dir": str(tmp_path / "fresh-cache")})  # so it decodes
    t.stop()  # Ctrl-C / SIGTERM / the TUI, before the data is ready
    assert t.run() == "stopped"
    assert snapshot(run) == before
    s = RunStore(run.parent).summary("r")
    assert s.state == "finished" and (s.epoch, s.total_epochs) == (2, 2)
    assert "resume stopped before training; the run is left as it was" in RunStore(run.parent).load("r").warnings
    assert not list((tmp_path / "fresh-cache").rglob("*.tmp*"))


def test_with_warmup_the_cosine_after_it_is_stretched_too() -> None:
    """engine.train.schedule's warm-up LambdaLR, 3 epochs (1 warm-up) finished, extended to 6."""
    from engine.train.schedule import build_scheduler, warmup_factor

    base = 1e-3

    def make(epochs: int):
        opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=base)
        return opt, build_scheduler(opt, TrainConfig(epochs=epochs, warmup_epochs=1))

    opt, sched = make(3)
    for _ in range(3):
        opt.step()
        sched.step()
    state = (opt.state_dict(), sched.state_dict())
    opt, sched = make(6)  # the trainer rebuilds both from the new config, then loads last.pt
    opt.load_state_dict(state[0])
    sched.load_state_dict(state[1])
    plan = ResumePlan(Path("/r"), TrainConfig(epochs=6, warmup_epochs=1), None, 3,
                      budget=BudgetChange(after_epoch=3, old=3, new=6, scheduler="cosine"))
    apply_budget(plan, sched, opt)
    lrs = []
    for _ in range(3):  # epochs 4..6
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([base * warmup_factor(i, 6, 1, True) for i in (3, 4, 5)], rel=1e-9)
    assert lrs[0] > 0


def test_a_budget_cut_below_the_warmup_is_refused_saying_the_budget_it_needs() -> None:
    """It read "--epochs 3: makes warmup_epochs 4 invalid (must be fewer than --epochs (3))": a
    value the user may never have typed (auto: 3 for a 30-epoch run), whose flag a resume refuses,
    and no way out. The line now says the smallest budget a resume takes."""
    with pytest.raises(ConfigError) as info:
        plan_resume(Path("/r"), TrainConfig(epochs=8, warmup_epochs=4).to_dict(), {"epochs": 3},
                    {"arch": {"name": "unet", "kwargs": {"width": 64}}, "epoch": 2,
                     "config": TrainConfig(epochs=8, warmup_epochs=4).to_dict()}, Path("/r/last.pt"))
    assert str(info.value) == ("--epochs 3: the run warms up for 4 epochs (its warmup_epochs, set when it started "
                               "and kept by a resume), so it needs more than 4: give --epochs 5 or more, or start "
                               "a new run")


def test_a_budget_refused_for_a_run_whose_last_pt_trails_it_says_where_the_resume_goes_on() -> None:
    """A run showing 9/30 whose last.pt holds epoch 1 (saved at most every --checkpoint_interval
    seconds): ``--epochs 3`` read "makes warmup_epochs 3 invalid", though the table said 9 epochs
    were trained; the line now says the resume goes back to last.pt's epoch."""
    config = TrainConfig(epochs=30, warmup_epochs=3).to_dict()
    with pytest.raises(ConfigError) as info:
        plan_resume(Path("/r"), config, {"epochs": 3},
                    {"arch": {"name": "unet", "kwargs": {"width": 64}}, "epoch": 1, "config": config},
                    Path("/r/last.pt"), reached=9)
    assert str(info.value) == ("--epochs 3: the run warms up for 3 epochs (its warmup_epochs, set when it started "
                               "and kept by a resume), so it needs more than 3: give --epochs 4 or more, or start "
                               "a new run; last.pt holds epoch 1 of the 9 the run reached: the resume goes on after epoch 1, so epochs "
                               "2-9 are trained again")


def test_a_resume_of_a_run_whose_last_pt_trails_its_epochs_says_so(run: Path, capsys) -> None:
    """The table's epochs come from the events; last.pt can hold fewer. The refusal of a budget
    the run seems to have passed names both."""
    from engine.events import event_to_dict

    events = run / "events.jsonl"
    with events.open("a") as f:  # epochs 3-4 recorded after last.pt's epoch 2 (the process was killed)
        for epoch in (3, 4):
            ended = EpochEnded(epoch=epoch, total_epochs=4, train_loss=0.5, train_dice=0.5, valid_loss=0.5,
                               valid_dice=0.5, valid_iou=0.4, valid_dice_per_image=0.5, valid_iou_per_image=0.4,
                               lr=1e-3, seconds=1.0, images_per_s=10.0, best_dice=0.5, best_epoch=epoch)
            f.write(json.dumps(event_to_dict(ended)) + "\n")
    before = snapshot(run)
    assert main(["train", "--runs", str(run.parent), "--resume", "r", "--epochs", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("petseg: error: --epochs 2: the run has already trained 2 epochs; give more than 2; last.pt holds "
                   "epoch 2 of the 4 the run reached: the resume goes on after epoch 2, so epochs 3-4 are trained again")
    assert snapshot(run) == before


@pytest.mark.parametrize("flag, value", [("warmup_epochs", 1), ("ema_decay", 0.99), ("augment_strength", "strong")])
def test_the_recipe_knobs_are_kept_on_resume(flag: str, value) -> None:
    with pytest.raises(ConfigError, match=rf"^--{flag} {value}: a resumed run keeps its {flag}"):
        plan_resume(Path("/r"), stored(), {flag: value}, ckpt(), Path("/r/last.pt"))


def test_a_kept_switch_is_echoed_as_the_user_types_it() -> None:
    """`--resume r --sync_bn yes` said "--sync_bn True: ... keeps its sync_bn (False)"."""
    with pytest.raises(ConfigError, match=r"^--sync_bn yes: a resumed run keeps its sync_bn \(no\)"):
        plan_resume(Path("/r"), stored(), {"sync_bn": True}, ckpt(), Path("/r/last.pt"))


@pytest.mark.parametrize("given, recorded", [(None, 2), (0, 0), (1, 1)])
def test_a_new_run_records_the_warmup_it_trains_with(tmp_path: Path, generated_data: str, given, recorded) -> None:
    """Auto warm-up depends on the epoch budget: config.json holds the number, so a resume with a
    new budget (which reads config.json) keeps the warm-up the run started with."""
    from engine.train.trainer import Trainer

    t = Trainer(TrainConfig(epochs=20, warmup_epochs=given, data_path=generated_data, device="cpu"), tmp_path, "w")
    t.close()
    assert json.loads((tmp_path / "w" / "config.json").read_text())["warmup_epochs"] == recorded


def test_a_run_recorded_with_the_old_name_of_the_smp_augmentation_still_resumes() -> None:
    """config.json of a run from before the rename says "default"; a last.pt saved by a resume
    since says "smp": the same recipe, so the resume goes on."""
    old = TrainConfig(epochs=2).to_dict() | {"augment_strength": "default"}
    plan = plan_resume(Path("/r"), old, {"epochs": 4}, {"arch": {"name": "unet", "kwargs": {"width": 64}}, "epoch": 2,
                                                        "config": old | {"augment_strength": "smp"}}, Path("/r/last.pt"))
    assert plan.config.augment_strength == "smp" and plan.config.epochs == 4


# ---- a run trained by a newer petseg ---------------------------------------------------------------

def test_settings_only_a_newer_petseg_knows_refuse_the_resume_by_name() -> None:
    """A newer petseg's last.pt holds settings this TrainConfig does not know; the resume used to go
    on without them (config.json, which keeps them, still said they applied)."""
    from engine.version import petseg_version

    newer = stored() | {"versions": {"petseg": "0.9.0"}, "label_smoothing": 0.1, "mixup": 0.2}
    trained = ckpt() | {"config": stored() | {"label_smoothing": 0.1, "mixup": 0.2}}
    with pytest.raises(RunStoreError) as refused:
        plan_resume(Path("/r"), newer, {"epochs": 4}, trained, Path("/r/last.pt"))
    assert str(refused.value) == (f"/r/config.json: label_smoothing, mixup: settings of petseg 0.9.0 that this petseg "
                                  f"{petseg_version()} does not know, so a resume here would train without them; "
                                  "resume it with petseg 0.9.0 or newer, or start a new run")


@pytest.mark.parametrize("writer", ["unknown", "this", None])
def test_newer_settings_from_an_unnamed_or_same_version_petseg_say_a_newer_petseg(writer) -> None:
    """config.json's petseg version is "unknown" for a source tree used without pip install, and a
    development build has this very version: the line said "settings of petseg unknown" and
    "resume it with petseg 0.1.0 or newer" to a user of 0.1.0."""
    from engine.version import petseg_version

    version = petseg_version() if writer == "this" else writer
    newer = stored() | {"versions": {"petseg": version} if version else {}, "mixup": 0.2}
    trained = ckpt() | {"config": stored() | {"mixup": 0.2}}
    with pytest.raises(RunStoreError) as refused:
        plan_resume(Path("/r"), newer, {"epochs": 4}, trained, Path("/r/last.pt"))
    assert str(refused.value) == (f"/r/config.json: mixup: settings of a newer petseg that this petseg "
                                  f"{petseg_version()} does not know, so a resume here would train without them; "
                                  "resume it with a newer petseg, or start a new run")


def test_a_field_this_petseg_retired_still_resumes() -> None:
    """Runs trained before TrainConfig's ``extra`` was dropped hold it in last.pt: not a newer setting."""
    old = stored() | {"extra": {}}
    plan = plan_resume(Path("/r"), old, {"epochs": 4}, ckpt() | {"config": old}, Path("/r/last.pt"))
    assert plan.config.epochs == 4


def test_a_run_with_newer_settings_is_refused_with_one_line_and_left_as_it_was(run: Path, capsys) -> None:
    last = run / "checkpoints" / "last.pt"
    checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    checkpoint["config"]["label_smoothing"] = 0.1
    torch.save(checkpoint, last)
    config = json.loads((run / "config.json").read_text())
    config["label_smoothing"] = 0.1
    config["versions"]["petseg"] = "0.9.0"
    (run / "config.json").write_text(json.dumps(config))
    before = snapshot(run)
    assert main(["train", "--runs", str(run.parent), "--resume", "r", "--epochs", "4"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"petseg: error: {run / 'config.json'}: label_smoothing: settings of petseg 0.9.0 that "
                          "this petseg") and "\n" not in err, err
    assert snapshot(run) == before
    assert json.loads((run / "config.json").read_text())["label_smoothing"] == 0.1  # kept, as the listing shows it


def test_config_json_records_the_installed_petseg_version(monkeypatch) -> None:
    """It recorded engine.__version__, a constant a release could leave behind pyproject.toml's version."""
    from importlib import metadata

    from engine.train.config_record import versions

    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "7.7.7" if name == "petseg-tui" else real(name))
    assert versions()["petseg"] == "7.7.7"
