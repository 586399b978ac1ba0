"""Regenerate docs/screens/*.png and *.txt (``--svg``: Textual's SVG beside each): every screen of petseg-tui at
80x24 and 160x48, on a made-up runs folder (the test fixtures' runs plus 40 more, so the table
is a long one), with fixed times in UTC. The inference and worst-samples screens use a tiny
untrained UNet ("tiny-unet", seed 0) on the shipped photos: the layout is real, the masks are
noise (a trained model's pictures are in docs/RESULTS.md).

    PYTHONPATH=$PWD python docs/screens/make_screens.py [--out docs/screens] [--only runs,help] [--svg]

(about 1 minute a screen on 2 busy cores).

Textual exports SVG (`App.export_screenshot`); nothing on the development machine converts SVG
(no cairosvg, rsvg-convert, inkscape or browser), so the PNG is painted here from the same cells
the SVG is made of (`paint_png`: each cell's background, its character in DejaVu Sans Mono,
bold and italic as styled). Half-cell pictures come out as they show in a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "tui")]
os.environ["TZ"] = "UTC"
time.tzset()

from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.segment import Segment
from engine.runs.layout import LOG_FILE

from tui_helpers import (
    DIVERGED_DICES,
    DIVERGED_LOSSES,
    OUTLIER_DICES,
    OUTLIER_LOSSES,
    T0,
    make_curve_run,
    make_run,
    make_sweep_runs,
    open_live,
    settled,
    wait_for,
    write_cpu_system_log,
    write_previews,
)

SIZES = [(80, 24), (160, 48)]
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
CELL_W, CELL_H, FONT_PX = 10, 20, 16
DEFAULT_FG, DEFAULT_BG = (224, 224, 224), (30, 30, 30)


# ---- PNG from the screen's cells ------------------------------------------------------------------
def _fonts() -> dict[tuple[bool, bool], ImageFont.FreeTypeFont]:
    names = {(False, False): "DejaVuSansMono.ttf", (True, False): "DejaVuSansMono-Bold.ttf",
             (False, True): "DejaVuSansMono-Oblique.ttf", (True, True): "DejaVuSansMono-BoldOblique.ttf"}
    fonts: dict = {k: ImageFont.truetype(str(FONT_DIR / v), FONT_PX) for k, v in names.items()}
    fonts["sans"] = ImageFont.truetype(str(FONT_DIR / "DejaVuSans.ttf"), FONT_PX)
    return fonts


def _glyphs() -> tuple[set[str], set[str]]:
    """The characters DejaVu Sans Mono and DejaVu Sans have."""
    from fontTools.ttLib import TTFont

    return tuple({chr(c) for c in TTFont(str(FONT_DIR / name))["cmap"].getBestCmap()}  # type: ignore[return-value]
                 for name in ("DejaVuSansMono.ttf", "DejaVuSans.ttf"))


# braille dot bits -> (column, row) in the cell's 2x4 grid
_BRAILLE = {0x01: (0, 0), 0x02: (0, 1), 0x04: (0, 2), 0x40: (0, 3), 0x08: (1, 0), 0x10: (1, 1), 0x20: (1, 2),
            0x80: (1, 3)}


def _braille(draw: ImageDraw.ImageDraw, bits: int, x0: int, y0: int, fg: tuple[int, int, int]) -> None:
    dw, dh = CELL_W / 2, CELL_H / 4
    for bit, (cx, cy) in _BRAILLE.items():
        if bits & bit:
            x, y = x0 + cx * dw, y0 + cy * dh
            draw.rectangle([x + 1, y + 1, x + dw - 2, y + dh - 2], fill=fg)


def _rgb(color, default: tuple[int, int, int]) -> tuple[int, int, int]:
    if color is None or color.is_default:
        return default
    t = color.get_truecolor()
    return (t.red, t.green, t.blue)


def paint_png(app, path: Path) -> None:
    """Paint the app's current screen, cell by cell, into a PNG (what `export_screenshot` puts in
    SVG), and write its text beside it (``.txt``: the same cells, no colours)."""
    from rich.cells import cell_len

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    lines = list(Segment.split_and_crop_lines(console._record_buffer, width, pad=True))[:height]
    fonts = _fonts()
    glyphs = _glyphs()
    img = Image.new("RGB", (width * CELL_W, height * CELL_H), DEFAULT_BG)
    draw = ImageDraw.Draw(img)
    for y, line in enumerate(lines):
        x = 0
        for seg in line:
            if seg.control:
                continue
            style = seg.style
            fg = _rgb(style.color if style else None, DEFAULT_FG)
            bg = _rgb(style.bgcolor if style else None, DEFAULT_BG)
            if style and style.reverse:
                fg, bg = bg, fg
            if style and style.dim:
                fg = tuple((a + b) // 2 for a, b in zip(fg, bg))
            font = fonts[(bool(style and style.bold), bool(style and style.italic))]
            for ch in seg.text:
                w = max(cell_len(ch), 1)
                x0, y0 = x * CELL_W, y * CELL_H
                draw.rectangle([x0, y0, x0 + w * CELL_W - 1, y0 + CELL_H - 1], fill=bg)
                if ch.strip() and 0x2800 < ord(ch) <= 0x28FF:  # braille (the charts): its dots, drawn
                    _braille(draw, ord(ch) - 0x2800, x0, y0, fg)
                elif ch.strip() and ch not in glyphs[0]:  # not in the mono font: DejaVu Sans, else a mark
                    if ch in glyphs[1]:
                        draw.text((x0, y0 + 1), ch, font=fonts["sans"], fill=fg)
                    else:
                        draw.rectangle([x0 + 2, y0 + 5, x0 + w * CELL_W - 3, y0 + CELL_H - 6], outline=fg)
                elif ch.strip():
                    if ch in "▀▄█":  # block elements: exact cell halves, no font gaps
                        top = {"▀": (y0, y0 + CELL_H // 2 - 1), "▄": (y0 + CELL_H // 2, y0 + CELL_H - 1),
                               "█": (y0, y0 + CELL_H - 1)}[ch]
                        draw.rectangle([x0, top[0], x0 + CELL_W - 1, top[1]], fill=fg)
                    else:
                        draw.text((x0, y0 + 1), ch, font=font, fill=fg)
                if style and style.underline:
                    draw.line([x0, y0 + CELL_H - 2, x0 + w * CELL_W - 1, y0 + CELL_H - 2], fill=fg)
                x += w
    img.save(path, optimize=True)
    text = "\n".join("".join(seg.text for seg in line if not seg.control).rstrip() for line in lines)
    path.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")


# ---- the runs folder ------------------------------------------------------------------------------
def make_runs(root: Path) -> Path:
    """The snapshot tests' runs (finished, stopped, failed, broken, an outlier, a diverged run) plus
    40 sweep-like runs with long names, two of them archived, one tagged."""
    from engine.runs import RunLabels, write_labels

    root.mkdir(parents=True)
    make_run(root, "alpha", epochs_done=5, total=5, learning_rate=1e-3, batch_size=16)
    make_run(root, "bravo", epochs_done=3, total=6, state="stopped", t0=T0 + 3600, learning_rate=3e-4, batch_size=16)
    make_run(root, "charlie", epochs_done=2, total=4, state="failed", t0=T0 + 7200, model="resnet34_unet",
             learning_rate=1e-3, batch_size=8)
    broken = root / "delta-broken"
    broken.mkdir()
    (broken / "config.json").write_text("{ this is not json")
    make_curve_run(root, "outlier", OUTLIER_LOSSES, OUTLIER_DICES, t0=T0 + 10_000)
    make_curve_run(root, "diverged-lr9", DIVERGED_LOSSES, DIVERGED_DICES, total=20, t0=T0 + 11_000, diverged=True,
                   learning_rate=9.0)
    write_previews(root / "outlier", 3)
    write_cpu_system_log(root / "outlier", T0 + 10_000, T0 + 10_900)  # the live screen's system strip
    for i in range(40):
        lr = (1e-4, 3e-4, 1e-3, 3e-3)[i % 4]
        name = f"unet-lr{lr:.0e}-bs{(8, 16)[i % 2]}-sweep-2026-12-04T21{i:02d}-trial-{i:03d}"
        dices = [min(0.93, 0.55 + 0.03 * e + 0.002 * i) for e in range(1, 6 + i % 5)]
        make_curve_run(root, name, [0.9 / (1 + 0.4 * e) for e in range(len(dices))], dices, t0=T0 + 20_000 + i * 60,
                       learning_rate=lr, batch_size=(8, 16)[i % 2])
        if i in (3, 7):
            write_labels(root / name, RunLabels(archived=True))
        if i == 39:
            write_labels(root / name, RunLabels(tags=("best", "sweep"), note="the one to export"))
    make_model_run(root)
    make_sweep_runs(root)
    (root / "charlie" / LOG_FILE).write_text(  # the failed run opens on what it printed
        "device: cpu (bfloat16)  train: 269  valid: 29\n"
        "epoch 1/4  train loss 0.9120  dice 0.6600  valid loss 0.8800  dice 0.7000  iou 0.5400  lr 1.00e-03\n"
        "epoch 2/4  train loss 0.8400  dice 0.7100  valid loss 0.8100  dice 0.7400  iou 0.5900  lr 9.00e-04\n"
        "Traceback (most recent call last):\n  File \"engine/train/train_loop.py\", line 171, in train_one_epoch\n"
        "RuntimeError: DataLoader worker (pid 4242) is killed by signal: Killed.\n")
    return root


def make_model_run(root: Path) -> Path:
    """A finished run with a best.pt of an untrained width-4 UNet at 64 px, its data the shipped sample."""
    import torch

    from engine.models import build_model, model_kwargs

    make_run(root, "tiny-unet", epochs_done=3, total=3, t0=T0 + 15_000, image_size=64, width=4)
    run = root / "tiny-unet"
    torch.manual_seed(0)
    model = build_model("unet", width=4)
    (run / "checkpoints").mkdir(exist_ok=True)
    torch.save({"format": "petseg-checkpoint/1", "arch": {"name": "unet", "kwargs": model_kwargs("unet", 4)},
                "model": model.state_dict(), "image_size": 64, "mask_rule": "pet_border", "epoch": 3,
                "best_dice": 0.5, "config": {"image_size": 64, "data_path": str(REPO / "engine" / "training_sample"),
                                             "cache_dir": str(root.parent / "cache")}},
               run / "checkpoints" / "best.pt")
    return run


# ---- screens --------------------------------------------------------------------------------------
Shot = Callable[[object], Awaitable[None]]


async def _loaded(pilot) -> None:
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "loaded", False), what="first scan")
    await settled(pilot)


async def _runs(pilot) -> None:
    await _loaded(pilot)


async def _runs_filter(pilot) -> None:
    await _loaded(pilot)
    await pilot.press("slash", *"lr<1e-3 dice>0.8 model:unet", "enter")
    await settled(pilot)


async def _runs_archived(pilot) -> None:
    await _loaded(pilot)
    await pilot.press("h")
    await settled(pilot)


async def _sort_menu(pilot) -> None:
    await _loaded(pilot)
    await pilot.press("s")
    await settled(pilot)


async def _labels(pilot) -> None:
    await _loaded(pilot)
    await pilot.press("T")
    await settled(pilot)


async def _new_run(pilot) -> None:
    await _loaded(pilot)
    await pilot.press("n")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "NewRunScreen", what="the form")
    await settled(pilot)


async def _live(pilot) -> None:
    await _loaded(pilot)
    await open_live(pilot, Path("runs") / "outlier")
    await settled(pilot)


async def _live_diverged(pilot) -> None:
    await _loaded(pilot)
    await open_live(pilot, Path("runs") / "diverged-lr9")
    await settled(pilot)


async def _compare(pilot) -> None:
    await _loaded(pilot)
    table = pilot.app.screen.table
    for name in ("alpha", "bravo", "outlier", "diverged-lr9"):
        table.move_cursor(row=table.visible_names.index(name))
        await pilot.press("space")
    await pilot.press("c")
    await wait_for(pilot, lambda: len(getattr(pilot.app.screen, "snapshots", [])) == 4, what="compare data")
    await settled(pilot)


async def _open_on(pilot, name: str, key: str, screen: str) -> object:
    await _loaded(pilot)
    table = pilot.app.screen.table
    table.move_cursor(row=table.visible_names.index(name))
    await pilot.press(key)
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == screen, what=screen)
    return pilot.app.screen


async def _inference(pilot) -> None:
    from tui_helpers import inference_done

    screen = await _open_on(pilot, "tiny-unet", "i", "InferenceScreen")
    await inference_done(pilot)
    screen.selected_image = REPO / "engine" / "demo_assets" / "images" / "Bengal_185.jpg"
    await pilot.press("r")
    await inference_done(pilot)
    await settled(pilot)


async def _worst(pilot) -> None:
    screen = await _open_on(pilot, "tiny-unet", "w", "WorstScreen")
    await wait_for(pilot, lambda: screen.gallery is not None or screen.error, timeout=300, what="the gallery")
    await settled(pilot)


async def _live_log(pilot) -> None:
    await _loaded(pilot)
    screen = await open_live(pilot, Path("runs") / "charlie")
    await wait_for(pilot, lambda: screen.log_shown, what="the log pane")
    await settled(pilot)


async def _sweeps(pilot) -> None:
    await _loaded(pilot)
    await pilot.press("g")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SweepScreen" and pilot.app.screen.loaded,
                   what="the sweeps screen")
    await settled(pilot)


async def _help(pilot) -> None:
    await _loaded(pilot)
    await pilot.press("question_mark")
    await settled(pilot)


SHOTS: dict[str, tuple[str, Shot]] = {
    "runs": ("full", _runs),
    "runs_filter": ("full", _runs_filter),
    "runs_archived": ("full", _runs_archived),
    "runs_empty": ("empty", _runs),
    "sort_menu": ("full", _sort_menu),
    "labels": ("full", _labels),
    "new_run": ("full", _new_run),
    "live_run": ("full", _live),
    "live_run_diverged": ("full", _live_diverged),
    "live_run_log": ("full", _live_log),
    "sweeps": ("full", _sweeps),
    "compare": ("full", _compare),
    "help": ("full", _help),
    "inference": ("full", _inference),
    "worst": ("full", _worst),
}


async def shoot(name: str, folder: str, ready: Shot, size: tuple[int, int], base: Path, out: Path,
                svg: bool = False) -> None:
    from petseg_tui.app import PetsegApp

    os.chdir(base / folder)
    app = PetsegApp(runs_dir=Path("runs"), image_mode="halfcell")
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        stem = out / f"{name}_{size[0]}x{size[1]}"
        if svg:
            stem.with_suffix(".svg").write_text(app.export_screenshot(title=f"petseg-tui {name}"))
        paint_png(app, stem.with_suffix(".png"))
    print(f"{stem}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screens")
    ap.add_argument("--svg", action="store_true", help="also write Textual's SVG of each screen")
    ap.add_argument("--only", default="", help="comma-separated screen names (default: all): " + ", ".join(SHOTS))
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    only = [s for s in args.only.split(",") if s] or list(SHOTS)
    base = Path(tempfile.mkdtemp(prefix="petseg-screens-"))
    try:
        make_runs(base / "full" / "runs")
        (base / "empty" / "runs").mkdir(parents=True)
        failed = []
        for name in only:
            folder, ready = SHOTS[name]
            for size in SIZES:
                try:
                    asyncio.run(shoot(name, folder, ready, size, base, out, args.svg))
                except Exception as exc:  # one screen that cannot be shot must not stop the others
                    failed.append(f"{name} {size[0]}x{size[1]}: {type(exc).__name__}: {exc}")
        for line in failed:
            print(f"FAILED {line}", file=sys.stderr)
        if failed:
            raise SystemExit(1)
    finally:
        os.chdir(REPO)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
