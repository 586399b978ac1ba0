"""Which runs a command that changes runs acts on (``petseg label``, ``petseg delete``): runs
named by name or folder, and those a ``--filter`` matches. No torch."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import given_text
from engine.errors import ConfigError
from engine.runs import RunStore


class _OneFilter(argparse.Action):
    """``--filter`` once: a second one replaced the first without a word, so ``petseg stop --filter
    a --filter b`` acted on b's runs only (and ``delete`` deleted another set than asked)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        if getattr(namespace, self.dest):
            raise argparse.ArgumentError(self, f"given twice ({getattr(namespace, self.dest)!r}, {values!r}): give "
                                               "one --filter with all its terms (a run must match every term), "
                                               "or name the runs")
        setattr(namespace, self.dest, values)


def add_selection_flags(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("run", nargs="*", metavar="RUN", type=given_text, help=f"run name or folder to {verb}; several may be given")
    p.add_argument("--filter", default="", metavar="TERMS", action=_OneFilter,
                   help=f"{verb} every run the TUI's / filter matches, archived ones included "
                        "(e.g. 'sweep:lr-width status:failed'); a term it cannot read refuses the command")


def select_runs(store: RunStore, names: list[str], filter_text: str) -> list[Path]:
    """The folders of the runs named and of those ``filter_text`` matches, each once, in that
    order. A filter term that cannot be read is refused, not left out as `petseg runs` leaves it:
    here it would widen what is changed or deleted. Nothing named and nothing matched is an error."""
    from engine.runs.labels import read_labels
    from engine.runs.query import filter_runs

    chosen = [named_run(store, name) for name in names]
    if filter_text:
        runs = store.list_runs()
        matched, query = filter_runs(runs, {r.name: read_labels(r.path) for r in runs}, filter_text)
        if query.hint:
            raise ConfigError(f"--filter: {query.hint}; nothing changed")
        if not query.terms:
            raise ConfigError("--filter: no term to match; give terms, e.g. 'status:failed'")
        if not matched and not chosen:
            # "matches no run" of a folder that does not exist read as a wrong filter (--runs forgotten)
            missing = "" if store.root.is_dir() else " (it does not exist: give --runs the folder the runs are in)"
            raise ConfigError(f"--filter {filter_text!r} matches no run in {store.root}{missing}")
        chosen += [r.path for r in matched]
    if not chosen:
        raise ConfigError("name the runs (RUN ...) or give --filter TERMS")
    unique: dict[Path, Path] = {}  # a run named twice (by name and by path, or through a link) is one
    for path in chosen:
        unique.setdefault(path.resolve(), path.absolute())
    return list(unique.values())


def named_run(store: RunStore, name: str) -> Path:
    """The run folder ``name`` names (a run of the runs folder, or a folder given as a path),
    refused (ConfigError) unless it is a petseg run: a folder elsewhere with a config.json of
    its own (a project, an app's settings) was deleted whole, or given a labels.json. A folder
    of the runs folder is a run as the dashboard lists it (`is_run_folder`: a torn run too);
    one elsewhere must hold a file only petseg writes (status.json, events.jsonl, writer.lock)."""
    from engine.infer.outputs import same_file
    from engine.runs.layout import EVENTS_FILE, LOCK_FILE, STATUS_FILE, is_run_folder

    path = store.resolve(name).absolute()  # a symlinked run stays the runs folder's (its delete removes the link too)
    if is_run_folder(path) and (same_file(path.parent, store.root)
                                or any((path / f).exists() for f in (STATUS_FILE, EVENTS_FILE, LOCK_FILE))):
        return path
    raise ConfigError(f"{path}: not a petseg run folder (no {STATUS_FILE}, {EVENTS_FILE} or {LOCK_FILE} in it); "
                      "nothing changed")
