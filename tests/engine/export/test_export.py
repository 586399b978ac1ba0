"""``petseg export``: the file, its metadata, the parity check and report, the refusal rule, and
bad input (one line, non-zero exit, nothing overwritten)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from engine.cli import main
from engine.errors import PetsegError
from engine.export import parity
from engine.export.metadata import FORMAT, FORMAT_KEY, ExportMetadata, is_petseg_export, torchscript_props
from engine.export.report import read_report, run_report, summary
from engine.export.run_export import export_run
from tests.engine.cli_helpers import one_error_line
from tests.engine.export.exported import PARITY_PHOTOS, exported_run, few_photos


@pytest.fixture
def exported(tmp_path_factory, finished_tiny_run):
    return exported_run(tmp_path_factory, finished_tiny_run)


@pytest.fixture
def run_copy(tmp_path, finished_tiny_run, monkeypatch) -> Path:
    """A private copy of the tiny run (in ``tmp_path/runs``), with CLI parity on a few photos."""
    few_photos(monkeypatch)
    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run)
    return run


def test_onnx_file_passes_the_checker_and_carries_the_metadata(exported):
    run, result = exported
    path = run / "export" / "model.onnx"
    assert result.path == path and path.is_file()
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    props = {p.key: p.value for p in model.metadata_props}
    assert props[FORMAT_KEY] == FORMAT
    meta = ExportMetadata.from_props(props, path)
    config = json.loads((run / "config.json").read_text())
    assert (meta.model, meta.input_size, meta.run, meta.mask_rule) == ("unet", 64, "r", "pet_border")
    assert meta.mean == (0.5, 0.5, 0.5) and meta.std == (0.5, 0.5, 0.5) and meta.threshold == 0.5
    assert meta.valid_dice is not None and 0 <= meta.valid_dice <= 1
    assert meta.config["image_size"] == config["image_size"] == 64
    assert meta.dynamic_size is False
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [3, 64, 64]  # fixed size, free batch
    assert is_petseg_export(path)
    # BatchNorm folded into the convolutions by the exporter: none left in the graph
    assert "BatchNormalization" not in {n.op_type for n in model.graph.node}


def test_parity_figures_are_reported_and_written_beside_the_file(exported):
    run, result = exported
    assert result.accepted
    (p,) = result.parity
    assert (p.height, p.width, p.photos) == (64, 64, PARITY_PHOTOS)
    assert p.max_abs_diff < 1e-4 and p.mean_abs_diff <= p.max_abs_diff
    assert p.mask_agreement >= parity.MIN_AGREEMENT
    assert abs(p.dice_pytorch - p.dice_export) < 1e-3
    entry = read_report(result.path)["model.onnx"]
    assert entry == run_report(run)["model.onnx"]
    assert entry["accepted"] is True and entry["format"] == "onnx" and entry["opset"] == 18
    assert entry["parity"][0]["mask_agreement"] == pytest.approx(p.mask_agreement)
    assert "model.onnx written" in summary(entry)


def test_a_refused_export_writes_no_file_and_exits_non_zero(run_copy, reuse_export, monkeypatch, capsys):
    # an export whose masks are the opposite of PyTorch's: agreement far below the rule
    monkeypatch.setattr(parity, "onnx_runner", lambda data: (lambda x: np.zeros((len(x), 1, *x.shape[2:]), np.float32)))
    code = main(["export", "--runs", str(run_copy.parent), "--run", "r"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "mask agreement" in out and "not written" in err and len(err.strip().splitlines()) == 1
    assert not (run_copy / "export" / "model.onnx").exists()
    entry = run_report(run_copy)["model.onnx"]
    assert entry["accepted"] is False and entry["written"] is False
    assert "REFUSED" in summary(entry)


@pytest.mark.slow
def test_dynamic_size_export_runs_at_two_sizes(run_copy, capsys):
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--dynamic_size"]) == 0
    out = capsys.readouterr().out
    assert "dynamic size: any H and W multiple of 16" in out
    model = onnx.load(str(run_copy / "export" / "model.onnx"))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[2].dim_param and dims[3].dim_param  # symbolic H and W
    entry = run_report(run_copy)["model.onnx"]
    assert [(p["height"], p["width"]) for p in entry["parity"]] == [(64, 64), (80, 48)]
    assert all(p["ok"] for p in entry["parity"])
    import onnxruntime as ort

    session = ort.InferenceSession(str(run_copy / "export" / "model.onnx"), providers=["CPUExecutionProvider"])
    for h, w in ((32, 96), (128, 64)):
        (out_arr,) = session.run(None, {"image": np.zeros((1, 3, h, w), np.float32)})
        assert out_arr.shape == (1, 1, h, w)


@pytest.mark.parametrize("model, stride", [("unet", 16), ("resnet18_unet", 32)])
def test_an_export_carries_the_stride_of_its_model(tmp_path, write_checkpoint, model, stride):
    """The UNet halves its input four times, every <encoder>_unet five: an export's stride (its
    metadata, the --dynamic_size constraint, the header's "multiple of") is the model's. Only
    resnet34_unet had 32: a --dynamic_size export of resnet18_unet said 16 and failed in
    onnxruntime at 80x48 (the constraint proved the encoder's padding away); the dynamic graph
    itself is checked at two sizes above."""
    import torch

    from engine.export.model import load_for_export
    from engine.models import build_model, model_kwargs

    torch.manual_seed(0)
    path = write_checkpoint(tmp_path / "best.pt", arch={"name": model, "kwargs": model_kwargs(model, 4)},
                            model=build_model(model, width=4).state_dict())
    assert load_for_export(path, "r").metadata.stride == stride


@pytest.mark.slow
def test_torchscript_export_checks_parity_too(run_copy, capsys):
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--format", "torchscript"]) == 0
    path = run_copy / "export" / "model.torchscript.pt"
    assert is_petseg_export(path) and torchscript_props(path)["input_size"] == "64"
    entry = run_report(run_copy)["model.torchscript.pt"]
    assert entry["accepted"] and entry["parity"][0]["mask_agreement"] >= parity.MIN_AGREEMENT
    assert "PyTorch vs TorchScript" in capsys.readouterr().out
    # petseg itself runs checkpoints and ONNX: a TorchScript export given to infer is one line
    photo = next(iter(sorted((Path(__file__).parents[3] / "engine" / "demo_assets" / "images").glob("*.jpg"))), None)
    if photo is not None:
        assert main(["infer", "--model_path", str(path), "--data_path", str(photo),
                     "--output_path", str(run_copy / "m.png")]) == 1
        one_error_line(capsys, "is a TorchScript export")


# --- bad input: one line, non-zero exit, nothing overwritten --------------------------------------


@pytest.fixture
def reuse_export(exported, monkeypatch) -> None:
    """CLI exports hand back the shared export's bytes instead of exporting again (seconds each):
    for tests of what happens around the exporter."""
    from engine.export import onnx_export

    data = exported[1].path.read_bytes()
    monkeypatch.setattr(onnx_export, "export_onnx", lambda loaded, **kw: data)


def test_a_run_without_best_pt_exports_its_last_pt_and_says_so(run_copy, capsys):
    """Issue 22 item 1's "best checkpoint (else last)": a run stopped before any best.pt (or whose
    best.pt was deleted) exports last.pt, says so, and its report names that checkpoint."""
    (run_copy / "checkpoints" / "best.pt").unlink()
    assert main(["export", "--runs", str(run_copy.parent), "--run", run_copy.name]) == 0
    out = capsys.readouterr()
    assert "no best.pt yet: using last.pt" in out.out + out.err
    entry = run_report(run_copy)["model.onnx"]
    assert entry["accepted"] is True and Path(entry["checkpoint"]).name == "last.pt"
    assert onnx.load(str(run_copy / "export" / "model.onnx")) is not None


def test_a_run_without_checkpoint_is_refused(tmp_path, capsys):
    run = tmp_path / "runs" / "empty"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    assert main(["export", "--runs", str(tmp_path / "runs"), "--run", "empty"]) == 1
    one_error_line(capsys, "no checkpoint yet")
    assert not (run / "export").exists() or not any((run / "export").iterdir())


def test_an_export_that_fails_at_its_work_leaves_no_export_folder(tmp_path, capsys):
    """A best.pt that is no checkpoint fails once the export loads it: the run's ``export/`` folder,
    made before that, was left there empty. It is made only when the export writes now."""
    run = tmp_path / "runs" / "garbled"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "checkpoints" / "best.pt").write_bytes(b"not a checkpoint")
    assert main(["export", "--runs", str(tmp_path / "runs"), "--run", "garbled"]) == 1
    one_error_line(capsys, "best.pt")
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.json"]


def test_an_output_in_a_missing_folder_is_refused(run_copy, tmp_path, capsys):
    out = tmp_path / "missing" / "m.onnx"
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--output", str(out)]) == 1
    one_error_line(capsys, "does not exist")
    assert not out.parent.exists()


def test_an_existing_folder_as_the_output_gets_the_default_file_name(run_copy, reuse_export, tmp_path, capsys):
    """`petseg export --output deploy/` said "deploy: --output must be a .onnx file", where
    `petseg infer` takes a folder as `cp` does: the export is deploy/model.onnx."""
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--output", str(deploy)]) == 0
    assert is_petseg_export(deploy / "model.onnx")
    assert f"{deploy / 'model.onnx'}: onnx" in capsys.readouterr().out


def test_a_file_petseg_did_not_write_is_not_overwritten(run_copy, tmp_path, capsys):
    out = tmp_path / "theirs.onnx"
    out.write_bytes(b"someone's model")
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--output", str(out)]) == 1
    one_error_line(capsys, "not written by petseg")
    assert out.read_bytes() == b"someone's model"


def test_a_users_export_json_beside_the_output_is_not_overwritten(run_copy, tmp_path, capsys):
    """The report goes to export.json beside --output: a file of that name petseg did not write
    is refused before any work, as the model file is."""
    (tmp_path / "export.json").write_text('{"my": "precious data"}')
    out = tmp_path / "m.onnx"
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--output", str(out)]) == 1
    one_error_line(capsys, "not a petseg export report")
    assert (tmp_path / "export.json").read_text() == '{"my": "precious data"}' and not out.exists()


def test_overwrite_replaces_a_foreign_file_and_a_petseg_export_is_replaced_without_it(run_copy, reuse_export, tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"someone's model")
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--output", str(out), "--overwrite"]) == 0
    assert is_petseg_export(out)
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--output", str(out)]) == 0
    assert read_report(out)["m.onnx"]["accepted"]


def test_an_export_of_a_checkpoint_changed_since_is_replaced_only_with_overwrite(run_copy, reuse_export, capsys):
    """The run's model.onnx (maybe the model a user deploys) was replaced without a word by an export
    of a different model once the run had trained on: petseg wrote both. Now only an export that
    would come out the same (the same checkpoint, unchanged, the same options) runs again freely."""
    import os

    export = run_copy / "export" / "model.onnx"
    args = ["export", "--runs", str(run_copy.parent), "--run", "r"]
    assert main(args) == 0 and main(args) == 0  # again over its own export of the same best.pt: nothing lost
    capsys.readouterr()
    before = export.read_bytes()
    best = run_copy / "checkpoints" / "best.pt"
    os.utime(best, ns=(best.stat().st_atime_ns, best.stat().st_mtime_ns + 10**9))  # trained on: a new best.pt
    assert main(args) == 1
    err = one_error_line(capsys, f"{export}: already exists and holds the export of best.pt as it was on ")
    assert "best.pt has changed since; refusing to replace it (pass --overwrite to replace it)" in err
    assert export.read_bytes() == before
    assert main([*args, "--overwrite"]) == 0 and main(args) == 0


def test_wrong_suffix_and_bad_opset_are_refused_before_work(run_copy, tmp_path, capsys):
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--output", str(tmp_path / "m.pt")]) == 1
    one_error_line(capsys, "must be a .onnx file")
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--opset", "11"]) == 1
    one_error_line(capsys, "--opset 11")
    assert not (run_copy / "export").exists()


def test_export_of_a_missing_run_names_it(tmp_path, capsys):
    assert main(["export", "--runs", str(tmp_path), "--run", "nope"]) == 1
    one_error_line(capsys, "nope")


def test_export_run_refuses_an_unknown_format(run_copy):
    with pytest.raises(PetsegError, match="--format"):
        export_run(run_copy, "tflite")


def test_an_output_in_a_read_only_folder_is_refused_before_the_export(run_copy, read_only_folder, capsys):
    """Refused in one line before the model is exported (~20 s on this CPU), not after it."""
    out = read_only_folder / "m.onnx"
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--output", str(out)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("petseg: error:") and "\n" not in err, err
    assert f"{read_only_folder}: --output folder is not writable (Permission denied)" in err
    assert captured.out == ""  # the export never started (not even "loading the model")
    assert list(read_only_folder.iterdir()) == []


def test_the_export_says_each_step_as_it_starts(run_copy, reuse_export, capsys):
    """Each step in a line as it starts, in the words the dashboard's progress line takes the
    first part of ("exporting to ONNX: checking it against PyTorch …"): the CLI's are those words
    and what it adds (the checkpoint, the model)."""
    steps = []
    result = export_run(run_copy, "onnx", overwrite=True, parity_photos=2, on_step=steps.append)
    assert [s.doing for s in steps] == ["loading the model", "converting the model",
                                        "checking it against PyTorch at 64x64 on the bundled test photos"]
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [f"loading the model from {run_copy / 'checkpoints' / 'best.pt'}",
                         f"converting the model to onnx ({result.metadata.describe()})",
                         "checking it against PyTorch at 64x64 on the bundled test photos"], lines


def test_the_command_an_export_prints_runs_as_pasted_with_spaces_in_its_path(run_copy, reuse_export, tmp_path,
                                                                             capsys):
    """"run it with: petseg infer --model_path /tmp/my models/m é.onnx ..." split the path at its
    space when pasted into a shell."""
    import shlex

    out = tmp_path / "my models" / "m é.onnx"
    out.parent.mkdir()
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--output", str(out)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    words = shlex.split(line.split("run it with: ", 1)[1])
    assert words[:4] == ["petseg", "infer", "--model_path", str(out)]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_output_on_proc_says_no_file_can_be_made_there(run_copy, capsys):
    """``--output /proc/m.onnx`` read "/proc: --output folder is not writable (No such file or
    directory)": a folder that is there, said not to be. The file system is what refuses."""
    assert main(["export", "--runs", str(run_copy.parent), "--run", "r", "--output", "/proc/m.onnx"]) == 1
    err = one_error_line(capsys, "--output folder is not writable")
    assert err.endswith("/proc: --output folder is not writable (a kernel file system like /proc, where no file "
                        "can be created); nothing was done"), err
