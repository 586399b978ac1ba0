"""`ImageTree`: a `DirectoryTree` that lists folders and image files only.

Files are kept by name (`engine.data.images.IMAGE_SUFFIXES`, case-insensitive), never opened:
a broken file with an image name is listed, and picking it gives a clear error later.
Hidden entries are left out. The root is labelled with the folder name, not its full path,
so the tree reads well in a narrow side panel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from rich.text import Text
from textual.widgets import DirectoryTree
from textual.widgets.tree import TreeNode

FALLBACK_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def image_suffixes() -> tuple[str, ...]:
    """The suffixes the engine decodes (imported lazily: keeps numpy off the start-up path)."""
    try:
        from engine.data.images import IMAGE_SUFFIXES
    except ImportError:  # pragma: no cover - the engine is part of this package
        return FALLBACK_SUFFIXES
    return tuple(s.lower() for s in IMAGE_SUFFIXES)


class ImageTree(DirectoryTree):
    """Folders and image files under a root folder."""

    def __init__(self, path: str | Path, **kwargs) -> None:
        self._suffixes = image_suffixes()
        super().__init__(path, **kwargs)

    def is_image_name(self, path: Path) -> bool:
        return path.suffix.lower() in self._suffixes

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        keep = []
        for p in paths:
            if p.name.startswith("."):
                continue
            try:
                if p.is_dir():
                    keep.append(p)
                    continue
            except OSError:
                continue
            if self.is_image_name(p):
                keep.append(p)
        return keep

    def reset_node(self, node: TreeNode, label, data=None):  # type: ignore[override]
        if node is self.root:
            label = self.root_label()
        return super().reset_node(node, label, data)

    def root_label(self) -> Text:
        p = Path(self.path)
        return Text(f"{p.name or str(p)}/")

    def on_mount(self) -> None:
        self.root.set_label(self.root_label())
