"""The half-cell drawing: the same cells as textual-image's, and a new picture shows in place."""

from __future__ import annotations

import numpy as np
from PIL import Image
from rich.console import Console
from rich.style import Style
from textual.app import App, ComposeResult

from petseg_tui.widgets.halfcell import HalfcellImage, halfcell_strips
from petseg_tui.widgets.image_view import ImageView


def photo(seed: int, size: tuple[int, int] = (90, 70)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def cells(segments) -> list[tuple[str, tuple, tuple]]:
    return [(s.text, tuple(s.style.color.triplet), tuple(s.style.bgcolor.triplet)) for s in segments if s.text != "\n"]


def test_cells_are_textual_images_cells() -> None:
    from textual_image.renderable.halfcell import Image as TextualImageHalfcell

    image = photo(1)
    console = Console(width=30, height=12, color_system="truecolor")
    theirs = cells(console.render(TextualImageHalfcell(image, width=30, height=12), console.options))
    ours = [cell for strip in halfcell_strips(image, 30, 12, Style()) for cell in cells(strip)]
    assert len(ours) == 30 * 12
    assert ours == theirs


def test_cells_keep_the_widgets_other_styles() -> None:
    strips = halfcell_strips(photo(2), 4, 2, Style(bold=True, color="white"))
    assert all(seg.style.bold and seg.style.bgcolor is not None for strip in strips for seg in strip)


class OnePane(App):
    def compose(self) -> ComposeResult:
        yield ImageView("pane", mode="halfcell")


async def test_a_new_picture_of_the_same_size_is_drawn_in_place() -> None:
    app = OnePane()
    async with app.run_test(size=(40, 16)) as pilot:
        view = app.query_one(ImageView)
        first, second = photo(3), photo(4)
        view.set_image(first)
        await pilot.pause()
        widget = view.image_widget
        assert isinstance(widget, HalfcellImage)
        region = widget.region
        before = [cells(widget.render_line(y)) for y in range(widget.size.height)]
        view.set_image(second)
        await pilot.pause()
        after = [cells(widget.render_line(y)) for y in range(widget.size.height)]
        assert widget.region == region
        assert after != before
        box = view.content_size
        expected = halfcell_strips(widget.image, box.width, box.height, Style())
        assert after == [cells(strip) for strip in expected]
