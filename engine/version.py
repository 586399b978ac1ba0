"""petseg's own version: the installed distribution's (pyproject.toml's ``version``), read from
its metadata, never a copy kept here that a release could forget to bump. config.json's
``versions``, an export's metadata and a PNG's Software tag all say it. No torch import."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "petseg-tui"  # pyproject.toml's [project] name
UNKNOWN = "unknown"  # a source tree used without `pip install -e .`: no metadata to read


def petseg_version() -> str:
    """The installed petseg's version, e.g. ``0.1.0``."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN
