"""Inference on an ONNX export (`engine.infer.onnx_model`): the same probabilities, masks, files
and scores as the checkpoint it came from, and bad ONNX files refused in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

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


def test_eval_scores_the_export_like_its_checkpoint(exported, tmp_path, capsys):
    onnx_path, checkpoint = exported
    src = demo_assets_dir()
    if not (src / "images").is_dir():
        pytest.skip("engine/demo_assets is missing from this installation")
    data = tmp_path / "data"
    shutil.copytree(src / "images", data / "images")
    shutil.copytree(src / "annotations", data / "annotations")
    names = sorted(p.stem for p in (data / "images").iterdir())
    (data / "annotations" / "test.txt").write_text("".join(f"{n} 1 1 1\n" for n in names))
    (data / "annotations" / "trainval.txt").write_text("")

    def headline(model: Path) -> str:
        assert main(["eval", "--model_path", str(model), "--data_path", str(data), "--device", "cpu"]) == 0
        return next(l for l in capsys.readouterr().out.splitlines() if l.startswith("test Dice"))

    assert headline(onnx_path) == headline(checkpoint)


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


def _foreign_onnx(path: Path) -> Path:
    """An ONNX model without petseg metadata: one Conv to a single channel, any H and W."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.full((1, 3, 1, 1), 0.1, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])], "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, "h", "w"])], [weight])
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
