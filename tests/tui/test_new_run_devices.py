"""The new-run form's "Processes (GPUs)" row offers the GPUs of this box, counted by NVML (no torch
on the UI thread); NVML is faked at the library boundary (the ``pynvml`` module)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

from textual.widgets import OptionList, Select
from tui_helpers import wait_for, widget_text
from tui_new_run_form import open_form

from petseg_tui.app import PetsegApp


def fake_nvml(monkeypatch, gpus: int | None) -> None:
    """``pynvml`` seeing ``gpus`` GPUs; None: no driver (nvmlInit fails, as on this machine)."""
    nvml = types.ModuleType("pynvml")

    def init() -> None:
        if gpus is None:
            raise RuntimeError("NVML Shared Library Not Found")

    nvml.nvmlInit, nvml.nvmlShutdown = init, lambda: None
    nvml.nvmlDeviceGetCount = lambda: gpus
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


async def offered(runs_dir: Path) -> tuple[list[str], str]:
    async with PetsegApp(runs_dir=runs_dir).run_test(size=(160, 48)) as pilot:
        form = await open_form(pilot)
        select = form.query_one("#f-devices", Select)
        select.focus()
        await pilot.press("enter")  # the list a user sees
        await pilot.pause()
        overlay = select.query_one(OptionList)  # the Select's drop-down
        choices = [str(overlay.get_option_at_index(i).prompt) for i in range(overlay.option_count)]
        await pilot.press("escape")
        return choices, widget_text(form.query_one("#err-devices"))


async def test_a_box_with_4_gpus_is_offered_1_to_4(runs_dir: Path, monkeypatch) -> None:
    fake_nvml(monkeypatch, 4)
    choices, hint = await offered(runs_dir)
    assert choices == ["1", "2", "3", "4"] and hint.startswith("4 GPUs on this box")


async def test_cuda_visible_devices_limits_the_choice(runs_dir: Path, monkeypatch) -> None:
    fake_nvml(monkeypatch, 8)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    choices, hint = await offered(runs_dir)
    assert choices == ["1", "2"] and hint.startswith("2 GPUs")


async def test_a_box_without_gpu_says_so_and_offers_cpu_processes(runs_dir: Path, monkeypatch) -> None:
    fake_nvml(monkeypatch, None)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    choices, hint = await offered(runs_dir)
    assert choices == ["1", "2"] and hint.startswith("no GPU")


async def test_device_cuda_on_a_box_without_gpu_is_marked_invalid(runs_dir: Path, monkeypatch) -> None:
    """Device cuda where NVML finds no GPU: the row says what the run would fail with at once,
    in the engine's words, and Start is refused (the form took it; the run then failed)."""
    from textual.widgets import Button

    fake_nvml(monkeypatch, None)
    async with PetsegApp(runs_dir=runs_dir).run_test(size=(160, 48)) as pilot:
        form = await open_form(pilot)
        form.query_one("#f-device", Select).value = "cuda"
        await wait_for(pilot, lambda: "CUDA is not available" in widget_text(form.query_one("#err-device")),
                       what="the Device row's error")
        assert widget_text(form.query_one("#err-device")).startswith(
            "✗ CUDA is not available on this machine (use auto or cpu)")
        assert form.query_one("#start", Button).disabled
        form.query_one("#f-device", Select).value = "cpu"
        await wait_for(pilot, lambda: not form.query_one("#start", Button).disabled, what="cpu accepted")


async def test_device_cuda_on_a_box_with_a_gpu_is_accepted(runs_dir: Path, monkeypatch) -> None:
    from textual.widgets import Button

    fake_nvml(monkeypatch, 1)
    async with PetsegApp(runs_dir=runs_dir).run_test(size=(160, 48)) as pilot:
        form = await open_form(pilot)
        form.query_one("#f-device", Select).value = "cuda"
        await pilot.pause()
        assert "✗" not in widget_text(form.query_one("#err-device"))
        assert not form.query_one("#start", Button).disabled
