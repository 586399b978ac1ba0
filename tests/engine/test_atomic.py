"""engine.atomic.atomic_write: what its errors name."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from engine.atomic import atomic_write


def test_an_error_on_the_temp_file_names_the_file_being_written(tmp_path: Path) -> None:
    """A read-only folder (or mount) refuses the temp file: the user was told
    ".labels.json.32177.1398….tmp: Read-only file system", a file they never asked for."""
    target = tmp_path / "labels.json"
    target.write_text("{}")

    def refused(fh) -> None:
        raise OSError(errno.EROFS, "Read-only file system", fh.name)

    with pytest.raises(OSError) as caught:
        atomic_write(target, refused)
    assert caught.value.filename == str(target) and caught.value.errno == errno.EROFS
    assert target.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["labels.json"]
