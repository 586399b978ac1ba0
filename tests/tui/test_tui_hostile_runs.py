"""Run folders are untrusted input in the TUI too (issue 21, group 4): every hostile variant of
every run file (tests/hostile_runs.py) in one runs folder — the runs table lists them all next
to the good run and never hangs, the live view of each reads or says what is wrong, and the app
keeps running when one is opened."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
from tui_helpers import highlight, open_live, run_detail, wait_for

from petseg_tui.app import PetsegApp
from petseg_tui.live_follow import LiveFollower
from tests.hostile_runs import hostile_runs


@pytest.fixture(scope="module")
def hostile_root(finished_tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("tui-hostile")
    made = hostile_runs(finished_tiny_run, base / "runs", base / "outside")
    shutil.copytree(finished_tiny_run, base / "runs" / "good", symlinks=True)
    return base / "runs", made


def test_the_live_view_of_every_variant_reads_or_says_why(hostile_root) -> None:
    root, made = hostile_root

    def too_slow(_s, _f):
        raise AssertionError("a live view read still running after 10 s (a FIFO or /dev/zero?)")

    old = signal.signal(signal.SIGALRM, too_slow)
    try:
        for name in made:
            signal.setitimer(signal.ITIMER_REAL, 10)
            snap = LiveFollower(root / name).snapshot()
            signal.setitimer(signal.ITIMER_REAL, 0)
            assert snap is not None and (snap.state != "broken" or snap.message), name
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.slow
async def test_the_runs_table_lists_every_variant_and_opens_them(hostile_root) -> None:
    root, made = hostile_root
    app = PetsegApp(runs_dir=root)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded, what="first scan", timeout=120)
        rows = screen.table.rows_by_name
        assert set(rows) == set(made) | {"good"}
        assert rows["good"].state == "finished"
        for name, row in rows.items():
            assert row.state != "broken" or row.summary.message, name
        # a few of the nastiest, opened and left again: the app carries on
        for name in [n for n, (rel, how) in made.items() if how in ("fifo", "dev-zero", "traversal")][:6]:
            await highlight(pilot, screen.table, name)
            assert run_detail(screen).startswith(name)
            live = await open_live(pilot, root / name)
            await wait_for(pilot, lambda: live.snapshot is not None, what=f"{name} read")
            assert app.is_running
            app.go_home()
            await wait_for(pilot, lambda: app.screen is screen, what="home again")
