"""Time to the TUI's first frame: process start -> first compositor refresh after mount.

    .venv/bin/python bench/tui_first_frame.py [--runs DIR]   (prints seconds; headless)

Process start is read from /proc (so interpreter start-up counts); the app exits right
after its first paint. Also reports whether torch got imported on the way (it must not).
"""

from __future__ import annotations

import os
import sys


def process_age() -> float:
    """Seconds since this process started (Linux: /proc/self/stat field 22)."""
    with open("/proc/self/stat") as fh:
        start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as fh:
        uptime = float(fh.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    import argparse
    from pathlib import Path

    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=Path, default=Path("runs"))
    args = p.parse_args()

    from petseg_tui.app import PetsegApp

    class Timed(PetsegApp):
        first_frame: float | None = None

        def on_mount(self) -> None:
            super().on_mount()
            self.call_after_refresh(self._painted)

        def _painted(self) -> None:
            self.first_frame = process_age()
            self.exit()

    app = Timed(runs_dir=args.runs)
    app.run(headless=True, size=(120, 40))
    print(f"first frame after {app.first_frame:.3f} s from process start; torch imported: {'torch' in sys.modules}")


if __name__ == "__main__":
    main()
