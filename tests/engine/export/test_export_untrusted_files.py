"""An export over a run's export/ folder as a hostile run folder may hold it: a FIFO or a symlink
out of the run where model.onnx is, and a hand-edited export.json naming a file outside export/.
Nothing blocks (the dashboard's E asked "Replace?" only after reading the file there), nothing
outside the run is read, and each is said in the export's own words."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine.export.report import digest, file_note
from engine.export.run_export import NotAnExportRefused, check_before_export
from engine.runs.layout import EXPORT_DIR, export_path
from tests.hostile_runs import within


@pytest.fixture
def run_copy(tmp_path: Path, finished_tiny_run: Path) -> Path:
    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run)
    (run / EXPORT_DIR).mkdir()
    return run


def test_a_fifo_where_the_model_goes_is_asked_about_not_waited_on(run_copy: Path) -> None:
    """The dashboard's E (and petseg export) read the ONNX file already there to tell whether it was
    petseg's: a FIFO in its place hung the check for good, and "Exporting…" never came."""
    os.mkfifo(export_path(run_copy, "onnx"))
    with pytest.raises(NotAnExportRefused) as refused:
        within(5, check_before_export, run_copy)
    assert refused.value.why == "was not written by petseg export"


def test_a_model_that_leads_out_of_the_run_is_not_read(run_copy: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.onnx"
    elsewhere.write_bytes(b"\x08 not read")
    export_path(run_copy, "onnx").symlink_to(elsewhere)
    with pytest.raises(NotAnExportRefused) as refused:
        check_before_export(run_copy)
    assert str(refused.value).startswith(f"{export_path(run_copy, 'onnx')}: already exists and is a symbolic link "
                                         "out of its folder")


@pytest.mark.parametrize("how", ["dotdot", "link"])
def test_a_report_never_vouches_for_a_file_outside_its_folder(tmp_path: Path, how: str) -> None:
    """The runs table checks every run's export with `file_note`: an export.json naming
    "../secret" (or a model.onnx that is a symlink out of the run) had the file outside hashed,
    and it was called the export, still as written, when its bytes matched."""
    folder = tmp_path / "run" / EXPORT_DIR
    folder.mkdir(parents=True)
    secret = tmp_path / "run" / "secret" if how == "dotdot" else tmp_path / "secret"
    secret.write_bytes(b"exported")
    name = "../secret" if how == "dotdot" else "model.onnx"
    if how == "link":
        (folder / name).symlink_to(secret)
    entry = {"file": name, "accepted": True, "written": True, "bytes": 8, "sha256": digest(b"exported")}
    assert "has been replaced since this export" in file_note(folder, entry)
