"""Inference on an ONNX export (`engine.infer.onnx_model`): the same probabilities, masks, files
and scores as the checkpoint it came from, and bad ONNX files refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.data.samples import demo_assets_dir, sample_image_paths
from engine.errors import CheckpointError, PetsegError
from engine.infer.inference import Predictor, load_predictor
from engine.infer.onnx_model import OnnxPredictor
from tests.engine.export.exported import exported_run


@pytest.fixture
def exported(tmp_path_factory, finished_tiny_run):
    run, result = exported_run(tmp_path_factory, finished_tiny_run)
    return result.path, result.checkpoint


@pytest.fixture
def demo_photo() -> Path:
    photos = sample_image_paths()
    if not photos:
        pytest.skip("engine/demo_assets is missing from this installation")
    return photos[0]


def test_the_loader_dispatches_on_the_file(exported):
    onnx_path, checkpoint = exported
    onnx_pred = load_predictor(onnx_path, "cpu")
    torch_pred = load_predictor(checkpoint, "cpu")
    assert isinstance(onnx_pred, OnnxPredictor) and not isinstance(torch_pred, OnnxPredictor)
    assert (onnx_pred.arch_name, onnx_pred.image_size, onnx_pred.mask_rule) == ("unet", 64, "pet_border")
    assert onnx_pred.best_dice == pytest.approx(torch_pred.best_dice)
    assert onnx_pred.providers[-1] == "CPUExecutionProvider"


@pytest.mark.parametrize("tta", [False, True])
def test_probabilities_match_the_checkpoint(exported, demo_photo, tta):
    onnx_path, checkpoint = exported
    a = load_predictor(onnx_path, "cpu").predict_file(demo_photo, tta=tta)
    b = Predictor.from_checkpoint(checkpoint, device="cpu").predict_file(demo_photo, tta=tta)
    assert a.prob.shape == b.prob.shape == a.image.shape[:2]
    assert np.abs(a.prob - b.prob).max() < 1e-4
    assert (a.mask() == b.mask()).mean() > 0.999


def test_infer_writes_the_same_masks_for_a_folder(exported, tmp_path, capsys):
    onnx_path, checkpoint = exported
    src = demo_assets_dir() / "images"
    if not src.is_dir():
        pytest.skip("engine/demo_assets is missing from this installation")
    assert main(["infer", "--model_path", str(onnx_path), "--data_path", str(src), "--output_path", str(tmp_path / "a")]) == 0
    assert main(["infer", "--model_path", str(checkpoint), "--data_path", str(src), "--output_path", str(tmp_path / "b")]) == 0
    from PIL import Image

    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names and names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        a = np.asarray(Image.open(tmp_path / "a" / name))
        b = np.asarray(Image.open(tmp_path / "b" / name))
        assert (a == b).mean() > 0.999


def demo_dataset(folder: Path) -> Path:
    """The six demo photos as a dataset whose test split is all of them."""
    src = demo_assets_dir()
    if not (src / "images").is_dir():
        pytest.skip("engine/demo_assets is missing from this installation")
    data = folder / "data"
    shutil.copytree(src / "images", data / "images")
    shutil.copytree(src / "annotations", data / "annotations")
    names = sorted(p.stem for p in (data / "images").iterdir())
    (data / "annotations" / "test.txt").write_text("".join(f"{n} 1 1 1\n" for n in names))
    (data / "annotations" / "trainval.txt").write_text("")
    return data


def test_eval_scores_the_export_like_its_checkpoint(exported, tmp_path, capsys):
    onnx_path, checkpoint = exported
    data = demo_dataset(tmp_path)

    named = {}

    def headline(model: Path) -> str:
        assert main(["eval", "--model_path", str(model), "--data_path", str(data), "--device", "cpu"]) == 0
        out = capsys.readouterr().out.splitlines()
        named[model] = next(l.split(":")[0] for l in out if f": {model} (" in l)
        return next(l for l in out if l.startswith("test Dice"))

    assert headline(onnx_path) == headline(checkpoint)
    # the export is not called a checkpoint
    assert (named[onnx_path], named[checkpoint]) == ("ONNX model", "checkpoint")


# --- bad ONNX files: one line, non-zero exit, nothing written -------------------------------------


def _infer(model: Path, photo: Path, out: Path, *extra: str) -> int:
    return main(["infer", "--model_path", str(model), "--data_path", str(photo), "--output_path", str(out), *extra])


def test_a_truncated_onnx_file_is_one_line(exported, demo_photo, tmp_path, capsys):
    onnx_path, _ = exported
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(onnx_path.read_bytes()[:2000])
    assert _infer(bad, demo_photo, tmp_path / "m.png") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "truncated or corrupt" in err
    assert not (tmp_path / "m.png").exists()
    with pytest.raises(CheckpointError):
        load_predictor(tmp_path / "absent.onnx", "cpu")


def _foreign_onnx(path: Path, shape: tuple = ("n", 3, "h", "w"), out_channels: int = 1) -> Path:
    """An ONNX model without petseg metadata: one Conv to a single channel, any H and W (or the
    fixed input ``shape``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.full((out_channels, 3, 1, 1), 0.1, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])], "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[0], out_channels, *shape[2:]])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def test_an_onnx_file_without_petseg_metadata_asks_for_the_image_size(demo_photo, tmp_path, capsys):
    foreign = _foreign_onnx(tmp_path / "foreign.onnx")
    assert _infer(foreign, demo_photo, tmp_path / "m.png") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a petseg export" in err and "--image_size" in err
    assert not (tmp_path / "m.png").exists()
    assert _infer(foreign, demo_photo, tmp_path / "m.png", "--image_size", "32") == 0
    assert (tmp_path / "m.png").is_file()


def test_a_fixed_size_export_refuses_another_image_size(exported):
    onnx_path, _ = exported
    with pytest.raises(PetsegError, match="--image_size 96"):
        load_predictor(onnx_path, "cpu", image_size=96)


def test_a_foreign_onnx_with_a_fixed_input_runs_at_its_own_batch_and_size(demo_photo, tmp_path, capsys):
    """Exported for batch 1 at 32x32 (the common torch.onnx default): no --image_size needed, a
    folder goes through in batches of 1; another --image_size is one line naming the file."""
    fixed = _foreign_onnx(tmp_path / "fixed.onnx", (1, 3, 32, 32))
    predictor = load_predictor(fixed, "cpu")
    assert predictor.image_size == 32
    x = torch.zeros(5, 3, 32, 32)
    assert tuple(predictor.probabilities(x).shape) == (5, 1, 32, 32)
    assert tuple(predictor.probabilities(x, tta=True).shape) == (5, 1, 32, 32)
    with pytest.raises(PetsegError, match="--image_size 64: .*fixed.onnx takes 32×32 only"):
        load_predictor(fixed, "cpu", image_size=64)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        shutil.copy(demo_photo, photos / f"p{i}.jpg")
    assert main(["infer", "--model_path", str(fixed), "--data_path", str(photos), "--output_path",
                 str(tmp_path / "masks"), "--batch_size", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["p0.png", "p1.png", "p2.png"]


def _with_fixed_batch(model: Path, path: Path, batch: int) -> Path:
    """A copy of the ONNX file ``model`` whose input and output take exactly ``batch`` photos, as
    torch.onnx exports one without dynamic axes (its petseg metadata kept)."""
    import onnx

    graph = onnx.load(str(model))
    for value in (graph.graph.input[0], graph.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = batch
    onnx.save(graph, str(path))
    return path


@pytest.mark.parametrize("photos", [6, 3])
def test_a_fixed_batch_export_says_the_batch_it_runs_at_and_segments_every_photo(exported, tmp_path, capsys,
                                                                                 photos):
    """A model exported for batch 4: the folder run's header said "batch 6" (or "batch 3"), the
    batch petseg grouped the photos in, never what the model ran at. It says "fixed batch 4"; more
    photos than 4 and fewer go through (a short batch padded), each mask the one the dynamic export
    writes; another --batch_size is a warning naming the batch the model takes."""
    onnx_path, _ = exported
    src = demo_assets_dir() / "images"
    if not src.is_dir():
        pytest.skip("engine/demo_assets is missing from this installation")
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in sorted(src.iterdir())[:photos]:
        shutil.copy(photo, folder / photo.name)
    fixed = _with_fixed_batch(onnx_path, tmp_path / "fixed4.onnx", 4)
    assert main(["infer", "--model_path", str(fixed), "--data_path", str(folder), "--output_path",
                 str(tmp_path / "fixed"), "--device", "cpu"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith(f"{photos} photos in ") and header.endswith(", cpu, fixed batch 4)"), header
    assert main(["infer", "--model_path", str(onnx_path), "--data_path", str(folder), "--output_path",
                 str(tmp_path / "dynamic"), "--device", "cpu"]) == 0
    from PIL import Image

    names = sorted(p.name for p in (tmp_path / "fixed").iterdir())
    assert len(names) == photos and names == sorted(p.name for p in (tmp_path / "dynamic").iterdir())
    for name in names:
        a = np.asarray(Image.open(tmp_path / "fixed" / name))
        b = np.asarray(Image.open(tmp_path / "dynamic" / name))
        assert (a == b).mean() > 0.999, name
    capsys.readouterr()
    assert main(["infer", "--model_path", str(fixed), "--data_path", str(folder), "--output_path",
                 str(tmp_path / "asked"), "--device", "cpu", "--batch_size", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].endswith(", cpu, fixed batch 4)")
    assert err.strip() == (f"petseg: warning: --batch_size 2: {fixed} was exported for batch 4 only; "
                           "it runs 4 photos at a time")
    assert len(list((tmp_path / "asked").iterdir())) == photos


def test_a_folder_run_that_fails_leaves_no_empty_output_folder(demo_photo, tmp_path, capsys):
    two = _foreign_onnx(tmp_path / "two.onnx", out_channels=2)  # two output channels: refused at its first batch
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(demo_photo, photos / "p.jpg")
    assert main(["infer", "--model_path", str(two), "--image_size", "32", "--data_path", str(photos),
                 "--output_path", str(tmp_path / "masks")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "expected (N, 1, H, W)" in err
    assert not (tmp_path / "masks").exists()
    # nothing fails, but no photo can be read: no masks, and no empty folder either
    (photos / "p.jpg").write_text("not a photo")
    assert main(["infer", "--model_path", str(two), "--image_size", "32", "--data_path", str(photos),
                 "--output_path", str(tmp_path / "masks")]) == 1
    assert "none of the 1 photos could be read" in capsys.readouterr().err
    assert not (tmp_path / "masks").exists()


def test_an_export_without_its_metadata_is_not_put_through_a_second_sigmoid(exported, demo_photo, tmp_path):
    """Its graph ends in the Sigmoid: taken for logits, every probability came out above 0.5 and
    the mask was all pet (100.0% of pixels)."""
    import onnx

    onnx_path, _ = exported
    model = onnx.load(str(onnx_path))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    size = load_predictor(onnx_path, "cpu").image_size
    reference = load_predictor(onnx_path, "cpu").predict_file(demo_photo)
    stripped = load_predictor(bare, "cpu", image_size=size).predict_file(demo_photo)
    np.testing.assert_allclose(stripped.prob, reference.prob, atol=1e-6)
    assert (stripped.mask() == reference.mask()).all()


@pytest.mark.parametrize(("device", "says"), [
    ("gpu", "--device gpu: not a device; use auto, cpu, cuda, mps or cuda:N"),
    ("mps", "--device mps: ONNX models run on ONNX Runtime's CUDA or CPU provider; use auto or cpu"),
    ("cuda", "has no CUDA provider (the CPU-only package; install onnxruntime-gpu); use auto or cpu"),
    ("cuda:1", "--device cuda:1: this onnxruntime"),
])
def test_a_device_onnx_runtime_cannot_honour_is_refused_not_ignored(exported, demo_photo, tmp_path, capsys,
                                                                   monkeypatch, device, says):
    """The CPU-only onnxruntime (pip's default package) ran `--device cuda` on the CPU without a
    word, and took any name (gpu, mps, cuda:1) for the CPU too."""
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    onnx_path, _ = exported
    assert _infer(onnx_path, demo_photo, tmp_path / "m.png", "--device", device) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err
    assert not (tmp_path / "m.png").exists()


def test_a_device_name_torch_does_not_know_is_one_line_for_a_checkpoint_too(exported, demo_photo, tmp_path, capsys):
    _, checkpoint = exported
    assert _infer(checkpoint, demo_photo, tmp_path / "m.png", "--device", "gpu") == 1
    assert capsys.readouterr().err.strip() == "petseg: error: --device gpu: not a device; use auto, cpu, cuda, mps or cuda:N"


@pytest.mark.slow  # a --dynamic_size export of its own and two evals: ~3.7 CPU-s alone
def test_eval_of_a_dynamic_export_at_another_size_does_not_call_it_the_training_size(
        tmp_path, finished_tiny_run, capsys):
    """A --dynamic_size export of a 64 px run, evaluated at --image_size 96: the S×S rows said
    "96 px (training size) ... = valid Dice", a figure not comparable with the run's valid Dice."""
    from engine.export.run_export import export_run

    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run)
    dynamic = export_run(run, "onnx", dynamic_size=True, parity_photos=2).path

    def rows(*extra: str) -> list[str]:  # on the run's own data: its valid Dice is comparable there
        assert main(["eval", "--model_path", str(dynamic), "--device", "cpu", *extra]) == 0
        return [line for line in capsys.readouterr().out.splitlines() if " px (" in line]

    at_96 = rows("--image_size", "96")
    assert len(at_96) == 2 and all("96 px (model input; trained at 64)" in line for line in at_96), at_96
    assert not any("training size" in line or "valid Dice" in line for line in at_96)
    at_64 = rows()
    # "=" where the run validated in fp32; "~" where --amp auto chose bf16 on this CPU (validated_in)
    mark = "=" if json.loads((run / "config.json").read_text()).get("amp_resolved") in (None, "fp32") else "~"
    assert any(line.lstrip().startswith(f"64 px (training size), border = pet (pet_border) {mark} valid Dice")
               for line in at_64), at_64


def test_eval_of_a_runs_export_knows_the_run_validated_in_bf16(tmp_path, tmp_path_factory, finished_tiny_run, capsys):
    """`petseg eval --model_path RUN/export/model.onnx` of a run that validated in bfloat16 said
    "= valid Dice" (0.7095 against the run's 0.7098); its checkpoint's eval already said "~":
    the export's run was not found from export/, only from checkpoints/."""
    run, _ = exported_run(tmp_path_factory, finished_tiny_run)
    copy = tmp_path / "runs" / "bf16"
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "amp_resolved": "bfloat16"}))
    assert main(["eval", "--model_path", str(copy / "export" / "model.onnx"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "64 px (training size), border = pet (pet_border) ~ valid Dice" in out
    assert "training validated in bfloat16" in out and "= valid Dice" not in out


def _valid_dice_row(out: str) -> str:
    [row] = [line for line in out.splitlines() if "(training size), border = pet" in line]
    return row


@pytest.mark.parametrize("which", ["best.pt", "model.onnx"])
def test_a_model_file_copied_out_of_its_run_says_what_its_run_validated_in(tmp_path, tmp_path_factory,
                                                                          finished_tiny_run, capsys, which) -> None:
    """A best.pt or model.onnx copied out of its run folder said "= valid Dice" whatever precision
    its run validated in (bf16 under --amp auto here): the file now records it (``valid_precision``),
    so the copy reads as the file in its run does."""
    run, result = exported_run(tmp_path_factory, finished_tiny_run)
    source = run / "checkpoints" / "best.pt" if which == "best.pt" else result.path
    copy = tmp_path / "elsewhere" / which
    copy.parent.mkdir()
    shutil.copy(source, copy)
    validated = json.loads((run / "config.json").read_text())["amp_resolved"]
    rows = []
    for model in (source, copy):  # on the run's own data, where the row is its valid Dice
        assert main(["eval", "--model_path", str(model), "--device", "cpu"]) == 0
        rows.append(capsys.readouterr().out)
    assert _valid_dice_row(rows[0]) == _valid_dice_row(rows[1])
    assert ("= valid Dice" if validated == "fp32" else "~ valid Dice") in _valid_dice_row(rows[1])
    assert (f"training validated in {validated}" in rows[1]) == (validated != "fp32")


def test_an_older_checkpoint_outside_its_run_claims_no_exact_valid_dice(tmp_path, finished_tiny_run, capsys) -> None:
    """A checkpoint of an older petseg (no ``valid_precision``) kept outside its run: the precision
    its run validated in is unknown, so its row is "~ valid Dice", saying why, never "="."""
    from engine.checkpoint import load_checkpoint

    ckpt = load_checkpoint(finished_tiny_run / "checkpoints" / "best.pt")
    ckpt.pop("valid_precision", None)
    old = tmp_path / "old-best.pt"
    torch.save(ckpt, old)
    assert main(["eval", "--model_path", str(old), "--device", "cpu"]) == 0  # the run's own data
    out = capsys.readouterr().out
    assert "~ valid Dice" in _valid_dice_row(out) and "= valid Dice" not in out
    assert "the precision training validated in is not recorded" in out


def test_onnx_inference_leaves_nothing_in_the_temp_folder(exported, demo_photo, tmp_path):
    """ONNX Runtime's telemetry client wrote ``$TMPDIR/.ses`` when imported, and nothing removed
    it: every `petseg infer` / `eval` of an .onnx file (and `petseg export`'s parity check) left
    it behind. In a process of its own, as a user runs it: a warm one (tests/warm_petseg.py), whose
    zygote never imports ONNX Runtime, so that the child's import is its first."""
    import os
    import sys

    from tests import warm_petseg

    onnx_path, _ = exported
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(TMPDIR=str(temp), PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    before = sorted(os.listdir(temp))
    done = warm_petseg.run([sys.executable, "-m", "engine.cli", "infer", "--model_path", str(onnx_path),
                            "--image", str(demo_photo), "--output", str(tmp_path / "m.png")],
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.png").is_file()
    assert sorted(os.listdir(temp)) == before == []


def test_an_onnx_file_without_read_permission_says_so(exported, demo_photo, tmp_path, capsys, unreadable):
    """ONNX Runtime's words for it were "Load model from F failed:system error number 13"."""
    onnx_path, _ = exported
    locked = tmp_path / "model.onnx"
    shutil.copyfile(onnx_path, locked)
    unreadable(locked)
    assert _infer(locked, demo_photo, tmp_path / "m.png") == 1
    assert capsys.readouterr().err.strip() == f"petseg: error: {locked}: cannot read (Permission denied)"
    assert not (tmp_path / "m.png").exists()


@pytest.mark.parametrize("side", ["0", "-16", "65536"])
def test_an_image_size_out_of_range_is_refused_before_any_work(exported, demo_photo, tmp_path, capsys,
                                                               side: str) -> None:
    """`--image_size 0` of a dynamic export ran at its default size (0 read as "not given"),
    -16 ended in "unexpected ValueError: 2 validation errors for InitSchema", 65536 in the OOM
    killer."""
    onnx_path, _ = exported
    with pytest.raises(SystemExit) as exit_info:
        _infer(onnx_path, demo_photo, tmp_path / "m.png", "--image_size", side)
    assert exit_info.value.code == 2
    assert (f"argument --image_size/--image-size: '{side}': must be an integer between 32 and 2048"
            in capsys.readouterr().err)
    assert not (tmp_path / "m.png").exists()
