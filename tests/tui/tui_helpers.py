"""The one import point of the TUI tests' helpers, ``from tui_helpers import ...`` (pytest puts
tests/tui on sys.path; bench/ and docs/screens/make_screens.py put it there themselves). Each
helper lives in the module of its job:

- `tui_run_folders`: run folders written with the real RunStore/RunWriter
- `tui_fake_trainer`: `FakeTrainer`, the engine's Trainer stood in for
- `tui_pilot`: driving the app and waiting on it (never a fixed sleep)
- `tui_screen_text`: what the screen shows, as the text a user reads
- `tui_contrast`: legibility in the light themes

The fixtures that use them live in conftest.py."""

from __future__ import annotations

from tui_contrast import LIGHT_THEMES, contrast_of, light_theme_contrasts
from tui_fake_trainer import FakeTrainer, start_in_process
from tui_pilot import (highlight, inference_done, open_broken_run_and_return, open_live, open_palette,
                       open_palette_query, screen_up, settled, wait_for, wheel)
from tui_run_folders import (DIVERGED_DICES, DIVERGED_LOSSES, OUTLIER_DICES, OUTLIER_LOSSES, SWEEP_TRIALS, T0,
                             BackgroundWriter, epoch_event, gpu_sample, make_curve_run, make_interrupted_run,
                             make_run, make_sweep_runs, unreadable_checkpoint, write_cpu_system_log,
                             write_previews, write_small_runs)
from tui_screen_text import (cell, exit_messages, footer_text, palette_titles, rendered, run_detail,
                             screen_rows, seen_at, toasts, widget_text)

__all__ = [
    "BackgroundWriter", "DIVERGED_DICES", "DIVERGED_LOSSES", "FakeTrainer", "LIGHT_THEMES", "OUTLIER_DICES",
    "OUTLIER_LOSSES", "SWEEP_TRIALS", "T0", "cell", "contrast_of", "epoch_event", "exit_messages",
    "footer_text", "gpu_sample", "highlight", "inference_done", "light_theme_contrasts", "make_curve_run",
    "make_interrupted_run", "make_run", "make_sweep_runs", "open_broken_run_and_return", "open_live",
    "open_palette", "open_palette_query", "palette_titles", "rendered", "run_detail", "screen_rows",
    "screen_up", "seen_at", "settled", "start_in_process", "toasts", "unreadable_checkpoint", "wait_for",
    "wheel", "widget_text", "write_cpu_system_log", "write_previews", "write_small_runs",
]
