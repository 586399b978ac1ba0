"""``petseg infer``: the mask (or overlay) of one photo, or of every photo in a folder with a
progress bar."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any
from pathlib import Path

from engine.cli.common import EXIT_ERROR, EXIT_OK, OneRun, add_flag, add_runs_flag, checkpoint_from_args, given_path, given_text, image_side, integer, number, console as new_console
from engine.cli.progress import progress_bar
from engine.config import MODELS, threshold_problem
from engine.errors import PetsegError
from engine.words import counted

def add_parser(sub: Any) -> argparse.ArgumentParser:
    i = sub.add_parser("infer", help="predict the mask of one image, or of every image in a folder")
    g = i.add_mutually_exclusive_group(required=True)
    g.add_argument("--run", type=given_text, action=OneRun, help="a run (folder name under --runs, or its path): its best.pt, else last.pt")
    g.add_argument("--checkpoint", "--model_path", "--model-path", dest="checkpoint", type=given_path,
                   help="a petseg checkpoint (.pt) or a petseg ONNX export (.onnx, run on ONNX Runtime); "
                        "--model_path is the same flag")
    add_flag(i, "image_size", type=image_side, default=None, help="input side for an ONNX file without petseg metadata")
    add_runs_flag(i)
    i.add_argument("--image", "--data_path", "--data-path", dest="image", type=given_path, required=True,
                   help="a photo, or a folder of photos (--data_path is the same flag); each is read as viewers "
                        "show it, its EXIF orientation applied: a dataset photo is predicted upright, where eval "
                        "and the dashboard score it as stored, on the pixels its trimap is drawn on")
    # a str: a trailing "/" (a folder meant, maybe not there yet) is lost in a Path
    i.add_argument("--output", "--output_path", "--output-path", dest="output", type=given_text, required=True,
                   help="PNG to write (its folder created if missing), or an existing folder for <name>.png "
                        "(for a folder of photos: the folder, created if missing); "
                        "never an input itself, and an existing file only if petseg wrote it")
    i.add_argument("--overwrite", action="store_true", help="replace existing outputs that petseg did not write")
    i.add_argument("--model", choices=MODELS, default=None,
                   help="the architecture you expect; a checkpoint of another one is refused")
    i.add_argument("--overlay", action="store_true", help="write the image with the mask blended and outlined")
    i.add_argument("--threshold", type=number, default=0.5,
                   help="pet probability above which a pixel is pet (default: 0.5)")
    i.add_argument("--tta", action="store_true", help="average with a horizontally flipped pass")
    add_flag(i, "batch_size", type=integer, default=None,
         help="photos per forward pass for a folder (default: 8 on CPU, 32 on CUDA, at 256 px; "
                       "fewer for large photos, so two batches fit in the 768 MiB read-ahead; an ONNX model "
                       "exported for a fixed batch runs at that one)")
    add_flag(i, "workers", type=integer, default=None, help="threads decoding and writing ahead of the model (folder)")
    add_flag(i, "device", default="auto", help="auto (CUDA if present, else MPS, else the CPU), cpu, cuda, cuda:N or mps")
    return i


def cmd_infer(args: argparse.Namespace) -> int:
    if problem := threshold_problem(args.threshold):
        raise PetsegError(problem)
    for flag in ("batch_size", "workers"):
        value = getattr(args, flag)
        if value is not None and not 1 <= value <= 1024:
            raise PetsegError(f"--{flag} {value}: must be between 1 and 1024")
    named_folder = args.output.endswith(("/", os.sep))  # `masks/`: a folder, as `cp PHOTO masks/` means
    args.output = Path(args.output)
    if args.image.is_dir():
        return _infer_folder(args)
    from engine.infer.inference import load_predictor, original_size, output_picture, save_png
    from engine.infer.outputs import check_output, made_folder

    checkpoint = checkpoint_from_args(args)
    if not args.image.exists():  # before the output's checks, which would otherwise answer a typo
        raise PetsegError(_missing_input(args.image))
    if args.output.is_dir() or named_folder:  # as `cp PHOTO DIR/`: into it, named as a folder of photos names it
        from engine.infer.infer_folder import plan_names, taken_names

        taken = taken_names([args.image], args.output, overwrite=args.overwrite)
        kind = "overlay" if args.overlay else "mask"
        args.output = args.output / plan_names([args.image.name], taken, kind)[args.image.name]
    # a missing folder is made, as for a folder of photos (not before the mask is ready: a bad
    # photo or model leaves no empty folder)
    check_output(args.output, inputs=(args.image, checkpoint), overwrite=args.overwrite, create_folder=True)
    predictor = load_predictor(checkpoint, args.device, args.model, args.image_size)
    for warning in predictor.warnings:
        print(f"petseg: warning: {warning}", file=sys.stderr)
    pred = predictor.predict_file(args.image, tta=args.tta)
    img = output_picture(pred.image, pred.prob, args.threshold, args.overlay, original_size(args.image))
    with made_folder(args.output.parent):
        save_png(img, args.output)
    frac = float(pred.mask(args.threshold).mean())
    print(f"{args.output}: {'overlay' if args.overlay else 'mask'} {img.size[0]}x{img.size[1]}, "
          f"pet {frac:.1%} of pixels, {pred.seconds * 1000:.0f} ms")
    return EXIT_OK


def _missing_input(path: Path) -> str:
    """Why ``--image`` (a photo or a folder of them) names nothing."""
    from engine.data.images import missing_reason

    return f"{path}: {missing_reason(path, 'file or folder')}"


def _print_renamed(console: Any, items: list[tuple[Path, Path]], shown: int = 5) -> None:
    """Which photo each output named apart from ``<stem>.png`` belongs to (``a.jpg`` and ``a.JPG``
    become ``a_jpg.png`` and ``a_jpg_mask.png``: from the names alone, a user cannot tell)."""
    renamed = [(photo, out) for photo, out in items if out.name != f"{photo.stem}.png"]
    for photo, out in renamed[:shown]:
        console.print(f"named apart: {photo.name} -> {out.name}", markup=False)
    if len(renamed) > shown:
        console.print(f"named apart: {len(renamed)} outputs in all (their photos' names collide or are taken)",
                      markup=False)


def _dataset_hint(src: Path) -> str:
    """For a folder without photos of its own: where a dataset folder's photos are (images/, one
    level down), or that its images/ holds none either — pointing at an empty images/ sent the
    user to a second "no image files"."""
    from engine.data.images import is_image_file

    images = src / "images"
    if not images.is_dir():
        return ""
    try:
        has_photos = any(is_image_file(e.name) and e.is_file() for e in os.scandir(images))
    except OSError:
        return ""
    return f"; its photos are in {images}?" if has_photos else f"; its {images} holds no image files either"


def _infer_folder(args: argparse.Namespace) -> int:
    """Every photo in the folder ``args.image`` -> ``args.output/<name>.png``, with a progress bar."""
    from engine.infer.infer_folder import plan_folder
    from engine.infer.inference import load_predictor
    from engine.infer.outputs import folder_write_problem, made_folder

    src, dst = args.image, args.output
    if dst.exists() and not dst.is_dir():
        raise PetsegError(f"{dst}: is a file; with a directory of photos the output must be a folder")
    if not dst.exists() and dst.suffix.lower() == ".png":
        raise PetsegError(f"{dst}: {src} is a directory of photos, so the output must be a folder, not a .png file")
    try:
        plan = plan_folder(src, dst, kind="overlay" if args.overlay else "mask", overwrite=args.overwrite)
    except OSError as exc:
        raise PetsegError(f"{src}: cannot list the folder ({exc.strerror or exc})") from None
    console = new_console()
    for path, reason in plan.skipped:
        console.print(f"skipped {path}: {reason}", markup=False)
    if not plan.items:
        # a dataset folder is what train and eval take as --data_path: its photos are one level down
        raise PetsegError(f"{src}: no image files in the folder ({len(plan.skipped)} other entries"
                          f"{_dataset_hint(src)})")
    checkpoint = checkpoint_from_args(args)
    predictor = load_predictor(checkpoint, args.device, args.model, args.image_size)
    for warning in predictor.warnings:
        print(f"petseg: warning: {warning}", file=sys.stderr)
    with made_folder(dst):  # removed again if nothing went into it
        problem = folder_write_problem(dst)
        if problem:  # one line for the folder, not one per photo
            raise PetsegError(f"{dst}: --output_path folder is not writable ({problem}); nothing was done")
        return _segment_into(args, predictor, checkpoint, plan, console)


def _segment_into(args: argparse.Namespace, predictor: Any, checkpoint: Path, plan: Any, console: Any) -> int:
    """`_infer_folder` once the model is loaded and the output folder exists."""
    from engine.infer.infer_folder import ItemResult, folder_batch_size, photo_footprint, segment_folder
    from engine.infer.outputs import check_output

    src, dst = args.image, args.output
    # the same guard as one-file inference, per output: never a photo itself (input folder =
    # output folder), never a file petseg did not write unless --overwrite
    items, failed = [], len(plan.skipped)
    for photo, out in plan.items:
        try:
            check_output(out, inputs=(photo, checkpoint), overwrite=args.overwrite, flag="--output_path")
            items.append((photo, out))
        except PetsegError as exc:
            console.print(f"skipped {exc}", markup=False)
            failed += 1
    if not items:
        raise PetsegError(f"{dst}: none of the {len(plan.items)} outputs may be written (see above)")
    # the default batch is sized by the photos too: two batches of the largest of a sample fit
    # in the read-ahead budget (so 8000x6000 photos do not go 32 at a time)
    sample = [photo for photo, _ in items[:: max(1, len(items) // 32)]]
    photo_bytes = max(photo_footprint(p, predictor.image_size, args.overlay) for p in sample)
    batch = folder_batch_size(predictor, len(items), args.batch_size, photo_bytes)
    fixed = "fixed " if predictor.fixed_batch else ""  # the model's own: it runs at no other
    if fixed and args.batch_size and args.batch_size != batch:
        print(f"petseg: warning: --batch_size {args.batch_size}: {checkpoint} was exported for batch {batch} "
              f"only; it runs {batch} photos at a time", file=sys.stderr)
    console.print(f"{counted(len(items), 'photo')} in {src} -> {dst}  ({predictor.arch_name}, {predictor.image_size} px, "
                  f"{predictor.device}, {fixed}batch {batch}{', TTA' if args.tta else ''})", markup=False)
    _print_renamed(console, items)
    written: set[Path] = set()
    unwritten = unread = 0
    start = time.perf_counter()
    with progress_bar(console) as progress:
        task = progress.add_task("photos", total=len(items), info="") if progress else None

        def on_result(result: ItemResult) -> None:
            nonlocal unwritten, unread
            if result.error is None and result.output is not None:
                written.add(result.output)
            else:
                unwritten += result.stage == "write"
                unread += result.stage != "write"
                (progress.console if progress else console).print(f"skipped {result.error}", markup=False)
            if progress is not None:
                progress.update(task, advance=1, info=f"{len(written)} written")

        segment_folder(predictor, items, on_result, threshold=args.threshold, overlay=args.overlay,
                       tta=args.tta, batch_size=batch, workers=args.workers)
    seconds = time.perf_counter() - start
    # the count is what is on disk at the end (plan_folder gave every photo its own name)
    count = sum(1 for path in written if path.is_file())
    failed += unwritten + unread + len(written) - count
    console.print(f"{count} written to {dst}, {failed} skipped ({seconds:.1f}s, "
                  f"{count / max(seconds, 1e-9):.1f} photos/s)", markup=False)
    if count == 0:  # say what failed: reading/segmenting the photos, or writing the masks
        what = ("masks could be written" if unwritten and not unread else
                "photos could be read and segmented" if not unwritten else "photos could be segmented and written")
        print(f"petseg: error: {src}: none of the {len(plan.items)} {what} (see above)", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
