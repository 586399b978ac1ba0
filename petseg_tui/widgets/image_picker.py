"""`ImageTree`: a `DirectoryTree` that lists folders and image files only.

Files are kept by name (`engine.data.images.IMAGE_SUFFIXES`, case-insensitive), never opened:
a broken file with an image name is listed, and picking it gives a clear error later.
Hidden entries are left out. The root is labelled with the folder name, not its full path,
so the tree reads well in a narrow side panel; a name too long for the panel is cut in the
middle with "…", as the runs table cuts a run name: the panel's edge cut it with no sign
("British_Shorthair_102." at 80 columns), and the photos of a breed differ at the end.

DirectoryTree's own path watcher is a coroutine that Textual makes as soon as the path is set,
in the tree's ``__init__`` too, and queues on the widget: a tree never run (its screen removed
as the app ends while the inference screen opens) dropped it unawaited, and Python warned
"coroutine 'DirectoryTree.watch_path' was never awaited" (plain Textual 8.2.8 does the same).
`ImageTree.watch_path` queues the watcher itself, so its coroutine is made only when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from rich.style import Style
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

    def watch_path(self) -> None:
        # the same turn as Textual's watcher (call_next), but a method queued, not a coroutine
        # made now: one never run is dropped with nothing left unawaited (the module docstring)
        self.call_next(super().watch_path)

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

    def render_label(self, node: TreeNode, base_style: Style, style: Style) -> Text:
        """The node's icon and name, the name cut in the middle where the line would run past
        the panel's edge (its number and extension kept: the tail keeps two thirds)."""
        from engine.runs.short_name import ELLIPSIS, shorten

        text = super().render_label(node, base_style, style)
        room = self.scrollable_content_region.width - self._indent(node)
        name = node.label.plain
        icon = text.cell_len - Text(name).cell_len  # the icon and its space, before the name
        if not self.is_mounted or text.cell_len <= room or room - icon < 2 or not text.plain.endswith(name):
            return text
        short = shorten(name, room - icon)
        head, start = short.index(ELLIPSIS), len(text.plain) - len(name)
        tail = len(short) - head - 1
        cut = text[:start + head]
        cut.append(ELLIPSIS, style=text.get_style_at_offset(self.app.console, start + head))
        cut.append_text(text[len(text.plain) - tail:])
        return cut

    def _indent(self, node: TreeNode) -> int:
        """The cells of guides before ``node``'s label (`Tree`'s lines: guide_depth a level)."""
        depth = 0
        while node.parent is not None:
            node, depth = node.parent, depth + 1
        return (depth if self.show_root else max(0, depth - 1)) * self.guide_depth
