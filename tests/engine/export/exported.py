"""One ONNX export of the session's tiny run, shared by the export and inference tests (an
export takes seconds): a copy of ``finished_tiny_run`` with ``export/model.onnx`` written by
`engine.export.run_export.export_run`, parity on the first `PARITY_PHOTOS` test photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PARITY_PHOTOS = 8
_cache: dict[str, object] = {}


def exported_run(tmp_path_factory: pytest.TempPathFactory, finished_tiny_run: Path):
    """(run folder, ExportResult) of the shared export; made on first use, then reused."""
    if "result" not in _cache:
        from engine.export.run_export import export_run

        run = tmp_path_factory.mktemp("exported") / "r"
        shutil.copytree(finished_tiny_run, run)
        _cache["run"] = run
        _cache["result"] = export_run(run, "onnx", parity_photos=PARITY_PHOTOS)
    return _cache["run"], _cache["result"]


def few_photos(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the parity check of CLI exports use `PARITY_PHOTOS` photos (the CLI checks all 198)."""
    from engine.export import parity

    full = parity.test_pairs
    monkeypatch.setattr(parity, "test_pairs", lambda limit=None: full(PARITY_PHOTOS))
