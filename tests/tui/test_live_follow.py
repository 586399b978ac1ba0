"""A live view of a run that is not there to follow: its folder deleted under it, or a launch
that ended before its run began (died, refused its config, never made its folder), said
with its reason; a refused launch's folder removed once its view is left."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import (
    footer_text,
    make_run,
    open_live,
    wait_for,
    widget_text,
    write_previews,
)
from textual.widgets import ProgressBar

from petseg_tui.app import PetsegApp


def test_a_run_deleted_under_its_live_view_says_its_folder_is_gone(runs_dir: Path) -> None:
    """Another dashboard's D (or an rm) while this one shows the run: the view says the folder is
    gone and keeps the curves it drew, instead of "broken: status.json: missing"."""
    from engine.runs import delete_run
    from petseg_tui.screens.live_text import messages_text
    from petseg_tui.live_follow import LiveFollower

    make_run(runs_dir, "gone", epochs_done=3, total=5, state="stopped")
    (runs_dir / "gone" / "checkpoints").mkdir(exist_ok=True)
    (runs_dir / "gone" / "checkpoints" / "last.pt").write_bytes(b"placeholder")  # what R resumes from
    follower = LiveFollower(runs_dir / "gone")
    first = follower.snapshot()
    assert first is not None and len(first.epochs) == 3 and first.resume.action == "resume"
    delete_run(runs_dir / "gone")
    snap = follower.snapshot()
    assert snap is not None
    shown = messages_text(snap, "", "", log_shown=False).plain
    assert f"{runs_dir / 'gone'}: the run folder is gone" in shown
    assert "status.json" not in shown
    assert len(snap.epochs) == 3  # the curves it had stay on screen
    assert snap.resume.action == "" and not snap.has_checkpoint and not snap.active  # no R, i, w, E, x, p
    assert follower.snapshot() is None  # nothing new to draw while it stays gone


def test_a_run_deleted_while_its_view_reads_it_is_gone_not_broken(runs_dir: Path, monkeypatch) -> None:
    """The delete lands between the view's look at the folder and its read of the files: that
    poll said "broken" (its files missing) for a moment before "folder gone"."""
    from engine.runs import RunFollower, delete_run
    from petseg_tui.live_follow import LiveFollower

    make_run(runs_dir, "gone", epochs_done=3, total=5, state="stopped")
    follower = LiveFollower(runs_dir / "gone")
    assert follower.snapshot() is not None
    poll = RunFollower.poll

    def deleted_first(self, *args, **kwargs):
        delete_run(runs_dir / "gone")
        return poll(self, *args, **kwargs)

    monkeypatch.setattr(RunFollower, "poll", deleted_first)
    snap = follower.snapshot()
    assert snap is not None and snap.gone and len(snap.epochs) == 3


async def test_a_run_deleted_under_its_screen_offers_no_key_that_shows_its_files(runs_dir: Path) -> None:
    """Its screen said "the run folder is gone", yet opened the log pane on "(no train.log in this
    run folder yet ...)" and offered L, v and [ ] for files that went with the folder."""
    from engine.runs import delete_run
    from petseg_tui.widgets.log_pane import LogPane
    from petseg_tui.widgets.previews import PreviewPanel

    make_run(runs_dir, "gone", epochs_done=3, total=5, state="failed")
    write_previews(runs_dir / "gone", 3)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        live = await open_live(pilot, runs_dir / "gone")
        await wait_for(pilot, lambda: "L Log" in footer_text(live) and "v Predictions" in footer_text(live),
                       what="L and v offered while the folder is there")
        delete_run(runs_dir / "gone")
        await wait_for(pilot, lambda: "the run folder is gone" in widget_text(live.query_one("#live-messages")),
                       what="the folder is gone, said")
        await wait_for(pilot, lambda: "Back" in footer_text(live), what="the footer drawn again")
        await pilot.pause()
        footer = footer_text(live)
        assert "Back" in footer and "L Log" not in footer and "Predictions" not in footer and "Epoch" not in footer
        assert "folder gone" in widget_text(live.query_one("#live-title"))  # not "broken", as if it were damaged
        await pilot.press("L")
        await pilot.pause()
        assert not live.query_one(LogPane).display  # nothing opened on a log that is not there
        assert "no train.log" not in widget_text(live.query_one(LogPane))
        for width in (80, 160):  # a resize brought the predictions of the gone folder back (the width's default)
            await pilot.resize_terminal(width, 40)
            await wait_for(pilot, lambda w=width: live.at_least("-wide") == (w >= 120), what=f"{width} columns")
            await pilot.pause()
        assert not live.query_one(PreviewPanel).display


async def test_a_launch_that_dies_before_its_run_starts_stops_offering_stop_and_pause(runs_dir: Path) -> None:
    """A detached launch that exits before the run starts (a full disk: not even its error line
    reached train.log) read "failed: the training process exited before the run started", yet
    the footer still offered x Stop and p Pause from while it was starting."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    (runs_dir / "dies").mkdir(parents=True)
    app = PetsegApp(runs_dir=runs_dir)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            app.open_run(runs_dir / "dies", pid=child.pid)
            await wait_for(pilot, lambda: type(app.screen).__name__ == "LiveRunScreen", what="live screen")
            live = app.screen
            await wait_for(pilot, lambda: "Stop" in footer_text(live), what="x while it starts")
            child.communicate(b"")  # the child exits and is reaped
            await wait_for(pilot, lambda: live.snapshot is not None and live.snapshot.state == "failed",
                           what="failed")
            await wait_for(pilot, lambda: "Stop" not in footer_text(live) and "Pause" not in footer_text(live),
                           what="x and p gone")
    finally:
        child.kill()
        child.wait()


def test_a_launch_that_died_silently_on_a_full_disk_says_the_disk_is_full(runs_dir: Path, monkeypatch) -> None:
    """On a full runs folder a detached child cannot even write its error to train.log: its run
    read only "exited before the run started", with an empty log to look at."""
    import shutil
    import subprocess
    import sys

    from petseg_tui.live_follow import LiveFollower

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    run = runs_dir / "silent"
    run.mkdir(parents=True)
    (run / "train.log").write_bytes(b"")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(8 << 20, 9 << 19, 7 << 19))
    snap = LiveFollower(run, pid=child.pid).snapshot()
    assert snap is not None and snap.state == "failed"
    assert snap.message == (f"the training process (pid {child.pid}) exited before the run started, leaving nothing "
                            f"in its train.log: the disk is full (3.5 MiB free under {runs_dir})")


def test_a_trial_that_never_made_its_run_folder_reads_failed_with_its_reason(tmp_path: Path) -> None:
    """A sweep trial whose launch failed before its folder was made (the study has the reason):
    its view said "Waiting for the run folder to appear (the trainer is importing torch)" for good."""
    from petseg_tui.screens.live_text import messages_text
    from petseg_tui.live_follow import LiveFollower

    snap = LiveFollower(tmp_path / "s-t000", unwritten_reason="cannot create the run folder").snapshot()
    assert snap is not None and snap.state == "failed"
    said = messages_text(snap, "", "", log_shown=True).plain
    assert "cannot create the run folder" in said and "Waiting" not in said


def test_a_launch_that_refused_its_config_says_why_in_the_message(runs_dir: Path) -> None:
    """A detached launch refused before its run started (offline --pretrained imagenet) read only
    "exited before the run started"; its one-line error sat in the log pane, cut at 80 columns."""
    from petseg_tui.live_follow import LiveFollower

    why = "--pretrained imagenet: could not fetch ImageNet weights (no internet?) — pass a local .pth path instead"
    pid = _refused_launch(runs_dir, why, before='Downloading: "https://example/r34.pth"')
    snap = LiveFollower(runs_dir / "refused", pid=pid).snapshot()
    assert snap is not None and snap.state == "failed"
    assert snap.message == f"the training process (pid {pid}) exited before the run started: {why}"


def _refused_launch(runs_dir: Path, said: str, before: str = "") -> int:
    """The folder of a detached launch refused before its run began (only train.log: ``before``,
    then ``petseg: error: said``) and the pid of its launch, which has ended."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    (runs_dir / "refused").mkdir(parents=True)
    (runs_dir / "refused" / "train.log").write_text((f"{before}\n" if before else "") + f"petseg: error: {said}\n")
    return child.pid


async def _open_refused_launch(app: PetsegApp, pilot, runs_dir: Path, pid: int):
    """Its live screen, once it reads the launch as failed."""
    app.open_run(runs_dir / "refused", pid=pid)
    await wait_for(pilot, lambda: type(app.screen).__name__ == "LiveRunScreen", what="live screen")
    live = app.screen
    await wait_for(pilot, lambda: live.snapshot is not None and live.snapshot.state == "failed", what="failed")
    return live


async def test_the_epoch_bar_of_a_launch_that_failed_before_its_run_started_stands_still(runs_dir: Path) -> None:
    """A detached launch refused before its first epoch (offline --pretrained imagenet) read
    "failed", yet its epoch bar kept pulsing at "--%" as if the run were getting ready."""
    pid = _refused_launch(runs_dir, "--pretrained imagenet: could not fetch")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await _open_refused_launch(app, pilot, runs_dir, pid)
        await pilot.pause()
        percent = live.query_one("#epoch-bar", ProgressBar).query_one("#percentage")
        await wait_for(pilot, lambda: widget_text(percent).strip() == "0%", what="the bar at 0%")


def test_a_refused_launchs_folder_is_removed_once_its_reason_is_read(runs_dir: Path) -> None:
    """A detached launch refused before its run started left runs/NAME/ holding only train.log:
    no listing shows such a folder, so they piled up unseen (and the name stayed taken). The view
    says why from that log; once it is left, the folder goes. A run's own folder stays."""
    from petseg_tui.live_follow import LiveFollower

    why = "--pretrained imagenet: could not fetch ImageNet weights (no internet?)"
    pid = _refused_launch(runs_dir, why)
    run = runs_dir / "refused"
    kept = runs_dir / "kept"  # a run of its own (config.json and more) is never taken for one
    kept.mkdir()
    (kept / "train.log").write_text("petseg: error: something\n")
    (kept / "config.json").write_text("{}")
    follower = LiveFollower(run, pid=pid)
    snap = follower.snapshot()
    assert snap is not None and snap.state == "failed" and snap.message.endswith(why)
    assert (run / "train.log").is_file()  # while the view shows it, its log is there to read (L)
    assert follower.tidy()
    assert not run.exists() and [p.name for p in runs_dir.iterdir()] == ["kept"]
    kept_follower = LiveFollower(kept, pid=pid)
    assert kept_follower.snapshot() is not None
    assert not kept_follower.tidy() and (kept / "config.json").exists()


async def test_leaving_a_refused_launchs_view_removes_its_folder(runs_dir: Path) -> None:
    """The same through the screen: the reason is said, and Esc leaves no folder behind."""
    pid = _refused_launch(runs_dir, "--cache_dir /etc/hostname: is a file")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await _open_refused_launch(app, pilot, runs_dir, pid)
        assert "is a file" in live.snapshot.message and (runs_dir / "refused").is_dir()
        await pilot.press("escape")
        await wait_for(pilot, lambda: not (runs_dir / "refused").exists(), what="the folder removed")
