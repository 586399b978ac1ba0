"""``petseg delete``: remove run folders as the dashboard's D does: never a run that trains,
and only after a yes (asked on a terminal, ``--yes`` elsewhere)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli.common import EXIT_ERROR, EXIT_OK, add_runs_flag, error_prefix
from engine.cli.run_selection import add_selection_flags, select_runs
from engine.cli.terminal_queue import wait_written
from engine.config import default_runs_dir
from engine.errors import ConfigError, RunStoreError
from engine.words import counted


def add_parser(sub: Any) -> argparse.ArgumentParser:
    d = sub.add_parser("delete", help="delete run folders (asks first; never a run that trains)")
    add_selection_flags(d, "delete")
    add_runs_flag(d)
    d.add_argument("--yes", action="store_true", help="delete without asking (needed where there is no terminal to ask on)")
    return d


def cmd_delete(args: argparse.Namespace) -> int:
    from engine.runs import RunStore
    from engine.runs.delete import delete_run, folder_words, why_not_delete

    store = RunStore(args.runs or default_runs_dir())
    paths = select_runs(store, args.run, args.filter)
    refused = {p: why_not_delete(p) for p in paths}
    for path, why in refused.items():
        if why:
            # the line names the folder once ("RUNS/long: is running: ...", not "... long is running")
            why = why.removeprefix(f"{path} ").removeprefix(f"{path.name} ")
            print(f"{error_prefix()} {path}: {why}; not deleted", file=sys.stderr)
    doomed = [p for p, why in refused.items() if not why]
    if not doomed:
        return EXIT_ERROR
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError(f"delete asks before removing {counted(len(doomed), 'run folder')}; "
                              "give --yes where there is no terminal to answer on")
        print("\n".join(f"  {folder_words(p)}" for p in doomed))
        try:
            wait_written()  # the list above before the prompt (`engine.cli.terminal_queue`)
            answer = input(f"Delete these {len(doomed)} run folders? [y/N] " if len(doomed) > 1
                           else "Delete this run folder? [y/N] ")
        except EOFError:  # Ctrl-D: no answer, as N
            answer = ""
            print()  # the prompt's line ended
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return EXIT_OK if not any(refused.values()) else EXIT_ERROR
    failed = any(refused.values())
    for path in doomed:
        folder = folder_words(path)  # before the link goes
        try:
            delete_run(path)
        except RunStoreError as exc:
            print(f"{error_prefix()} {exc}", file=sys.stderr)
            failed = True
        else:
            print(f"deleted {folder}", flush=True)
    return EXIT_ERROR if failed else EXIT_OK

