"""`engine.export.report`: an accepted entry's file is checked against what was written (`file_note`);
an entry in words (`summary`, `brief`)."""

from __future__ import annotations

from pathlib import Path

from engine.export.report import brief, digest, file_note, summary
from tests.hostile_runs import within


def _entry(data: bytes, **extra) -> dict:
    return {"file": "model.onnx", "accepted": True, "written": True, "bytes": len(data), "sha256": digest(data), **extra}


def test_the_file_as_written_says_nothing_and_a_refused_entry_claims_no_file(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"exported")
    assert file_note(tmp_path, _entry(b"exported")) == ""
    assert file_note(tmp_path, {"file": "other.onnx", "accepted": False, "written": False}) == ""


def test_a_file_deleted_or_replaced_since_is_said(tmp_path: Path) -> None:
    entry = _entry(b"exported")
    assert "no longer there" in file_note(tmp_path, entry)
    (tmp_path / "model.onnx").write_bytes(b"junk")  # another size
    assert "replaced since" in file_note(tmp_path, entry)
    (tmp_path / "model.onnx").write_bytes(b"EXPORTED")  # same size, other bytes
    assert "replaced since" in file_note(tmp_path, entry)


def test_an_entry_of_an_older_petseg_is_checked_by_size_only(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"EXPORTED")
    entry = {"file": "model.onnx", "accepted": True, "written": True, "bytes": 8}
    assert file_note(tmp_path, entry) == ""
    assert "replaced since" in file_note(tmp_path, dict(entry, bytes=9))


def test_a_file_untouched_since_it_was_written_is_not_read(tmp_path: Path, monkeypatch) -> None:
    # the run screen checks this on its UI thread: a 100 MB model.onnx must not be hashed each time
    import engine.export.report as report

    path = tmp_path / "model.onnx"
    path.write_bytes(b"exported")
    entry = _entry(b"exported", mtime_ns=path.stat().st_mtime_ns)
    monkeypatch.setattr(report, "_file_digest", lambda *a: (_ for _ in ()).throw(AssertionError("hashed")))
    assert file_note(tmp_path, entry) == ""


def test_two_exports_of_one_run_recorded_at_once_both_stay_in_the_report(tmp_path: Path, monkeypatch) -> None:
    """`petseg export --format onnx` in a shell and E (TorchScript) in the dashboard on one run,
    ending together: each read export.json, added its entry and wrote it back, so the one that
    wrote last dropped the other's entry (the run screen lost that export, and the next export
    to its file asked "Replace?" as if petseg had not written it)."""
    import threading

    from engine.export import report

    real_write = report.write_json_atomic
    other = threading.Thread(target=report.record,
                             args=(tmp_path / "model.torchscript.pt", {"file": "model.torchscript.pt"}))

    def write_while_the_other_records(path, data):  # the other export ends between this read and write
        if not other.is_alive() and other.ident is None:
            other.start()
            other.join(0.5)
        real_write(path, data)

    monkeypatch.setattr(report, "write_json_atomic", write_while_the_other_records)
    report.record(tmp_path / "model.onnx", {"file": "model.onnx"})
    other.join(10)
    assert sorted(report.read_report(tmp_path)) == ["model.onnx", "model.torchscript.pt"]


def test_an_entry_in_brief_is_its_summarys_beginning_with_its_lowest_agreement() -> None:
    """The runs screen's detail line says a run's export in the run screen's words, shorter: the
    file, written or refused, and the lowest agreement over its sizes (the figure the rule judges)."""
    sizes = [{"height": 256, "width": 256, "mask_agreement": 0.99995, "max_abs_diff": 3e-6,
              "dice_pytorch": 0.912, "dice_export": 0.912},
             {"height": 320, "width": 320, "mask_agreement": 0.99990, "max_abs_diff": 4e-6,
              "dice_pytorch": 0.910, "dice_export": 0.910}]
    entry = {"file": "model.onnx", "accepted": True, "parity": sizes}
    assert brief(entry) == "model.onnx written; agreement 0.99990"
    assert summary(entry).startswith("model.onnx written; 256x256: agreement 0.99995")
    refused = {"file": "model.onnx", "accepted": False, "parity": [dict(sizes[0], mask_agreement=0.9)]}
    assert brief(refused) == "model.onnx REFUSED (agreement below the rule); agreement 0.90000"
    assert brief({"file": "model.onnx", "accepted": True, "parity": [{"mask_agreement": "high"}]}) == "model.onnx written"


def test_an_entrys_summary_says_its_dice_are_on_the_bundled_photos() -> None:
    """A run's screen read "Dice PyTorch 0.806 export 0.806" beside the run's best Dice 0.8349, as
    if the export scored the run's own data: the parity check scores the sample bundled with
    petseg. Said once, at the first size (the next sizes check some of the same photos)."""
    sizes = [{"height": 256, "width": 256, "mask_agreement": 1.0, "max_abs_diff": 3e-6,
              "dice_pytorch": 0.806, "dice_export": 0.806},
             {"height": 288, "width": 224, "mask_agreement": 0.9999, "max_abs_diff": 4e-6,
              "dice_pytorch": 0.801, "dice_export": 0.802}]
    assert summary({"file": "model.onnx", "accepted": True, "parity": sizes}) == (
        "model.onnx written; 256x256: agreement 1.00000, |Δp| max 3.0e-06, Dice on bundled photos: "
        "PyTorch 0.806 export 0.806; 288x224: agreement 0.99990, |Δp| max 4.0e-06, Dice PyTorch 0.801 export 0.802")


def test_a_hand_edited_file_name_is_no_crash(tmp_path: Path) -> None:
    """The dashboard reads every run's export.json as it lists the runs: a file name with a NUL
    byte raised ValueError, where a name that is not there is said."""
    assert "no longer there" in file_note(tmp_path, {"file": "model\x00.onnx", "accepted": True, "bytes": 1})


def test_a_fifo_for_the_report_or_the_model_is_never_read(tmp_path: Path) -> None:
    """The dashboard reads every run's export/export.json as it lists the runs: a FIFO there
    (read with a plain read_text) kept the runs table at "scanning …" for ever. A report that is
    not a regular file reads as none; a FIFO where the model was is a replaced file, not hashed."""
    import os

    from engine.export.report import is_report, read_report

    os.mkfifo(tmp_path / "export.json")
    assert within(5, read_report, tmp_path) == {}
    assert within(5, is_report, tmp_path / "export.json") is False
    os.mkfifo(tmp_path / "model.onnx")
    entry = {"file": "model.onnx", "accepted": True, "written": True, "sha256": digest(b"exported")}  # no size
    assert "replaced since" in within(5, file_note, tmp_path, entry)
