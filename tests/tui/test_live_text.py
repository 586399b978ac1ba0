"""The live screen's words: its title (the run's name, state and processes), the settings pane
(data, lr, the recipe row, wrapped between parts at 80 columns) and its notes, legible in the
light themes."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import (
    T0,
    epoch_event,
    make_run,
    open_live,
    wait_for,
    widget_text,
)

from engine.config import TrainConfig
from engine.events import EpochStarted
from engine.runs import RunStore
from petseg_tui.app import PetsegApp
from petseg_tui.screens.confirm import ConfirmScreen
from petseg_tui.screens.live_run import LiveRunScreen


async def test_a_data_line_that_arrives_long_wraps_in_full(runs_dir: Path) -> None:
    """The run's data description comes with its first event, after the screen drew the config's
    one-line data path: at 160 columns it takes two lines, and both show (it was cut after one)."""
    from engine.events import RunStarted

    data = ("Oxford-IIIT Pet at /work/shared/data/oxford-pet-mini: 6 trainval, 0 test images "
            "(no annotations/trainval.txt: using every image that has a trimap)")
    writer = RunStore(runs_dir).create(TrainConfig(epochs=2, data_path="/work/shared/data/oxford-pet-mini").to_dict(),
                                       "late-data")
    writer.set_status("running")
    app = PetsegApp(runs_dir=runs_dir)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            live = await open_live(pilot, runs_dir / "late-data")
            info = live.query_one("#live-info")
            await wait_for(pilot, lambda: "oxford-pet-mini" in widget_text(info), what="the data path drawn")
            writer.append(RunStarted(run="late-data", total_epochs=2, start_epoch=1, train_size=5, valid_size=1,
                                     device="cpu", data=data))
            await wait_for(pilot, lambda: live.snapshot.data == data, what="the data description read")
            await pilot.pause()
            assert " ".join(widget_text(info).split()).endswith("using every image that has a trimap)")
    finally:
        writer.close()


async def test_the_title_bar_names_a_run_folder_with_brackets_as_it_is(tmp_path: Path) -> None:
    """A run folder copied by hand (``alpha [copy]``): the run screen's title bar read
    "petseg — alpha", the ``[copy]`` taken for Rich markup (seen in tmux at 80x24)."""
    from petseg_tui.widgets.header import PetsegHeader

    import shutil

    runs = tmp_path / "runs"
    make_run(runs, "alpha")
    shutil.move(runs / "alpha", runs / "alpha [copy]")  # cp -r alpha "alpha [copy]", then the first one went
    app = PetsegApp(runs_dir=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the run screen")
        await pilot.pause()
        assert widget_text(app.screen.query_one(PetsegHeader)).strip().endswith("alpha [copy]")


async def test_a_drawn_learning_rate_reads_as_the_lr_figure_not_a_long_float(runs_dir: Path) -> None:
    """A sweep trial's lr is drawn (0.004092421950921368): the settings line showed the float's
    repr and wrapped at 80x24; it reads 0.00409, as the compare table and the sweep screen write it."""
    make_run(runs_dir, "s1-t000", epochs_done=2, total=3, learning_rate=0.004092421950921368)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "s1-t000")
        info = live.query_one("#live-info")
        await wait_for(pilot, lambda: "lr " in widget_text(info), what="the settings drawn")
        first_line = widget_text(info).splitlines()[0]
        assert first_line.rstrip().endswith("lr 0.00409")
        assert "0.00409242" not in widget_text(info)


def test_the_data_of_a_run_not_yet_described_is_named_as_the_new_run_form_names_it(tmp_path: Path) -> None:
    """While a run from the form's defaults decoded its data (and for a launch that failed before
    writing config.json) the info pane read "data auto", a word neither the form ("bundled real
    sample") nor petseg train --help uses for it."""
    from petseg_tui.screens.live_text import info_rows
    from petseg_tui.live_follow import LiveSnapshot

    def data(config: dict) -> str:
        return dict(info_rows(LiveSnapshot(name="r", path=tmp_path, state="running", config=config)))["data"]

    assert data({"model": "unet", "data_path": None}) == "bundled real sample"
    assert data({"model": "unet", "data_path": "/data/pets"}) == "/data/pets"
    assert data({}) == "—"


def test_the_settings_say_an_encoders_weights_and_a_mask_rule_other_than_the_default(tmp_path: Path) -> None:
    """The info pane read "model resnet34_unet · bs 16 · img 64 · lr 0.001" alone: it hid whether
    the encoder started from ImageNet and whether the run scored with pet_only (its Dice means
    something else). Both show where they matter, in one row that fits 80 columns' pane."""
    from petseg_tui.live_follow import LiveSnapshot
    from petseg_tui.screens.live_text import info_rows

    def rows(**config: object) -> dict[str, str]:
        base = {"model": "unet", "batch_size": 16, "image_size": 64, "learning_rate": 1e-3}
        return dict(info_rows(LiveSnapshot(name="r", path=tmp_path, state="running", config={**base, **config})))

    assert "recipe" not in rows(mask_rule="pet_border")  # the default UNet run: nothing more to say
    assert rows(mask_rule="pet_only")["recipe"] == "mask pet_only: border is background"
    assert rows(model="resnet34_unet", pretrained="imagenet")["recipe"] == "ImageNet encoder"
    assert rows(model="resnet34_unet", pretrained=None)["recipe"] == "random encoder"
    assert rows(model="resnet18_unet", pretrained="/w/r18.pth", mask_rule="pet_only")["recipe"] == (
        "encoder r18.pth · mask pet_only")
    assert "recipe" not in rows(model="unet", pretrained="imagenet")  # the UNet ignores it


async def test_the_recipe_row_fits_the_run_screen_at_80_columns(runs_dir: Path) -> None:
    """The encoder's weights and the mask rule are on the run screen, each on the one recipe line."""
    make_run(runs_dir, "enc", epochs_done=2, total=3, model="resnet34_unet", pretrained="imagenet",
             mask_rule="pet_only")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "enc")
        info = live.query_one("#live-info")
        await wait_for(pilot, lambda: "recipe" in widget_text(info), what="the settings drawn")
        line = next(x for x in widget_text(info).splitlines() if x.startswith("recipe"))
        assert line.split(None, 1)[1].rstrip() == "ImageNet encoder · mask pet_only"


async def test_a_settings_row_too_long_for_80_columns_wraps_between_its_parts(runs_dir: Path) -> None:
    """At 80x24 the model row wrapped at any space: "model resnet18_unet · bs 8 · img 64 · lr" over
    "0.001", the figure apart from its name and under the labels. It wraps between its " · "
    parts, under the values; widened, it is one line again."""
    make_run(runs_dir, "enc", epochs_done=2, total=3, model="resnet18_unet", batch_size=8, image_size=64,
             data_path="/work/shared/data/oxford-pet-sample")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, runs_dir / "enc")
        info = live.query_one("#live-info")
        await wait_for(pilot, lambda: "lr 0.001" in widget_text(info), what="the model row whole")
        rows = widget_text(info).splitlines()
        model = next(i for i, row in enumerate(rows) if row.startswith("model"))
        assert rows[model].split(None, 1)[1].rstrip() == "resnet18_unet · bs 8 · img 64", rows
        assert rows[model + 1].rstrip() == " " * 7 + "lr 0.001", rows  # under the values
        await pilot.resize_terminal(120, 30)
        await wait_for(pilot, lambda: "img 64 · lr 0.001" in widget_text(info), what="one line again")


def test_a_data_parallel_runs_model_row_says_its_processes_and_the_per_process_batch(tmp_path: Path) -> None:
    """Issue 18's "the live screen shows it (e.g. `unet x4`)": the settings pane's model row of a
    run on 4 processes reads "unet x4 · bs 16/process" (--batch_size is per process); a
    one-process run's, "unet · bs 16"."""
    from petseg_tui.live_follow import LiveSnapshot
    from petseg_tui.screens.live_text import info_rows

    cfg = {"model": "unet", "batch_size": 16, "image_size": 256, "learning_rate": 1e-3}
    dist = {**cfg, "distributed": {"world_size": 4, "batch_per_process": 16, "global_batch": 64}}
    four = dict(info_rows(LiveSnapshot(name="r", path=tmp_path, state="running", config=dist)))
    assert four["model"] == "unet x4 · bs 16/process · img 256 · lr 0.001"
    one = dict(info_rows(LiveSnapshot(name="r", path=tmp_path, state="running", config=cfg)))
    assert one["model"] == "unet · bs 16 · img 256 · lr 0.001"


def test_the_run_screens_lr_is_named_apart_from_the_runs_tables_configured_one(tmp_path: Path) -> None:
    """"LR" meant two things: the runs table's configured 1.00e-03 and the run screen's 7.09e-07,
    the cosine's rate at the last epoch. The run screen says "LR now" (a run that trains) or
    "LR last" (one that is over) for the scheduled rate, "LR peak" before an epoch has one, as
    the runs table's column is headed."""
    import dataclasses

    from petseg_tui.live_follow import LiveSnapshot
    from petseg_tui.screens.live_text import stats_rows
    from petseg_tui.widgets.runs_table import COLUMN_LABELS

    cfg = {"learning_rate": 1e-3}
    ended = dataclasses.replace(epoch_event(30, 30, 1_767_000_000.0), lr=7.09e-7)
    over = dict(stats_rows(LiveSnapshot(name="r", path=tmp_path, state="finished", config=cfg, epochs=(ended,))))
    assert over["LR last"] == "7.09e-07" and "LR" not in over
    going = dict(stats_rows(LiveSnapshot(name="r", path=tmp_path, state="running", config=cfg, epochs=(ended,))))
    assert going.get("LR now") == "7.09e-07", going
    fresh = dict(stats_rows(LiveSnapshot(name="r", path=tmp_path, state="running", config=cfg)))
    assert fresh["LR peak"] == "1.00e-03" and COLUMN_LABELS["lr"] == "LR peak"


async def test_an_interrupted_runs_state_is_legible_in_a_light_theme(runs_dir: Path) -> None:
    """The title's "interrupted" and the note "No heartbeat: the training process is gone." were in
    an orange for a dark background: 1.6-1.8:1 on textual-light's grey, and a theme chosen from the
    palette did not redraw them."""
    from tui_helpers import LIGHT_THEMES, contrast_of, make_interrupted_run, settled

    make_interrupted_run(runs_dir, "stale")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        live = await open_live(pilot, runs_dir / "stale")
        await wait_for(pilot, lambda: "No heartbeat" in widget_text(live.query_one("#live-messages")),
                       what="the gone process's note")
        for theme in LIGHT_THEMES:
            app.theme = theme  # as the command palette's Theme switches it
            await settled(pilot)
            shown = {"interrupted": round(contrast_of(live.query_one("#live-title"), "interrupted"), 2),
                     "note": round(contrast_of(live.query_one("#live-messages"), "No heartbeat"), 2)}
            assert min(shown.values()) >= 3.0, (theme, shown)


async def test_the_runs_warnings_are_legible_in_a_light_theme(runs_dir: Path) -> None:
    """The live screen's yellow notes (a run's warnings, "Paused — press p", the control note, the
    unreadable lines) read at about 2.1:1 on textual-light."""
    from tui_helpers import T0, light_theme_contrasts

    from engine.events import RunWarning

    w = make_run(runs_dir, "warned", close=False)
    w.append(RunWarning(message="valid split is tiny", t=T0 + 50))
    w.close()
    with (runs_dir / "warned" / "events.jsonl").open("a") as f:
        f.write("{not json\n")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        live = await open_live(pilot, runs_dir / "warned")
        messages = live.query_one("#live-messages")
        await wait_for(pilot, lambda: "unreadable line" in widget_text(messages), what="the warnings")
        shown = await light_theme_contrasts(pilot, messages, ("valid split is tiny", "unreadable line"))
        assert min(c for theme in shown.values() for c in theme.values()) >= 3.0, shown


async def test_a_data_parallel_run_says_its_pid_is_rank_0s_of_its_processes(runs_dir: Path) -> None:
    """A `--devices 2` run resumed with R: the toast named the launcher's pid, the title "another
    process (pid M)" with rank 0's, as if two processes trained it apart. Title and the stop
    question say how many processes train it and whose pid that is."""
    import os

    dist = {"distributed": {"world_size": 2, "batch_per_process": 16, "global_batch": 32, "backend": "gloo"}}
    writer = make_run(runs_dir, "dp", epochs_done=2, total=5, state="running", close=False, record=dist)
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / "dp")
            title = live.query_one("#live-title")
            words = f"2 processes (rank 0: pid {os.getpid()})"
            await wait_for(pilot, lambda: widget_text(title).strip().endswith(words), what="the processes")
            await pilot.press("x")
            assert isinstance(app.screen, ConfirmScreen)
            assert f"It trains in {words}." in " ".join(widget_text(app.screen.query_one("#confirm-question")).split())
            await pilot.press("n")
    finally:
        writer.close()


async def test_a_long_run_name_leaves_its_state_and_process_whole_in_the_live_title_at_80_columns(
        runs_dir: Path) -> None:
    """The live screen's title is one line: a sweep trial's name (the header above says it whole)
    pushed "another process (pid N)" past the right edge at 80 columns."""
    import os

    name = "unet-lr1e-03-bs16-sweep-2026-12-04T2105-trial-005"
    writer = make_run(runs_dir, name, epochs_done=2, total=5, state="running", close=False)
    try:
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            live = await open_live(pilot, runs_dir / name)
            title = live.query_one("#live-title")
            await wait_for(pilot, lambda: "running" in widget_text(title), what="the state in the title")
            shown = widget_text(title).strip()
            assert shown.endswith(f"another process (pid {os.getpid()})"), shown
            assert shown.startswith("unet-lr1e-03") and "trial-005" in shown  # both ends of the name
            await pilot.resize_terminal(120, 30)  # room again: the name whole
            await wait_for(pilot, lambda: widget_text(title).strip().startswith(name + "  running"),
                           what="the whole name at 120 columns")
    finally:
        writer.close()


async def test_lr_now_is_the_rate_of_the_epoch_in_training(runs_dir: Path) -> None:
    """"LR now" showed the last finished epoch's rate, one schedule step behind: 1.00e-03 through
    the whole second epoch of a 2-epoch cosine run, which trains at 5.00e-04. It is the rate the
    run's epoch_started event records for the epoch it trains."""
    writer = make_run(runs_dir, "cos", epochs_done=1, total=2, state="running", close=False)
    try:
        writer.append(EpochStarted(epoch=2, total_epochs=2, batches=10, lr=5e-4, t=T0 + 31))
        app = PetsegApp(runs_dir=runs_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            live = await open_live(pilot, runs_dir / "cos")
            stats = live.query_one("#live-stats")
            await wait_for(pilot, lambda: "LR now" in widget_text(stats), what="the LR row")
            row = next(line for line in widget_text(stats).splitlines() if line.startswith("LR now"))
            assert row.split() == ["LR", "now", "5.00e-04"], row
    finally:
        writer.close()
