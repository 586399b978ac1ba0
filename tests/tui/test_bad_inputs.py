"""Bad input in the full app (`PetsegApp`): every case is an in-app, one-line error naming the
file, and the app keeps running (the next good input still works).

Images and checkpoints go through the inference screen with the real engine (a tiny real UNet
checkpoint); damaged run folders through the runs screen; unusable datasets through a run
started in-process, which ends failed with the dataset's one-line reason in the runs table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tui_helpers import (highlight, inference_done, make_run, open_broken_run_and_return, run_detail, wait_for,
                      widget_text)

from engine.checkpoint import FORMAT, save_checkpoint
from engine.config import TrainConfig
from engine.models import build_model
from petseg_tui.app import PetsegApp
from petseg_tui.screens.inference import InferenceScreen
from petseg_tui.screens.runs import RunsScreen


def tiny_checkpoint_run(runs_dir: Path, name: str = "tiny") -> Path:
    torch.manual_seed(0)
    path = runs_dir / name
    (path / "checkpoints").mkdir(parents=True)
    (path / "config.json").write_text('{"model": "unet", "image_size": 64}\n')
    save_checkpoint({"format": FORMAT, "arch": {"name": "unet", "kwargs": {"width": 4}},
                     "model": build_model("unet", width=4).state_dict(), "image_size": 64,
                     "mask_rule": "pet_border", "epoch": 1, "best_dice": 0.5, "config": {}},
                    path / "checkpoints" / "best.pt")
    return path


async def predict(pilot, screen: InferenceScreen, image: Path) -> None:
    screen.selected_image = image
    await pilot.press("r")
    await inference_done(pilot)


def bad_images(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "good.jpg"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(good, quality=90)
    cases = {
        "not_an_image.jpg": b"hello, I am a text file renamed .jpg\n",
        "truncated.jpg": good.read_bytes()[: good.stat().st_size // 2],
        "zero.jpg": b"",
    }
    out = {}
    for name, data in cases.items():
        (folder / name).write_bytes(data)
        out[name] = folder / name
    out["missing.jpg"] = folder / "missing.jpg"
    (folder / "a_folder.jpg").mkdir()
    out["a_folder.jpg"] = folder / "a_folder.jpg"
    return out


def odd_but_valid_images(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    Image.new("L", (40, 30), 128).save(out.setdefault("gray.png", folder / "gray.png"))
    Image.new("RGBA", (40, 30), (10, 20, 30, 128)).save(out.setdefault("rgba.png", folder / "rgba.png"))
    Image.new("CMYK", (40, 30), (0, 128, 255, 10)).save(out.setdefault("cmyk.jpg", folder / "cmyk.jpg"))
    deep = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
    Image.fromarray(deep).save(out.setdefault("deep16.png", folder / "deep16.png"))
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out.setdefault("tiny8.png", folder / "tiny8.png"))
    Image.linear_gradient("L").resize((8000, 6000)).convert("RGB").save(
        out.setdefault("huge.jpg", folder / "huge.jpg"), quality=80)
    return out


@pytest.mark.slow
async def test_bad_and_odd_images_in_the_inference_screen(tmp_path: Path, runs_dir: Path) -> None:
    run_path = tiny_checkpoint_run(runs_dir)
    bad = bad_images(tmp_path / "bad")
    odd = odd_but_valid_images(tmp_path / "odd")

    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_infer(run_path)
        await wait_for(pilot, lambda: isinstance(app.screen, InferenceScreen), what="inference screen")
        screen = app.screen
        await inference_done(pilot)
        for name, path in bad.items():
            await predict(pilot, screen, path)
            assert str(path) in screen.error, (name, screen.error)
            assert "\n" not in screen.error and "Traceback" not in screen.error
            assert app.is_running and not screen.query_one("#inf-panes").loading
        for name, path in odd.items():
            await predict(pilot, screen, path)
            assert screen.error == "", (name, screen.error)
            assert Path(screen.prediction.source) == path
            h, w = screen.prediction.image.shape[:2]
            assert max(h, w) <= 2048 and screen.prediction.prob.shape == (h, w)
        assert screen.prediction.image.shape[:2] == (1500, 2000)  # the 8000x6000, decoded at 1/4 (libjpeg)


@pytest.mark.parametrize("kind", ["corrupt", "other_architecture", "pickled_model"])
async def test_bad_checkpoint_in_the_inference_screen(tmp_path: Path, runs_dir: Path, kind: str) -> None:
    run_path = tiny_checkpoint_run(runs_dir)
    best = run_path / "checkpoints" / "best.pt"
    expected = {"corrupt": "truncated checkpoint", "other_architecture": "another architecture",
                "pickled_model": "weights_only"}[kind]
    if kind == "corrupt":
        best.write_bytes(best.read_bytes()[:1000])
    elif kind == "other_architecture":
        ck = torch.load(best, weights_only=True)
        ck["arch"] = {"name": "resnet34_unet", "kwargs": {}}
        save_checkpoint(ck, best)
    else:
        torch.save(build_model("unet", width=4), best)  # a whole pickled module
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30), (1, 2, 3)).save(good)

    app = PetsegApp(runs_dir=runs_dir, image_mode="halfcell")
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_infer(run_path)
        await wait_for(pilot, lambda: isinstance(app.screen, InferenceScreen), what="inference screen")
        screen = app.screen
        await inference_done(pilot)  # the model loads on open: the error shows at once
        assert str(best) in screen.error and expected in screen.error, screen.error
        assert "\n" not in screen.error
        await predict(pilot, screen, good)
        assert screen.prediction is None and expected in screen.error
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="back to runs")
        assert app.is_running


async def test_damaged_run_folders_are_listed_with_the_reason(runs_dir: Path) -> None:
    make_run(runs_dir, "fine", epochs_done=2, total=2)
    no_config = runs_dir / "no-config"
    no_config.mkdir()
    (no_config / "status.json").write_text('{"state": "finished"}')
    make_run(runs_dir, "bad-status", epochs_done=1, total=2)
    (runs_dir / "bad-status" / "status.json").write_text("[1, 2")
    make_run(runs_dir, "bad-events", epochs_done=2, total=2)
    with open(runs_dir / "bad-events" / "events.jsonl", "ab") as fh:
        fh.write(b"\x00\xff not json\n[1, 2]\n{\"kind\": \"epo")  # garbage + torn tail

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan")
        rows = screen.table.rows_by_name
        assert rows["fine"].state == "finished"
        assert rows["no-config"].state == "broken" and "config.json: missing" in rows["no-config"].summary.message
        assert rows["bad-status"].state == "broken" and "status.json: not valid JSON" in rows["bad-status"].summary.message
        # two unreadable lines, and the torn tail: no writer will finish it once the run has ended
        assert rows["bad-events"].state == "finished" and rows["bad-events"].bad_lines == 3
        assert rows["bad-events"].summary.epoch == 2
        table = screen.table
        await highlight(pilot, table, "bad-events")
        assert "3 unreadable lines in events.jsonl skipped" in run_detail(screen)
        for name in ("no-config", "bad-status"):  # opening a broken run must not crash the app
            await open_broken_run_and_return(pilot, screen, name)


@pytest.mark.parametrize("layout", ["images_without_trimaps", "empty_dataset"])
async def test_unusable_dataset_is_refused_with_one_line_in_the_app(tmp_path: Path, runs_dir: Path, layout: str) -> None:
    """An in-process start on an unusable dataset is refused before a run folder exists (the
    same message as petseg train), shown in the app, which keeps running."""
    data = tmp_path / layout
    (data / "images").mkdir(parents=True)
    (data / "annotations" / "trimaps").mkdir(parents=True)
    if layout == "images_without_trimaps":
        for i in range(3):
            Image.new("RGB", (32, 32)).save(data / "images" / f"cat_{i}.jpg")
    expected = "no trimaps" if layout == "images_without_trimaps" else "no images"
    config = TrainConfig(data_path=str(data), epochs=1, image_size=64, width=4, workers=0, device="cpu")

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.runs_screen.loaded, what="first scan")
        app.start_run(config, "bad-data", detached=False)

        def said() -> str:
            return " ".join(" ".join(widget_text(t).split()) for t in app.screen.query("Toast"))

        await wait_for(pilot, lambda: expected in said(), timeout=60, what="the refusal, in a notification")
        assert str(data) in "".join(said().split())  # the folder, named (wrapped in the toast)
        assert not (runs_dir / "bad-data").exists() and not app.trainers
        assert app.is_running
