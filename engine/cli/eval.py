"""``petseg eval``: Dice/IoU of a run's best.pt (or a checkpoint) on a labelled split, its four
scorings as a table, the worst photos as a contact sheet, and the bundled photos' scores."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import EXIT_OK, OneRun, add_flag, add_runs_flag, checkpoint_from_args, given_path, given_text, image_side, integer, number, console as new_console, yes_no
from engine.cli.progress import scoring_progress
from engine.config import EVAL_IGNORE_BORDER, FULL_PRECISION
from engine.errors import PetsegError
from engine.words import counted

def add_parser(sub: Any) -> argparse.ArgumentParser:
    e = sub.add_parser(
        "eval", help="test Dice/IoU of a run or checkpoint",
        description="Dice/IoU of a run's best.pt (or a checkpoint) on a labelled split, scored at each "
                    "photo's own size (probabilities resized back bilinearly, then thresholded, against the "
                    "original trimap) and at the training size (comparable with the run's valid Dice), "
                    "pooled over pixels and as a per-image mean.")
    g = e.add_mutually_exclusive_group(required=True)
    g.add_argument("--run", type=given_text, action=OneRun, help="a run (folder name under --runs, or its path): its best.pt, else last.pt")
    g.add_argument("--checkpoint", "--model_path", "--model-path", dest="checkpoint", type=given_path,
                   help="a petseg checkpoint (.pt) or ONNX export (.onnx, run on ONNX Runtime)")
    add_flag(e, "image_size", type=image_side, default=None, help="input side for an ONNX file without petseg metadata")
    add_runs_flag(e)
    add_flag(e, "data_path", type=given_text, default=None, help="dataset folder (default: the run's own data)")
    add_flag(e, "split", choices=("test", "valid"), default="test",
             help="test: the dataset's test.txt (default); valid: the photos training validated on")
    add_flag(e, "batch_size", type=integer, default=8, help="photos through the model at once (default: 8)")
    add_flag(e, "device", default="auto", help="auto (CUDA if present, else MPS, else the CPU), cpu, cuda, cuda:N or mps")
    add_flag(e, "devices", default="1", metavar="N|all|0,2",
             help="score on N processes (one per GPU; gloo processes with --device cpu), as train's --devices; "
                  "each scores its share of the split, one prints and writes")
    e.add_argument("--tta", action="store_true", help="average with a horizontally flipped pass")
    add_flag(e, "ignore_border", type=yes_no, nargs="?", const=True, default=EVAL_IGNORE_BORDER,
         metavar="yes|no",
         help="leave the trimap's border band (value 3) out of prediction and truth in the headline "
              f"figure and the --worst order (default: {'yes' if EVAL_IGNORE_BORDER else 'no'}: the band is "
              "the annotators' 'not sure' zone, the quality targets are stated without it, and it scores "
              "pet_border and pet_only models on the same pixels); 'no' scores it as the run's mask rule "
              "says (pet_border: pet, pet_only: background). Both are printed either way")
    add_flag(e, "threshold", type=number, default=0.5, help="pet probability above which a pixel is pet")
    add_flag(e, "worst", type=integer, default=0, metavar="N",
         help="list the N lowest-Dice images (at most 100; photo size, --ignore_border setting) and write them as one "
              "PNG contact sheet to <run>/eval/worst-<split>.png (with a --data_path other than the run's: "
              "worst-<split>-on-<data folder>-<hash>.png beside it; for --checkpoint FILE: "
              "FILE's folder/<stem>-worst-<split>.png)")
    add_flag(e, "worst_out", type=given_path, default=None, metavar="PNG",
             help="write the --worst sheet here instead (an existing folder: the default file name in it)")
    e.add_argument("--overwrite", action="store_true",
                   help="replace an existing contact sheet that petseg did not write")
    e.add_argument("--samples", action="store_true",
                   help="also score the six bundled real photos (engine/demo_assets) against their trimaps")
    return e


def refuse_output_in_data(output: Path, data_path: str | None) -> None:
    """``--worst_out`` inside the data folder eval reads is refused, even with --overwrite: it
    could replace a photo or a trimap of the dataset (the ground truth) with a contact sheet."""
    from engine.data.source import resolve_data_source
    from engine.infer.outputs import OutputRefused
    from engine.runs.layout import inside_folder

    root = resolve_data_source(data_path).path
    if inside_folder(output, root):
        raise OutputRefused(f"{output}: is inside the data folder {root} that eval reads; choose another "
                            "--worst_out — petseg never writes over its input, even with --overwrite")


def cmd_eval(args: argparse.Namespace) -> int:
    from engine.eval.gallery import WORST_MAX

    if not 0 <= args.worst <= WORST_MAX:  # before minutes of scoring, and a sheet no viewer opens
        raise PetsegError(f"--worst {args.worst}: must be between 0 and {WORST_MAX} (the contact sheet has a "
                          "row per photo)")
    if args.worst_out is not None and not args.worst:  # else minutes of scoring and no sheet, without a word
        raise PetsegError(f"--worst_out {args.worst_out}: names the sheet of the --worst N lowest-Dice photos; "
                          "give --worst N too")
    if args.overwrite and not args.worst:  # it only lets the sheet replace a file: else ignored without a word
        raise PetsegError("--overwrite: not used without --worst N (it lets the contact sheet replace a file "
                          "petseg did not write)")
    from engine.eval.evaluate import evaluate_checkpoint
    from engine.infer.inference import load_predictor

    ckpt = checkpoint_from_args(args)
    chosen_out = None  # the user's --worst_out (refused inside the data folder), not the default
    if args.worst:  # checked before minutes of scoring, like every user-named output
        from engine.eval.gallery import worst_sheet_path
        from engine.infer.outputs import check_output, into_folder

        default = args.worst_out is None
        if default:  # the run's eval/ is made as the sheet is written (`_print_worst`), not before the scoring
            args.worst_out = worst_sheet_path(ckpt, args.split, args.data_path)
        else:  # a folder: the default file name, in it (as export --output and infer --output)
            args.worst_out = into_folder(args.worst_out, worst_sheet_path(ckpt, args.split, args.data_path))
            chosen_out = args.worst_out
        check_output(args.worst_out, inputs=(ckpt,), overwrite=args.overwrite, flag="--worst_out",
                     create_folder=default)
    from engine.cli.eval_ranks import data_parallel_eval

    ranks = data_parallel_eval(args, ckpt)  # --devices N: the ranks' exit code here; in a rank, its share
    if isinstance(ranks, int):
        return ranks
    console = new_console()
    predictor = load_predictor(ckpt, args.device, image_size=args.image_size)
    if chosen_out is not None:
        refuse_output_in_data(chosen_out, args.data_path or predictor.config.get("data_path"))
    for warning in predictor.warnings if ranks is None or ranks.ctx.is_main else ():
        print(f"petseg: warning: {warning}", file=sys.stderr)
    shown = ranks is None or ranks.ctx.is_main  # with --devices N, rank 0's own share stands for all
    with scoring_progress(console, args.split if ranks is None else f"{args.split} (rank 0's share)",
                          shown) as on_progress:
        res = evaluate_checkpoint(ckpt, args.data_path, split=args.split, batch_size=args.batch_size,
                                  tta=args.tta, ignore_border=args.ignore_border, threshold=args.threshold,
                                  keep_worst=args.worst, predictor=predictor, ranks=ranks,
                                  on_progress=on_progress)
    if res is None:  # a rank other than 0: its scores went to rank 0, which prints and writes
        return EXIT_OK
    for warning in res.warnings:  # the data's (duplicated or overlapping list entries)
        if warning not in predictor.warnings:
            print(f"petseg: warning: {warning}", file=sys.stderr)
    console.print(f"{predictor.file_word}: {ckpt} ({predictor.arch_name}, {predictor.image_size} px, "
                  f"mask rule {predictor.mask_rule})")
    if res.data:
        console.print(f"data: {res.data}")
    for name, reason in res.skipped[:5]:
        console.print(f"skipped {name}: {reason}")
    if len(res.skipped) > 5:
        console.print(f"skipped {len(res.skipped)} unreadable images in total")
    tta = "TTA hflip" if args.tta else "no TTA"
    console.print(f"{args.split}: {counted(res.n_images, 'image')}, {tta}, threshold {args.threshold:g}, "
                  f"{res.seconds:.1f} s (decode, predict, score; model load {res.load_seconds:.1f} s)")
    # on data the run never validated on, no row is its valid Dice
    _print_figures(console, res, validated_in(ckpt, predictor.valid_precision) if res.own_data else None,
                   as_valid=res.own_data)
    h = res.headline
    flag = f"--ignore_border {'yes' if args.ignore_border else 'no'}"
    console.print(
        f"{args.split} Dice {h.dice:.4f}  IoU {h.iou:.4f}  (per-image Dice {h.dice_per_image:.4f}) at "
        f"{res.label('photo')}, {tta}  [{flag}{', the default' if args.ignore_border == EVAL_IGNORE_BORDER else ''}]"
    )
    if args.worst:
        _print_worst(console, res, args, ckpt)
    if args.samples:
        from engine.eval.evaluate import score_sample_images

        samples = score_sample_images(predictor, tta=args.tta, threshold=args.threshold,
                                      ignore_border=args.ignore_border)
        console.print(f"bundled real photos (engine/demo_assets), {samples.label('photo')}, {tta}:")
        for r in samples.records:
            o = r.overlap("photo", samples.ignore_border)
            console.print(f"  {r.name:28s} Dice {o.dice:.4f}  IoU {o.iou:.4f}  pet {r.pet_fraction:6.1%}")
        sh = samples.headline
        console.print(f"bundled real photos: {sh.n_images} images  mean Dice {sh.dice_per_image:.4f}  "
                      f"(pooled {sh.dice:.4f}) at {samples.label('photo')}, {tta}")
    return EXIT_OK


def validated_in(checkpoint: Path, recorded: str | None = None) -> str | None:
    """The precision the model file's valid Dice was scored in: its run's (config.json's
    ``amp_resolved``: bfloat16, float16, fp32), else the one the file records (``recorded``:
    checkpoints and exports carry it since 2026-12-06), else None: not known (a file of an older
    petseg kept outside its run). Eval scores in fp32, so only fp32 gives the valid Dice exactly;
    a reduced precision gives it to the 3rd-4th decimal."""
    from engine.runs.layout import read_run_config, run_of_checkpoint

    run = run_of_checkpoint(checkpoint)
    try:
        amp = read_run_config(run).get("amp_resolved") if run is not None else None
    except PetsegError:
        amp = None
    amp = amp if isinstance(amp, str) and amp else recorded
    return amp or None


def _print_figures(console: Any, res: Any, validated: str | None = FULL_PRECISION, as_valid: bool = True) -> None:
    """The four scorings as a table; the headline row first and marked; the row scored as training's
    validation is, said so: "=" when training validated in fp32 (``validated``), "~" when in a
    reduced precision or when that is not known (None); neither when ``as_valid`` is False (data
    the run did not validate on, where that row is not its valid Dice)."""
    reduced = "" if validated == FULL_PRECISION else (validated or "")
    rows = [("photo", res.ignore_border), ("photo", not res.ignore_border),
            ("train", False), ("train", True)]
    valid_mark = " = valid Dice" if validated == FULL_PRECISION else " ~ valid Dice"
    marked = as_valid and res.at_training_size
    labels = [res.label(r, ib) + (valid_mark if (r, ib) == ("train", False) and marked else "")
              for r, ib in rows]
    width = max(len(x) for x in labels) + 2
    console.print(f"  {'scoring':{width}s}  pooled Dice    IoU   per-image Dice    IoU")
    for (r, ib), label in zip(rows, labels):
        f = res.figures(r, ib)
        mark = "*" if (r, ib) == ("photo", res.ignore_border) else " "
        console.print(f"{mark} {label:{width}s}  {f.dice:11.4f} {f.iou:7.4f}  {f.dice_per_image:14.4f} {f.iou_per_image:7.4f}")
    if validated != FULL_PRECISION and marked:  # below the table, which stays as narrow as before
        how = f"training validated in {reduced}" if reduced else \
            "the precision training validated in is not recorded (a file of an older petseg, outside its run)"
        console.print(f"  ~ valid Dice: {how}, eval scores in {FULL_PRECISION} (a 3rd-4th decimal apart)")


def _print_worst(console: Any, res: Any, args: argparse.Namespace, ckpt: Path) -> None:
    from engine.eval.gallery import contact_sheet, worst_sheet_path
    from engine.infer.outputs import made_folder
    from engine.infer.render import save_png

    worst = res.worst
    tta = ", TTA hflip" if res.tta else ""  # as the sheet's title says it: the Dice above are with it
    console.print(f"worst {len(worst)} of {res.n_images} by Dice at {res.label('photo')}{tta}:")
    for i, s in enumerate(worst, 1):
        o = s.record.overlap("photo", res.ignore_border)
        console.print(f"  {i:3d}. {s.record.name:28s} Dice {o.dice:.4f}  IoU {o.iou:.4f}")
    if not worst:
        return
    out = args.worst_out  # chosen and checked by cmd_eval (engine.infer.outputs.check_output)
    sheet = contact_sheet(worst, res)
    with made_folder(out.parent):  # the run's eval/, made only now: a failed evaluation leaves none
        save_png(sheet, out)
    own = worst_sheet_path(ckpt, args.split)
    # named after the data (`worst_sheet_path`): the line says why it is not the run's usual sheet
    kept = f"; data other than the run's, so not {own.name}" if out.parent == own.parent and out != own else ""
    console.print(f"contact sheet: {out} ({sheet.size[0]}×{sheet.size[1]}{kept})")
