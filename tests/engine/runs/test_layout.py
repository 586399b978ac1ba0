"""The run folder's file names come from engine.runs.layout: the paths other modules ask it for."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runs import ERROR_LOG, PREDICTIONS_DIR, PREVIEWS_DIR, prediction_path, run_worst_sheet


def test_prediction_and_worst_sheet_paths() -> None:
    run = Path("/runs/r")
    assert prediction_path(run, "cat_1", "overlay") == run / "predictions" / "cat_1_overlay.png"
    assert prediction_path(str(run), "cat_1", "mask") == run / "predictions" / "cat_1_mask.png"
    # a save at another threshold than 0.5 keeps the 0.5 pair: the threshold is in its name
    assert prediction_path(run, "cat_1", "mask", 0.5) == run / "predictions" / "cat_1_mask.png"
    assert prediction_path(run, "cat_1", "overlay", 0.6) == run / "predictions" / "cat_1_t0.60_overlay.png"
    assert prediction_path(run, "cat_1", "mask", 0.6, tta=True) == run / "predictions" / "cat_1_t0.60_tta_mask.png"
    assert prediction_path(run, "cat_1", "mask", 0.5, tta=True) == run / "predictions" / "cat_1_tta_mask.png"
    assert run_worst_sheet(run, "test") == run / "eval" / "worst-test.png"
    with pytest.raises(ValueError, match="prediction kind 'heatmap' is not one of overlay, mask"):
        prediction_path(run, "cat_1", "heatmap")


def test_names_a_user_finds_in_a_run_folder() -> None:
    assert (ERROR_LOG, PREVIEWS_DIR, PREDICTIONS_DIR) == ("error.log", "previews", "predictions")


def test_a_run_file_over_its_limit_is_refused_naming_the_limit(tmp_path: Path) -> None:
    """A small limit (writer.lock's 4096 bytes) read "larger than 0 MiB"."""
    from engine.errors import RunStoreError
    from engine.runs.layout import read_run_file

    (tmp_path / "writer.lock").write_bytes(b"x" * 5000)
    (tmp_path / "config.json").write_bytes(b" " * ((8 << 20) + 1))
    with pytest.raises(RunStoreError, match="writer.lock: larger than 4 KiB; not a file petseg writes"):
        read_run_file(tmp_path / "writer.lock", limit=4096)
    with pytest.raises(RunStoreError, match="config.json: larger than 8 MiB; not a file petseg writes"):
        read_run_file(tmp_path / "config.json")
