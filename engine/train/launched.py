"""Finding the live ``petseg train`` processes of one run by their argv, as that process reads it.

The dashboard's R and a sweep write ``--runs`` absolute (`engine.train.launch.train_command`,
`resume_command`), but a resume typed by hand may not: ``cd /data && petseg train --runs runs
--resume r1`` names ``/data/runs/r1``, and so does ``--runs=runs``, or no ``--runs`` at all with
``$PETSEG_RUNS`` (else ``./runs``) in that process's environment. A relative folder is read
against that process's working directory, not the reader's. Only a process whose argv names the
run's own name is asked its working directory (and environment): a scan stays one argv read per
process. No torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.cli.common import flag_spellings
from engine.config import default_runs_dir
from engine.runs.store import named_run_folder

# each flag in the spellings `petseg train` takes (`engine.cli.common.add_flag`)
RUNS_FLAGS = flag_spellings("runs")
RUN_NAME_FLAGS = flag_spellings("run_name")
RESUME_FLAGS = flag_spellings("resume")


def flag_value(argv: Sequence[str], spellings: Sequence[str]) -> str | None:
    """What ``argv`` gives the flag spelt ``spellings`` (``--flag VALUE`` or ``--flag=VALUE``; the
    last one, as argparse keeps it); None when it is not given."""
    value = None
    for i, word in enumerate(argv):
        for flag in spellings:
            if word == flag and i + 1 < len(argv):
                value = argv[i + 1]
            elif word.startswith(f"{flag}="):
                value = word[len(flag) + 1:]
    return value


def train_processes(run_path: str | Path, flags: Sequence[str]) -> Iterator[int]:
    """The pids of the live ``petseg train`` processes whose ``flags`` (`RUN_NAME_FLAGS`: a new
    run, `RESUME_FLAGS`: a resume) name the run at ``run_path``, in its runs folder as that process
    finds it (see the module docstring)."""
    import psutil

    target = Path(run_path).resolve()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        argv = proc.info.get("cmdline") or []
        if "train" not in argv:
            continue
        named = flag_value(argv, flags)
        if not named or Path(named).name != target.name:  # the cheap test first: most processes end here
            continue
        try:
            if _run_folder(proc, argv, named) == target:
                yield int(proc.info["pid"])
        except (psutil.Error, OSError):  # gone meanwhile, or another user's: its cwd is not ours to read
            continue


def _run_folder(proc: Any, argv: Sequence[str], named: str) -> Path:
    """The run folder process ``proc`` (a psutil.Process) trains: ``named`` as that process's
    `engine.runs.RunStore.resolve` takes it (`named_run_folder`), in its working directory."""
    runs = flag_value(argv, RUNS_FLAGS)
    if runs is not None and Path(runs).is_absolute() and Path(named).parent == Path("."):
        return (Path(runs) / named).resolve()  # as R and a sweep write it: no question to the process
    if runs is None:
        runs = str(default_runs_dir(proc.environ()))  # as that process finds its runs folder
    return named_run_folder(runs, named, base=proc.cwd()).resolve()
