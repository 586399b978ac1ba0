"""One-line errors before anything is made (issue 21, group 5): a ``--resume`` whose last.pt does
not fit the network config.json records, and a ``--pretrained`` file that is junk, a pickled
model, not a state_dict or the weights of another architecture, are refused with one line naming
the file and what is wrong — before a run folder is created, and leaving a resumed one
byte-identical."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from engine.cli import main


def _one_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("petseg: error:") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def _files(run: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run.rglob("*")) if p.is_file() and p.name != "writer.lock"}


def _edit_last(run: Path, change) -> None:
    path = run / "checkpoints" / "last.pt"
    ckpt = torch.load(path, weights_only=True)
    change(ckpt)
    torch.save(ckpt, path)


def _drop_first(ckpt):
    ckpt["model"].pop(next(iter(ckpt["model"])))


def _add_extra(ckpt):
    ckpt["model"]["head.extra.weight"] = torch.zeros(3)


def _reshape(ckpt):
    key = next(k for k, v in ckpt["model"].items() if v.ndim == 4)
    ckpt["model"][key] = torch.zeros(1, 1, 1, 1)


def _not_a_dict(ckpt):
    ckpt["model"] = [1, 2, 3]


@pytest.mark.parametrize("change, needles", [
    (_drop_first, ["last.pt", "weights do not fit a unet of width 4", "1 missing"]),
    (_add_extra, ["last.pt", "1 unexpected (first: head.extra.weight)"]),
    (_reshape, ["last.pt", "of another shape", "is (1, 1, 1, 1)"]),
    (_not_a_dict, ["last.pt", "not a state_dict"]),
], ids=["missing", "extra", "shape", "not-a-dict"])
def test_a_resume_whose_weights_do_not_fit_is_one_line_and_touches_nothing(
        change, needles, finished_tiny_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run)
    _edit_last(run, change)
    before = _files(run)
    assert main(["train", "--resume", "r", "--runs", str(tmp_path / "runs"), "--epochs", "3"]) == 1
    _one_line(capsys, *needles)
    assert _files(run) == before


def test_a_config_without_width_is_named(finished_tiny_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run)
    config = json.loads((run / "config.json").read_text())
    del config["width"]
    (run / "config.json").write_text(json.dumps(config))
    before = _files(run)
    assert main(["train", "--resume", "r", "--runs", str(tmp_path / "runs"), "--epochs", "3"]) == 1
    _one_line(capsys, "config.json: width is missing but last.pt was trained with 4")
    assert _files(run) == before


def _pretrained_files(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    import torchvision

    folder.mkdir()
    out = {}
    (folder / "junk.pth").write_bytes(b"\x89junk" * 100)
    out["junk"] = (folder / "junk.pth", ["is not a PyTorch weights file"])
    (folder / "unpickler-junk.pth").write_bytes(bytes([207]) * 64)  # "Weights only load failed", yet no pickle
    out["unpickler-junk"] = (folder / "unpickler-junk.pth", ["is not a PyTorch weights file"])
    (folder / "empty.pth").write_bytes(b"")
    out["empty"] = (folder / "empty.pth", ["is not a PyTorch weights file"])
    torch.save(torchvision.models.resnet18(), folder / "whole.pth")
    out["pickled-model"] = (folder / "whole.pth", ["pickles Python objects"])
    torch.save({"a": 1, "b": "x"}, folder / "dict.pth")
    out["not-a-state-dict"] = (folder / "dict.pth", ["does not hold a state_dict of tensors"])
    torch.save([torch.zeros(3)], folder / "list.pth")
    out["a-list"] = (folder / "list.pth", ["does not hold a state_dict of tensors"])
    torch.save(torchvision.models.resnet18().state_dict(), folder / "r18.pth")
    out["resnet18"] = (folder / "r18.pth", ["missing keys"])
    from engine.models import build_model

    torch.save(build_model("unet", width=4).state_dict(), folder / "unet.pth")
    out["unet"] = (folder / "unet.pth", ["missing keys", "unexpected keys"])
    wide = torchvision.models.resnet34().state_dict()
    wide["conv1.weight"] = torch.zeros(64, 4, 7, 7)
    torch.save(wide, folder / "r34-4ch.pth")
    out["shape"] = (folder / "r34-4ch.pth", ["conv1.weight has shape (64, 4, 7, 7)"])
    return out


def test_a_bad_pretrained_file_is_one_line_before_a_run_folder_exists(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    for kind, (path, needles) in _pretrained_files(tmp_path / "weights").items():
        assert main(["train", "--model", "resnet34_unet", "--pretrained", str(path), "--runs", str(runs),
                     "--run_name", f"p-{kind}", "--epochs", "1", "--device", "cpu"]) == 1, kind
        _one_line(capsys, f"--pretrained {path}", *needles)
        assert not (runs / f"p-{kind}").exists(), kind


def _set_best_epoch(run: Path, epoch: int) -> None:
    path = run / "checkpoints" / "best.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["epoch"] = epoch
    torch.save(ckpt, path)


def test_a_resume_without_last_pt_never_restarts_over_a_later_best_pt(
        finished_tiny_run: Path, tmp_path: Path, capsys) -> None:
    """last.pt deleted from a run that trained 2 epochs: --resume said "no last.pt (the run ended
    before it saved one)", restarted at epoch 1 and wrote epoch 1's weights over best.pt."""
    from engine.train.resume import plan_for_run

    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run)
    (run / "checkpoints" / "last.pt").unlink()
    _set_best_epoch(run, 2)
    before = _files(run)
    assert main(["train", "--resume", "r", "--runs", str(tmp_path / "runs"), "--epochs", "3"]) == 1
    _one_line(capsys, "last.pt: missing, but best.pt holds epoch 2", "start a new run")
    assert _files(run) == before
    # a best.pt of epoch 1 alone is what a run killed while saving its first last.pt leaves: it restarts
    _set_best_epoch(run, 1)
    _killed_after_epoch_1(run)
    assert plan_for_run(run, {"epochs": 3}).checkpoint_path is None


def _killed_after_epoch_1(run: Path) -> None:
    """Make ``run`` what a kill while its first last.pt was being saved leaves: its events up to
    epoch 1's end, its status still "running" (of a process gone)."""
    events = run / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    first_end = next(i for i, line in enumerate(lines) if json.loads(line).get("kind") == "epoch_ended")
    events.write_text("".join(lines[:first_end + 1]))
    status = json.loads((run / "status.json").read_text())
    status.update(state="running", pid=2**22 + 12345)  # no such process
    (run / "status.json").write_text(json.dumps(status))


def test_a_resume_without_last_pt_never_restarts_a_run_that_trained_on(
        finished_tiny_run: Path, tmp_path: Path, capsys) -> None:
    """A run whose best Dice stayed at epoch 1 (a short run validating at 0.0000) and whose
    last.pt was deleted: --resume said "no last.pt (the run ended before it saved one)" of a
    finished run, trained it again from epoch 1 over its best.pt and curves. Its events (a second
    finished epoch) or its finished status say last.pt was lost since."""
    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run)
    (run / "checkpoints" / "last.pt").unlink()
    _set_best_epoch(run, 1)
    before = _files(run)
    assert main(["train", "--resume", "r", "--runs", str(tmp_path / "runs"), "--epochs", "3"]) == 1
    _one_line(capsys, f"{run / 'checkpoints' / 'last.pt'}: missing, but the run finished its 2 epoch(s)",
              "start a new run")
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "state": "stopped"}))
    before = _files(run)
    assert main(["train", "--resume", "r", "--runs", str(tmp_path / "runs"), "--epochs", "3"]) == 1
    _one_line(capsys, "last.pt: missing, but the run recorded 2 finished epochs", "start a new run")
    assert _files(run) == before
