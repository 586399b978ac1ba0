"""Per-test CPU seconds of a pytest run: a plugin, passed with ``-p bench.suite_cpu``.

Wall time (``--durations``) says little on a machine other processes share; this counts the
CPU a test's setup, call and teardown used, its own process's (``time.process_time``) plus that
of the child processes it waited for (``RUSAGE_CHILDREN``) and of the warm petseg children
(`tests.warm_petseg.uncounted_cpu`: the zygote's start and its children, which are not ours). Run it in one process::

    PYTHONPATH=$PWD python -m pytest -p no:cacheprovider -p bench.suite_cpu -n0 -q tests/tui

It prints the costliest tests and files at the end; ``SUITE_CPU_TOP`` (default 40) how many,
and ``SUITE_CPU_TSV`` a path to write every test's row to (file, test, setup, call, teardown).
Under xdist each worker writes its own ``SUITE_CPU_TSV.gwN`` (the summary needs ``-n0``), and
``python bench/suite_cpu.py TSV...`` prints the summary of such files.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections import defaultdict

import pytest

_rows: dict[str, dict[str, float]] = defaultdict(lambda: {"setup": 0.0, "call": 0.0, "teardown": 0.0})


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the warm petseg children (tests/warm_petseg.py) are the zygote's: it reports their CPU
    warm = sys.modules.get("tests.warm_petseg")
    return time.process_time() + children.ru_utime + children.ru_stime + (warm.uncounted_cpu() if warm else 0.0)


def _timed(phase: str):
    @pytest.hookimpl(hookwrapper=True)
    def hook(item: pytest.Item, *args: object, **kwargs: object):
        start = _cpu()
        yield
        _rows[item.nodeid][phase] += _cpu() - start

    return hook


pytest_runtest_setup = _timed("setup")
pytest_runtest_call = _timed("call")
pytest_runtest_teardown = _timed("teardown")


def _summary(rows: dict[str, dict[str, float]], write, top: int) -> None:
    total = sum(sum(r.values()) for r in rows.values())
    files: dict[str, float] = defaultdict(float)
    for nodeid, row in rows.items():
        files[nodeid.split("::")[0]] += sum(row.values())
    write(f"--- CPU seconds: {total:.1f} in {len(rows)} tests")
    for name, cpu in sorted(files.items(), key=lambda kv: -kv[1])[:top]:
        write(f"{cpu:8.2f}  {name}")
    write("--- costliest tests (setup / call / teardown)")
    for nodeid, row in sorted(rows.items(), key=lambda kv: -sum(kv[1].values()))[:top]:
        write(f"{sum(row.values()):7.2f} ({row['setup']:.2f}/{row['call']:.2f}/{row['teardown']:.2f})  {nodeid}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("SUITE_CPU_TSV")
    if not path or not _rows:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    with open(f"{path}.{worker}" if worker else path, "w") as out:
        for nodeid, row in _rows.items():
            file, _, test = nodeid.partition("::")
            out.write(f"{file}\t{test}\t{row['setup']:.3f}\t{row['call']:.3f}\t{row['teardown']:.3f}\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _rows:
        _summary(_rows, terminalreporter.write_line, int(os.environ.get("SUITE_CPU_TOP", "40")))


def main(paths: list[str]) -> None:
    rows: dict[str, dict[str, float]] = {}
    for path in paths:
        with open(path) as tsv:
            for line in tsv:
                file, test, setup, call, teardown = line.rstrip("\n").split("\t")
                rows[f"{file}::{test}"] = {"setup": float(setup), "call": float(call), "teardown": float(teardown)}
    _summary(rows, print, int(os.environ.get("SUITE_CPU_TOP", "40")))


if __name__ == "__main__":
    main(sys.argv[1:])
