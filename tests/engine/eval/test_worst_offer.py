"""`why_no_worst`: whether a run's own data has test photos for the worst-samples gallery, told
from a stat (the dashboard's `w` is offered only where it is "")."""

from __future__ import annotations

from pathlib import Path

from engine.eval.worst_offer import why_no_worst


def _data(root: Path, *lists: str) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for name in lists:
        (root / "annotations" / name).write_text("a 1 1 1\n")
    return root


def test_a_folder_without_a_test_list_has_no_worst_samples_and_says_what_does(tmp_path: Path) -> None:
    bare = _data(tmp_path / "bare")
    assert why_no_worst({"data_path": str(bare)}) == (
        f"its data {bare} has no annotations/test.txt, so no test photos to rank; "
        "petseg eval --split valid --worst N ranks the photos training held out")
    assert why_no_worst({"data_path": str(_data(tmp_path / "listed", "test.txt"))}) == ""
    # torchvision's layout: the folder named holds oxford-iiit-pet/, whose lists count
    _data(tmp_path / "tv" / "oxford-iiit-pet", "trainval.txt", "test.txt")
    assert why_no_worst({"data_path": str(tmp_path / "tv")}) == ""
    assert "is gone" in why_no_worst({"data_path": str(tmp_path / "moved")})


def test_the_default_and_generated_data_are_never_refused(tmp_path: Path) -> None:
    assert why_no_worst({}) == "" and why_no_worst({"data_path": None}) == ""
    assert why_no_worst({"data_path": "@generated"}) == ""
