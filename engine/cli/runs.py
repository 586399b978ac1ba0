"""``petseg runs``: the runs folder as a table that fits the terminal, or as JSON."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from engine.cli.common import EXIT_OK, add_runs_flag
from engine.cli.common import console as new_console
from engine.config import default_runs_dir
from engine.durations import format_duration
from engine.words import format_rate
from engine.runs.sort import SORT_KEYS as RUNS_SORT_KEYS

CAPTIONS = {"dice": "dice: best valid Dice", "loss": "loss: last train loss", "img/s": "img/s: median",
            "time": "time: training time"}  # what a column's figure is, under the table


def add_parser(sub: Any) -> argparse.ArgumentParser:
    r = sub.add_parser("runs", help="list runs")
    add_runs_flag(r)
    r.add_argument("--sort", choices=RUNS_SORT_KEYS, default="started",
                   help="started (newest first, the default), name, status, dice (best first), epoch, duration")
    r.add_argument("--filter", default="", metavar="TERMS",
                   help="the TUI's / filter: name words, key<num, key>num, key=value, key:text "
                        "(e.g. 'lr<1e-3 dice>0.8 model:unet tag:best'); a term it cannot read is "
                        "left out with a warning")
    r.add_argument("--archived", action="store_true",
                   help="list the archived runs too (the dashboard's A hides a run; its h shows them), marked so")
    r.add_argument("--json", action="store_true", help="one JSON array of run summaries instead of a table")
    return r


def cmd_runs(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from rich import box
    from rich.table import Table
    from rich.text import Text

    from engine.runs import RunStore, sort_runs
    from engine.runs.labels import hidden_by_archive, read_labels
    from engine.runs.query import filter_runs
    from engine.runs.short_name import NAME_MIN, shorten
    from engine.runs.store import check_runs_root

    store = RunStore(args.runs or default_runs_dir())
    check_runs_root(store.root)
    runs = store.list_runs()
    labels = {r.name: read_labels(r.path) for r in runs}
    if args.filter:
        runs, query = filter_runs(runs, labels, args.filter)
        if query.hint:
            print(f"petseg: warning: --filter: {query.hint}", file=sys.stderr)
    # archived runs are left out as the dashboard leaves them out, and said so
    # (a run that trains stays listed whatever its mark: `hidden_by_archive`)
    shown = [r for r in runs if args.archived or not hidden_by_archive(labels[r.name], r.state.is_active)]
    hidden = len(runs) - len(shown)
    runs = sort_runs(shown, args.sort)
    if args.json:
        out = []
        for r in runs:
            d = dataclasses.asdict(r)
            d["path"] = str(r.path)
            # 0 is the summary's "no epoch total" (a --time_budget run without --epochs until it
            # ends): null, as its config.json's epochs, not a budget of 0 epochs a script divides by
            d["total_epochs"] = r.total_epochs or None
            d["resume"] = dataclasses.asdict(r.resume_offer())
            # the dashboard's T and A, all three: --filter tag:X matched runs whose tags the JSON left out
            d["archived"] = labels[r.name].archived
            d["tags"] = list(labels[r.name].tags)
            d["note"] = labels[r.name].note
            out.append(d)
        print(json.dumps(out, indent=2, default=str))
        return EXIT_OK
    console = new_console()
    left_out = (f"{hidden} archived run{'s' if hidden != 1 else ''} not listed (--archived lists them)"
                if hidden else "")
    if not runs:
        missing = "" if store.root.exists() else " (the folder does not exist)"
        console.print(f"no runs in {store.root}{missing}" + (f" matching {args.filter!r}" if args.filter else "")
                      + (f"; {left_out}" if left_out else ""), markup=False)
        return EXIT_OK
    rows = [{
        "name": r.name, "model": r.model_label or "-",
        "status": f"{r.state} (archived)" if labels[r.name].archived else str(r.state),
        "epoch": r.epoch_progress.count if r.epoch or r.total_epochs else "-",  # finished epochs, as the TUI counts
        "dice": f"{r.best_dice:.4f}" if r.best_dice is not None else "-",
        "loss": f"{r.last_train_loss:.4f}" if r.last_train_loss is not None else "-",
        "img/s": format_rate(r.images_per_s, missing="-"),  # as the dashboard's runs table writes it
        "started": time.strftime("%m-%d %H:%M", time.localtime(r.started)) if r.started else "-",
        "time": format_duration(r.duration, missing="-"),
    } for r in runs]
    # Names and figures are never wrapped or cut: on a narrow terminal whole columns go instead,
    # least useful first (an 80-column terminal keeps name, status, epoch, dice, loss, time).
    def build(cols: list[str]) -> Table:
        # the shown columns' meanings only: at 80 columns img/s went, yet the caption still named
        # it, and wrapped mid-word ("training t / ime")
        caption = " · ".join(text for col, text in CAPTIONS.items() if col in cols)
        table = Table(title=Text(f"runs in {store.root}"), box=box.SIMPLE_HEAD, padding=0, show_edge=False,
                      caption=caption)
        for col in cols:
            table.add_column(col, justify="right" if col in ("epoch", "dice", "loss", "img/s") else "left",
                             no_wrap=True)
        for row in rows:  # Text: a folder "alpha [copy]" or a model "unet[/]" as written, never Rich markup
            table.add_row(*(Text(str(row[c])) for c in cols))
        return table

    cols = ["name", "model", "status", "epoch", "dice", "loss", "img/s", "started", "time"]
    width = {c: max(len(c), *(len(row[c]) for row in rows)) for c in cols}

    def needed() -> int:
        return sum(width[c] for c in cols) + len(cols) - 1  # one space between columns

    for optional in ("started", "img/s", "model"):
        if needed() <= console.width:
            break
        cols.remove(optional)
    if needed() > console.width:
        if console.is_terminal:
            # a name too long even then is cut in the middle, as the dashboard cuts it (the
            # figures stay whole: Rich would have cut every column to "…"); --json has it whole
            room = max(NAME_MIN, console.width - (needed() - width["name"]))
            for row in rows:
                row["name"] = shorten(row["name"], room)
        else:  # a pipe or a file: whole lines, however long
            console.width = needed()
    table = build(cols)
    console.print(table)
    from engine.train.resume_budget import describe_budget_changes

    from engine.runs.labels import labels_problem

    for r in runs:
        if r.state.is_error and r.message:
            console.print(f"{r.name}: {r.state}: {r.message}", soft_wrap=True, markup=False)
        unread = labels_problem(r.path)
        if unread is not None:  # read as no labels: its tags, note and archived flag are not shown
            console.print(f"{r.name}: {unread}; its tags, note and archived flag are not read", soft_wrap=True,
                          markup=False)
        budget = describe_budget_changes(r.config)
        if budget:
            console.print(f"{r.name}: {budget}", soft_wrap=True, markup=False)
    if left_out:
        console.print(left_out, markup=False)
    return EXIT_OK
