"""``petseg label``: tag runs, give them a note, archive or unarchive them, as the dashboard's
T and A do (the same labels.json, merged with what another process changed since)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli.common import EXIT_ERROR, EXIT_OK, add_runs_flag, error_prefix
from engine.cli.run_selection import add_selection_flags, select_runs
from engine.config import default_runs_dir
from engine.errors import ConfigError, RunStoreError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    lab = sub.add_parser("label", help="tag runs, give them a note, archive or unarchive them (as the dashboard's T and A)")
    add_selection_flags(lab, "label")
    add_runs_flag(lab)
    lab.add_argument("--tag", action="append", default=[], metavar="TAGS",
                     help="add tags (comma or space separated; repeat the flag for more)")
    lab.add_argument("--untag", action="append", default=[], metavar="TAGS", help="remove tags")
    lab.add_argument("--note", default=None, metavar="TEXT", help="replace the note ('' clears it)")
    archive = lab.add_mutually_exclusive_group()
    archive.add_argument("--archive", action="store_true",
                         help="hide the runs from the dashboard and `petseg runs` (still on disk; never a run that trains)")
    archive.add_argument("--unarchive", action="store_true", help="list them again")
    return lab


def describe_labels(name: str, labels: Any, unarchive: bool | None = None) -> str:
    """One line: ``NAME: tags a, b · note "..." · archived`` (``NAME: no labels``).

    ``unarchive`` is whether ``--unarchive`` found the run archived (None: not asked); the line
    then says what it did, since a bare "no labels" read as if the unarchive had failed."""
    parts = []
    if labels.tags:
        parts.append("tags " + ", ".join(labels.tags))
    if labels.note:
        parts.append(f"note {labels.note!r}")
    if labels.archived:
        parts.append("archived")
    elif unarchive is not None:
        parts.append("unarchived" if unarchive else "was not archived")
    return f"{name}: " + (" · ".join(parts) if parts else "no labels")


def cmd_label(args: argparse.Namespace) -> int:
    from engine.runs import RunStore
    from engine.runs.labels import change_labels, parse_note, parse_tags, read_labels, why_not_archive

    store = RunStore(args.runs or default_runs_dir())
    paths = select_runs(store, args.run, args.filter)
    add = parse_tags(" ".join(args.tag))
    remove = set(parse_tags(" ".join(args.untag)))
    both = [tag for tag in add if tag in remove]
    if both:  # which one wins would be a guess
        raise ConfigError(f"--tag and --untag both name {', '.join(both)}; nothing changed")
    changes = bool(add or remove or args.note is not None or args.archive or args.unarchive)
    refused = False
    for path in paths:
        if args.archive and (why := why_not_archive(path)):  # it would vanish from the lists while it trains
            why = why.removeprefix(f"{path.name} ")  # the line names the folder once, as delete's
            print(f"{error_prefix()} {path}: {why}; its labels are not changed", file=sys.stderr, flush=True)
            refused = True
            continue
        before = read_labels(path)
        unarchived = before.archived if args.unarchive else None
        if changes:
            tags = tuple(t for t in before.tags if t not in remove)
            tags += tuple(t for t in add if t not in tags)
            after = before.with_(
                tags=parse_tags(" ".join(tags)),  # the dashboard's limits: MAX_TAGS, MAX_TAG_CHARS
                note=before.note if args.note is None else parse_note(args.note),
                archived=True if args.archive else False if args.unarchive else before.archived)
            try:
                before = change_labels(path, before, after)
            except RunStoreError as exc:  # its labels.json unreadable: the other runs are still labelled
                print(f"{error_prefix()} {exc}", file=sys.stderr, flush=True)
                refused = True
                continue
        print(describe_labels(path.name, before, unarchived), flush=True)
    return EXIT_ERROR if refused else EXIT_OK
