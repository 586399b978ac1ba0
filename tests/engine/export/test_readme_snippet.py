"""The README's "Deploying it without petseg" snippet, run as written, gives ``petseg infer``'s
mask pixel for pixel on the photos the README says it does (8-bit, any shape, EXIF-rotated)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.data.samples import sample_image_paths
from engine.infer.inference import load_predictor
from tests.engine.export.exported import exported_run

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Deploying it without petseg**"):]
    block = re.search(r"```python\n(.*?)\n\s*```", section, re.DOTALL)
    assert block, "the README's deployment snippet is missing"
    return "\n".join(line.removeprefix("  ") for line in block.group(1).splitlines())


def variants(photo: Path, folder: Path) -> list[Path]:
    """The photo as it is, at an odd size, in grey, as a palette PNG and stored sideways with
    EXIF orientation 6."""
    rgb = Image.open(photo).convert("RGB")
    made = {"odd.jpg": rgb.resize((137, 91)), "grey.png": rgb.convert("L"), "palette.png": rgb.convert("P")}
    for name, image in made.items():
        image.save(folder / name)
    exif = Image.Exif()
    exif[0x0112] = 6
    rgb.transpose(Image.Transpose.ROTATE_90).save(folder / "exif6.jpg", exif=exif.tobytes(), quality=95)
    return [photo, *(folder / name for name in made), folder / "exif6.jpg"]


def test_the_readme_snippet_gives_petseg_infers_mask(tmp_path_factory, finished_tiny_run, tmp_path):
    photos = sample_image_paths()
    if not photos:
        pytest.skip("engine/demo_assets is missing from this installation")
    _, result = exported_run(tmp_path_factory, finished_tiny_run)
    work = tmp_path / "deploy"
    work.mkdir()
    (work / "snippet.py").write_text(readme_snippet(), encoding="utf-8")
    predictor = load_predictor(result.path, "cpu")
    for photo in variants(photos[0], tmp_path):
        # the tiny model's probabilities are all on one side of 0.5: at their median instead (in
        # the file's metadata for the snippet, --threshold for petseg) half the photo is pet
        threshold = f"{float(np.median(predictor.predict_file(photo).prob)):.6f}"
        (work / "model.onnx").write_bytes(with_threshold(result.path, threshold))
        (work / "cat.jpg").write_bytes(photo.read_bytes())
        done = subprocess.run([sys.executable, "snippet.py"], check=False, cwd=work, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        ours = tmp_path / f"{photo.name}.png"
        assert main(["infer", "--model_path", str(work / "model.onnx"), "--data_path", str(photo),
                     "--output_path", str(ours), "--threshold", threshold]) == 0
        theirs = np.asarray(Image.open(work / "cat_mask.png")) > 127
        mask = np.asarray(Image.open(ours).convert("L")) > 127
        assert 0.2 < mask.mean() < 0.8, (photo.name, mask.mean())
        assert theirs.shape == mask.shape and (theirs == mask).all(), (photo.name, int((theirs != mask).sum()))


def with_threshold(path: Path, threshold: str) -> bytes:
    import onnx

    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "threshold":
            prop.value = threshold
    return model.SerializeToString()
