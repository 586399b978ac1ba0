"""Sixel over SSH: what the app writes to the terminal. Each picture once, only when it changed,
and every colour register defined before the first pixel."""

from __future__ import annotations

import re

from tui_helpers import settled, wait_for
from PIL import Image
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual_image._sixel import image_to_sixels

from petseg_tui.widgets.image_view import ImageView
from petseg_tui.widgets.sixel import palette_first

DEFINE = re.compile(r"#\d+;2;\d+;\d+;\d+")


def test_palette_first_defines_every_register_before_any_pixel() -> None:
    img = Image.new("RGB", (40, 30), (250, 10, 10))
    img.paste((10, 10, 250), (0, 12, 40, 30))
    img.paste((10, 250, 10), (10, 0, 20, 30))
    original = image_to_sixels(img)
    fixed = palette_first(original)
    header = original[: original.index("#")]
    assert fixed.startswith(header)
    defs = DEFINE.findall(original)
    assert len(defs) == 3
    body = fixed[len(header):]
    assert body.startswith("".join(defs))  # all three, first
    assert not DEFINE.search(body[len("".join(defs)):])  # and never again
    # the pixel data selects the same registers in the same order
    strip = lambda s: DEFINE.sub(lambda m: m.group(0).split(";")[0], s)  # noqa: E731
    assert strip(original[len(header):]) == strip(body[len("".join(defs)):])
    assert not original[len(header):].startswith("".join(defs))  # textual-image defines them on first use


def palette_defined_first(sixel: str) -> bool:
    body = sixel[sixel.index("#"):]
    return not DEFINE.search(re.sub(r"^(?:#\d+;2;\d+;\d+;\d+)+", "", body))


class TerminalRecorder(App):
    """Two sixel panes; records what the app writes to the terminal (as in a real session)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    @property
    def is_headless(self) -> bool:  # render frames as for a terminal, into `written`
        return False

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield ImageView("a", mode="sixel", id="a")
            yield ImageView("b", mode="sixel", id="b")

    def on_mount(self) -> None:
        driver_write = self._driver.write

        def write(data: str) -> None:
            self.written.append(data)
            driver_write(data)

        self._driver.write = write  # type: ignore[method-assign]

    def sixels(self) -> int:
        return sum(chunk.count("\x1bP") for chunk in self.written)


async def test_each_picture_is_written_once_and_only_when_it_changed() -> None:
    red, blue = Image.new("RGB", (60, 90), (200, 30, 30)), Image.new("RGB", (60, 90), (30, 30, 200))

    app = TerminalRecorder()
    async with app.run_test(size=(100, 30)) as pilot:
        a, b = app.query_one("#a", ImageView), app.query_one("#b", ImageView)
        await wait_for(pilot, lambda: a.region.width > 0 and b.region.width > 0, what="the panes laid out")
        await settled(pilot)
        a.set_image(red)
        b.set_image(blue)
        await wait_for(pilot, lambda: app.sixels() >= 2, what="both pictures written")
        await settled(pilot)  # every frame that follows from it drawn: a second copy would be here
        assert app.sixels() == 2  # textual-image alone wrote each twice
        images = [i for chunk in app.written for i in re.findall(r"\x1bP[0-9;]*q.*?\x1b\\", chunk, re.S)]
        assert len(images) == 2 and all(palette_defined_first(i) for i in images)
        a.set_image(red.copy())  # the same picture again: nothing sent
        await settled(pilot)
        assert app.sixels() == 2
        a.set_image(blue.copy())  # a new one: sent once
        await wait_for(pilot, lambda: app.sixels() >= 3, what="the new picture written")
        await settled(pilot)
        assert app.sixels() == 3
