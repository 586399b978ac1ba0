"""The compare screen's table of the settings that differ: which settings count as differing,
each run's value told apart however long it is, written as it is, and what fits 80 columns."""

from __future__ import annotations

import json
from pathlib import Path

from tui_helpers import make_curve_run, wait_for
from tui_compare import MINI, SAMPLE, _compare_table

from petseg_tui.app import PetsegApp
from petseg_tui.screens.compare_table import CELL_WIDTH, distinct_cells


async def test_long_differing_paths_keep_their_ends_in_the_table(runs_dir: Path) -> None:
    make_curve_run(runs_dir, "on-mini", [0.9, 0.8], [0.4, 0.5], data_path=MINI)
    make_curve_run(runs_dir, "on-sample", [0.9, 0.7], [0.4, 0.6], data_path=SAMPLE)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / "on-mini", runs_dir / "on-sample"])
        mini, sample = (str(table.get_cell(run, "cfg:data_path")) for run in ("on-mini", "on-sample"))
        assert mini.endswith("oxford-pet-mini") and sample.endswith("oxford-pet-sample")
        assert mini.startswith("…") and len(sample) <= CELL_WIDTH


def test_a_value_that_fits_is_left_whole_and_the_rest_cut_where_runs_agree() -> None:
    assert distinct_cells([1e-3, 3e-4, None]) == ["0.001", "0.0003", "—"]
    assert distinct_cells([MINI, SAMPLE]) == ["…data/oxford-pet-mini", "…data/oxford-pet-sample"]
    # nothing shared to leave out: the middle goes, both ends stay
    long_name = "a" * 20 + "-middle-" + "z" * 20 + "-end1"
    cell, short = distinct_cells([long_name, "b"])
    assert len(cell) == CELL_WIDTH and cell.startswith("aaa") and cell.endswith("-end1") and short == "b"
    # a path beside a missing value keeps its end
    assert distinct_cells([MINI, None])[0].endswith("/oxford-pet-mini")


def test_values_that_differ_in_the_middle_keep_it_not_the_end_they_share() -> None:
    """Three runs' data descriptions, their folders in the middle, all read "Oxford-II…l, 198 test
    images" (the one column there because they differ): the end they share goes first."""
    described = [f"Oxford-IIIT Pet at {folder}: 298 trainval, 198 test images"
                 for folder in ("/tmp/pets-copy", MINI, SAMPLE)]
    cells = distinct_cells(described)
    assert len(set(cells)) == 3 and all(len(c) <= CELL_WIDTH for c in cells), cells
    for cell, end in zip(cells, ("pets-copy", "oxford-pet-mini", "oxford-pet-sample")):
        assert cell.endswith(f"{end}…"), cells


async def test_settings_with_brackets_are_shown_as_written_never_as_markup(runs_dir: Path) -> None:
    """A config.json value is text, not Rich markup: a data folder named ``pets[v2]`` read
    ``/data/pets`` in the compare table (the ``[v2]`` taken for a style) and ``[old]`` vanished
    from ``/data/[old]/pets``; a model written ``unet[/]`` stopped the app with a MarkupError in
    the runs table, the compare table and the form of N (copy this run)."""
    from tui_helpers import widget_text

    make_curve_run(runs_dir, "on-v2", [0.9, 0.8], [0.4, 0.5], data_path="/data/pets[v2]")
    make_curve_run(runs_dir, "on-old", [0.9, 0.7], [0.4, 0.6], data_path="/data/[old]/pets")
    config = json.loads((runs_dir / "on-old" / "config.json").read_text())
    config["model"] = "unet[/]"  # written by hand
    (runs_dir / "on-old" / "config.json").write_text(json.dumps(config))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="first scan")
        await wait_for(pilot, lambda: "unet[/]" in widget_text(app.screen.table), what="the model as written")
        table = await _compare_table(app, pilot, [runs_dir / "on-v2", runs_dir / "on-old"])
        await pilot.pause()
        shown = widget_text(table)
        assert "/data/pets[v2]" in shown and "/data/[old]/pets" in shown and "unet[/]" in shown
        app.go_home()
        app.action_new_run(copy_of=runs_dir / "on-old")  # N: the copied model is offered as written
        await wait_for(pilot, lambda: type(app.screen).__name__ == "NewRunScreen", what="the copy's form")
        await wait_for(pilot, lambda: any("unet[/]" in widget_text(w) for w in app.screen.query("#f-model Static")),
                       what="its model")
        assert app.is_running


async def test_a_long_run_name_leaves_the_figures_on_screen_at_80_columns(runs_dir: Path) -> None:
    """The compare table cuts a long run name in the middle (as the runs table does; the legend
    above has it whole): a 72-character name pushed Status and the Dice columns past the right
    edge of an 80-column terminal."""
    from tui_helpers import widget_text

    long_name = "a-very-long-run-name-that-goes-on-and-on-for-testing-the-middle-cut-0001"
    make_curve_run(runs_dir, long_name, [0.9, 0.8], [0.4, 0.5])
    make_curve_run(runs_dir, "short", [0.9, 0.7], [0.4, 0.6], learning_rate=3e-4)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_compare([runs_dir / long_name, runs_dir / "short"])
        await wait_for(pilot, lambda: len(getattr(app.screen, "snapshots", [])) == 2, what="compare data")
        table = app.screen.query_one("#compare-table")
        await wait_for(pilot, lambda: table.row_count == 2, what="the compare table")
        await pilot.pause()
        rows = [line for line in widget_text(table).splitlines() if "finished" in line]
        assert len(rows) == 2 and all("0.5000 @2" in row or "0.6000 @2" in row for row in rows), rows
        assert "…" in rows[0] and rows[0].split("…")[1].split()[0].endswith("cut-0001")


def test_how_amp_auto_was_measured_is_not_a_setting_that_differs() -> None:
    """Two runs whose `--amp auto` probes were timed apart: the table listed amp_probe.cached,
    .measured, .bf16_ms ... as settings that differ (seen comparing three real runs: an
    'amp_probe.cached  True/False' column); what the probe chose, amp_resolved, stays."""
    from petseg_tui.screens.compare_table import differing_keys

    def config(lr: float, cached: bool, measured: float, resolved: str) -> dict:
        return {"learning_rate": lr, "amp": "auto", "amp_resolved": resolved,
                "amp_probe": {"cached": cached, "measured": measured, "bf16_ms": measured / 1e7, "choice": "bf16"}}

    assert differing_keys([config(1e-3, False, 1.79e9, "bfloat16"), config(3e-4, True, 1.80e9, "bfloat16")]) == [
        "learning_rate"]
    assert differing_keys([config(1e-3, True, 1.79e9, "bfloat16"), config(1e-3, True, 1.80e9, "float32")]) == [
        "amp_resolved"]


def test_what_a_time_budget_run_reached_is_not_a_setting_that_differs() -> None:
    """Comparing two trials of a ``--time_budget 10s`` sweep: beside learning_rate the table had
    "time_budget_result.epochs_reached" and "time_budget_result.trained_seconds" columns (what each
    run reached, which differs between any two runs), pushing the rest past the edge."""
    from petseg_tui.screens.compare_table import differing_keys

    def config(lr: float, reached: int, trained: float) -> dict:
        return {"learning_rate": lr, "epochs": None, "time_budget": "10s",
                "time_budget_result": {"budget_seconds": 10.0, "epochs_reached": reached, "trained_seconds": trained}}

    assert differing_keys([config(3.2e-4, 7, 10.5), config(3.6e-4, 6, 10.4)]) == ["learning_rate"]


async def test_a_runs_epoch_budget_changes_read_as_words_not_python(runs_dir: Path) -> None:
    """A run resumed with more epochs records its budget changes (a list of dicts) in config.json:
    the compare table showed them as "[{'after_epoch': 2, 'from': 2, …sine', 'to': 4}]"."""
    make_curve_run(runs_dir, "longer", [0.9, 0.8], [0.4, 0.5])
    make_curve_run(runs_dir, "plain", [0.9, 0.7], [0.4, 0.6])
    config = json.loads((runs_dir / "longer" / "config.json").read_text())
    config["budget_changes"] = [{"after_epoch": 2, "from": 2, "to": 4, "scheduler": "cosine", "next_lr": 5e-4}]
    (runs_dir / "longer" / "config.json").write_text(json.dumps(config))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / "longer", runs_dir / "plain"])
        longer, plain = (str(table.get_cell(run, "cfg:budget_changes")) for run in ("longer", "plain"))
        assert longer == "2→4 epochs after 2"
        assert plain == "—"


async def test_a_data_parallel_runs_batch_reads_per_process(runs_dir: Path) -> None:
    """--batch_size is per process: a 2-process run of batch 16 and a one-process run of batch 32
    read "16" and "32" in the compare table, as if the first trained on the smaller batch, where
    the live screen says "bs 16/process" (its global batch is 32)."""
    make_curve_run(runs_dir, "ddp", [0.9, 0.8], [0.4, 0.5], batch_size=16)
    make_curve_run(runs_dir, "one", [0.9, 0.7], [0.4, 0.6], batch_size=32)
    config = json.loads((runs_dir / "ddp" / "config.json").read_text())
    config.update(devices="2", distributed={"world_size": 2, "backend": "gloo", "global_batch_size": 32})
    (runs_dir / "ddp" / "config.json").write_text(json.dumps(config))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / "ddp", runs_dir / "one"])
        assert [str(table.get_cell(run, "cfg:batch_size")) for run in ("ddp", "one")] == ["16/process", "32"]


async def test_a_sweeps_trials_show_each_searched_setting_once(runs_dir: Path) -> None:
    """c on the sweep screen: the table listed learning_rate and width, then again as
    sweep.params.learning_rate and sweep.params.width (the same values): three columns of a
    160-column terminal that said nothing new (at 80 they pushed the rest off the screen)."""
    from tui_helpers import widget_text

    for trial, (lr, width) in enumerate([(0.00321, 4), (0.00409, 4), (0.00458, 8)]):
        make_curve_run(runs_dir, f"s1-t00{trial}", [0.9, 0.8], [0.4, 0.5 + trial / 100], learning_rate=lr, width=width)
        config = json.loads((runs_dir / f"s1-t00{trial}" / "config.json").read_text())
        config["sweep"] = {"name": "s1", "trial": trial, "params": {"learning_rate": lr, "width": width}}
        (runs_dir / f"s1-t00{trial}" / "config.json").write_text(json.dumps(config))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / f"s1-t00{t}" for t in range(3)])
        await pilot.pause()
        shown = widget_text(table)
        assert "learning_rate" in shown and "sweep.params" not in shown
        header = shown.splitlines()[0].split()
        assert header[-3:] == ["learning_rate", "width", "sweep.trial"], header


async def test_at_80_columns_the_settings_that_differ_are_on_screen(runs_dir: Path) -> None:
    """Three runs named as petseg names them, differing in learning rate and width: at 80x24 the
    table showed Run, Status and the two Dice columns, learning_rate cut to "learning_ra" and
    width past the right edge (found only by scrolling sideways). Narrow, the names are cut to
    what tells them apart (the legend above has them whole), the figures headed "best"/"last"
    (the metric is in the title) and the settings by their filter names (lr)."""
    from tui_helpers import widget_text

    runs = {"unet-20261206-191801": (1e-3, 8), "unet-20261206-191815": (3e-4, 8), "unet-20261206-191842": (1e-3, 16)}
    for name, (lr, width) in runs.items():
        make_curve_run(runs_dir, name, [0.9, 0.8], [0.4, 0.5 + width / 100], learning_rate=lr, width=width)
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / name for name in runs])
        await pilot.pause()
        shown = widget_text(table).splitlines()
        assert shown[0].split() == ["Run", "Status", "best", "last", "lr", "width"], shown[0]
        for name, (lr, width) in runs.items():
            row = next(line for line in shown if name[-6:] in line)
            assert row.split()[-2:] == [f"{lr:.3g}", str(width)], row
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:  # wide: the full names and headers
        table = await _compare_table(app, pilot, [runs_dir / name for name in runs])
        await pilot.pause()
        shown = widget_text(table)
        assert "best valid Dice" in shown and "learning_rate" in shown and all(name in shown for name in runs)


async def test_a_data_parallel_run_beside_a_plain_one_shows_every_differing_setting_whole_at_80_columns(
        runs_dir: Path) -> None:
    """``petseg train --device cpu --devices 2`` beside a plain run, compared at 80x24: the table
    ran past the right edge, its last column's header cut to "device" beside the real "device"
    column, and seven ``distributed.*`` columns (the seeds of each rank, the backend, the batch per
    process: each follows from a setting shown already) pushed the rest off screen."""
    from tui_helpers import widget_text

    make_curve_run(runs_dir, "plain", [0.9, 0.8], [0.4, 0.5])
    make_curve_run(runs_dir, "two-proc", [0.9, 0.7], [0.4, 0.6], device="cpu", devices="2")
    config_file = runs_dir / "two-proc" / "config.json"
    config = json.loads(config_file.read_text())
    config["distributed"] = {"world_size": 2, "backend": "gloo", "batch_per_process": 8, "global_batch": 16,
                             "sync_bn": False, "threads_per_process": 1, "augment_seeds": [42, 1000045]}
    config_file.write_text(json.dumps(config))
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / "plain", runs_dir / "two-proc"])
        await pilot.pause()
        header = widget_text(table).splitlines()[0].split()
        assert header[-2:] == ["device", "devices"], header  # each whole, the last one not cut
        assert len(set(header)) == len(header)
        row = widget_text(table).splitlines()[2].split()
        assert row[-2:] == ["cpu", "2"], row


async def test_a_run_with_a_broken_config_adds_no_columns_nor_a_mask_rule_note(runs_dir: Path) -> None:
    """Two runs that differ in their learning rate, and a third whose config.json is not JSON:
    every setting of the first two had a column (time_budget: "—" in all three rows) and the
    title said "mask rules differ", as if the broken run had another rule."""
    from tui_helpers import widget_text

    make_curve_run(runs_dir, "slow", [0.9, 0.8], [0.4, 0.5], learning_rate=1e-4)
    make_curve_run(runs_dir, "fast", [0.9, 0.7], [0.4, 0.6], learning_rate=1e-3)
    make_curve_run(runs_dir, "bad", [0.9, 0.7], [0.4, 0.6])
    (runs_dir / "bad" / "config.json").write_text("{not json")
    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _compare_table(app, pilot, [runs_dir / n for n in ("slow", "fast", "bad")])
        assert [c.key.value for c in table.columns.values()][4:] == ["cfg:learning_rate"]
        assert "mask rules" not in app.screen.sub_title
        assert "broken" in widget_text(table)
