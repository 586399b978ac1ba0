"""One ONNX export of the session's tiny run, shared by the export and inference tests (an
export takes seconds): a copy of ``finished_tiny_run`` with ``export/model.onnx`` written by
`engine.export.run_export.export_run`, parity on the first `PARITY_PHOTOS` test photos. Made
once per test run, whichever xdist worker asks first (`made_once`); its `ExportResult` is kept
beside it (pickled) for the others."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from tests.once_per_run import made_once

PARITY_PHOTOS = 8
RESULT = "export-result.pickle"


def exported_run(tmp_path_factory: pytest.TempPathFactory, finished_tiny_run: Path):
    """(run folder, ExportResult) of the shared export; made on first use, then reused."""

    def export(folder: Path) -> None:
        from engine.export.run_export import export_run

        run = folder / "r"
        shutil.copytree(finished_tiny_run, run)
        result = export_run(run, "onnx", parity_photos=PARITY_PHOTOS)
        (folder / RESULT).write_bytes(pickle.dumps(result))

    folder = made_once(tmp_path_factory, "exported", export)
    return folder / "r", pickle.loads((folder / RESULT).read_bytes())


def few_photos(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the parity check of CLI exports use `PARITY_PHOTOS` photos (the CLI checks all 198)."""
    from engine.export import parity

    full = parity.test_pairs
    monkeypatch.setattr(parity, "test_pairs", lambda limit=None: full(PARITY_PHOTOS))
