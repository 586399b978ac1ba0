"""Whether a run's own data has a test split for the worst-samples gallery to score, told from a
stat or two, never by reading the data: the dashboard asks it in its poll threads for every run
with a model, so that `w` is offered only where it can act (and says why where it cannot).

The gallery scores the test split of the run's own data folder (`engine.eval.evaluate.split_names`
with no data path): a folder with no ``annotations/test.txt`` (photos and trimaps with no split
lists: training used every pair) has none. A list naming no photo there is left to the gallery's
own error line: telling it needs the folder read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.config import GENERATED_DATA


def why_no_worst(config: dict[str, Any]) -> str:
    """"" when the run's data (its config.json's ``data_path``) may have test photos, else one
    line saying why it has none and what scores the photos it held out instead."""
    data = config.get("data_path")
    if not isinstance(data, str) or not data or data == GENERATED_DATA:
        return ""  # the default data, or the generated set: both come with their lists
    from engine.data.layout import TORCHVISION_SUBDIR  # here: the dashboard's start-up imports no engine.data

    given = Path(data).expanduser()
    base = given / TORCHVISION_SUBDIR if not (given / "images").is_dir() and (given / TORCHVISION_SUBDIR).is_dir() else given
    if not base.is_dir():
        return f"its data folder {given} is gone, so there are no test photos to rank"
    listed = base / "annotations" / "test.txt"
    if listed.is_file():
        return ""
    return (f"its data {base} has no annotations/test.txt, so no test photos to rank; "
            "petseg eval --split valid --worst N ranks the photos training held out")
