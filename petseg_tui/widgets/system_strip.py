"""`SystemStrip`: the live screen's two-line strip of a run's system metrics, with sparklines.

GPU utilisation and memory (every GPU of the run: a data-parallel run lists each rank's), the
training process's CPU % and RSS with its DataLoader workers, the host's memory in use (from
160 columns), the share of step time spent waiting for data, and the free disk under the runs
folder. "no GPU" is said plainly for a run that is not on CUDA. While the run trains the figures are the newest sample's; once it is over
they are the run's averages (the last sample is taken as the run lets go of its GPU). With no
sample the strip says what is true for the run's state (`set_run_active`, from its screen): none
yet while it trains, none recorded once it is over (a run killed before its first sample, or
from a petseg before system metrics: the run's recorded versions cannot tell those apart).

The strip follows the run's ``system.jsonl`` (`engine.runs.system_log.SystemTail`) in its own
thread worker: a stat every `POLL_S` when nothing changed, a redraw only when a sample came.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import fmean
from typing import Any

from rich.color import Color, blend_rgb
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.renderables.sparkline import Sparkline as SparklineRenderable
from textual.widgets import Sparkline, Static
from textual.worker import get_current_worker

from engine.runs.layout import SYSTEM_FILE
from engine.runs.system_log import SystemTail
from engine.sysmetrics.record import SystemSample
from engine.sysmetrics.sampler import INTERVAL_S
from petseg_tui.exit_mount import NoMountAtExit
from petseg_tui.format import fmt_bytes
from petseg_tui.watch import short_message

POLL_S = 1.0
KEEP = 600  # samples the sparklines draw from (20 minutes at 2 s; a longer run: its last 600)
LIVE_WITHIN_S = 15.0  # a newest sample older than this: the run is over, show its averages
CELLS = {  # the cells, and what each one means (its tooltip)
    "gpu": "GPU utilisation (every GPU of the run; a data-parallel run: each rank's), power and temperature",
    "gpumem": "GPU memory used / total",
    "cpu": "CPU of the training process and its DataLoader workers, % of one core",
    "rss": "memory of the training processes and their DataLoader workers, each shared page counted once "
           "(PSS, read every 30 s; RSS summed where PSS cannot be read)",
    "ram": "the host's memory in use, by every process on the machine / its total (from 160 columns)",
    "wait": "share of step time the training loop waited for its next batch (high: the data is the bottleneck)",
    "disk": "free disk under the runs folder",
}


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}%"


def _series(samples: Sequence[SystemSample], read: Callable[[SystemSample], float | None]) -> list[float]:
    return [v for v in (read(s) for s in samples) if v is not None]


def _gpu_mean(s: SystemSample, read: Callable[..., float | None]) -> float | None:
    values = [v for v in (read(g) for g in s.gpus) if v is not None]
    return fmean(values) if values else None


def _figure(series: list[float], live: bool) -> float | None:
    if not series:
        return None
    return series[-1] if live else fmean(series)


class _FromZero(SparklineRenderable):
    """Textual's sparkline with its bars standing on zero: a bar's height is its value against
    ``full`` (the figure's whole scale: 100 % for a share, the host's memory), else against the
    series' largest; never its place between the series' smallest and largest."""

    def __init__(self, *args: Any, full: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.full = full

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        data = list(self.data)
        top = max(data, default=0.0)
        if self.full and top > 0:  # a steady 4 % wait drew full bars, as if it waited all the time
            top = max(top, self.full)
        if (self.height or 1) != 1 or not data or min(data) < 0:
            yield from super().__rich_console__(console, options)
            return
        width = self.width or options.max_width
        if top <= 0:  # nothing yet (wait 0 %): Textual drew a lone first sample as a full bar
            yield Segment(self.BARS[0] * width, self.min_color)
            return
        buckets = tuple(self._buckets(data, num_buckets=width))
        low, high = self.min_color.color, self.max_color.color
        assert low is not None and high is not None
        step = len(buckets) / width
        for i in range(width):
            ratio = min(1.0, max(0.0, self.summary_function(buckets[int(i * step)]) / top))
            bar = self.BARS[round(ratio * (len(self.BARS) - 1))]
            colour = Color.from_triplet(blend_rgb(low.get_truecolor(), high.get_truecolor(), ratio))
            yield Segment(bar, Style.from_color(colour))


class LevelSparkline(Sparkline):
    """A sparkline of a level (CPU %, memory, free disk): Textual's stretches the series between
    its smallest and largest value, so the free disk moving by 2 MB of 31.5 GB read as a plunge
    from a full bar to an empty one, and PSS easing from 1.6 to 1.5 GB as the memory gone.
    ``full``: the figure's whole scale, where it has one (`_FromZero`)."""

    full: float | None = None

    def render(self) -> SparklineRenderable:
        spark = super().render()
        assert isinstance(spark, SparklineRenderable)
        assert spark.min_color.color is not None and spark.max_color.color is not None
        return _FromZero(spark.data, width=spark.width, height=spark.height, min_color=spark.min_color.color,
                         max_color=spark.max_color.color, summary_function=spark.summary_function, full=self.full)


class StripCell(Vertical):
    """One figure: its label line and a sparkline."""

    DEFAULT_CSS = """
    StripCell { width: 1fr; height: 2; padding: 0 1 0 0; }
    StripCell > Static { height: 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    StripCell > Sparkline { height: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static()
        yield LevelSparkline([], summary_function=fmean)

    _label: str | None = None  # the label shown

    def show(self, label: str, data: list[float], full: float | None = None) -> None:
        """``full``: the figure's whole scale (100 for a share in %), None: the series' largest."""
        if label != self._label:  # a fixed-size cell: no layout of the screen
            self._label = label
            self.query_one(Static).update(label, layout=False)
        spark = self.query_one(LevelSparkline)
        spark.visible = bool(data)  # no series (no GPU): no flat line pretending to be one
        if spark.full != full:
            spark.full = full
            spark.refresh()
        if list(spark.data or []) != data:
            spark.data = data


class SystemStrip(NoMountAtExit, Vertical):
    """The system metrics of the run in ``run_path`` (its on_mount queries its cells: `NoMountAtExit`)."""

    DEFAULT_CSS = """
    SystemStrip { height: auto; padding: 0 1; }
    SystemStrip > #strip-note { height: 1; color: $text-muted; }
    SystemStrip > Horizontal { height: 2; }
    """

    def __init__(self, run_path: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.run_path = Path(run_path)
        self.samples: list[SystemSample] = []
        self._stop = threading.Event()
        self._shown_live = False  # what the cells say now: the newest figures (True) or the run's averages
        self._run_active: bool | None = None  # the run trains (its screen's newest snapshot); None: not known yet
        self._problem = ""  # why system.jsonl cannot be read (a FIFO, a symlink out of the run), "" when it can

    def compose(self) -> ComposeResult:
        yield Static(self.empty_note(), id="strip-note")
        with Horizontal(id="strip-cells"):
            for key, tip in CELLS.items():
                cell = StripCell(id=f"strip-{key}")
                cell.tooltip = tip + " (averages over the run once it is over)"
                yield cell

    def on_mount(self) -> None:
        self.query_one("#strip-cells").display = False
        if not (self.run_path / SYSTEM_FILE).exists():  # a stat: say it at once (the worker reads the rest)
            self.show([])
        self._follow()

    def on_unmount(self) -> None:
        self._stop.set()

    @work(thread=True, exclusive=True, group="system-strip")
    def _follow(self) -> None:
        tail = SystemTail(self.run_path, keep=KEEP)
        worker = get_current_worker()
        first = True
        while not (worker.is_cancelled or self._stop.is_set()):
            new = tail.poll()
            # the run went quiet: its figures turn into averages without a new sample to say so
            over = self._shown_live and bool(tail.samples) and time.time() - tail.samples[-1].t >= LIVE_WITHIN_S
            if new or first or over:
                first = False
                samples = list(tail.samples)
                try:
                    self.app.call_from_thread(self.show, samples, tail.problem)
                except Exception:  # the app is closing
                    return
            self._stop.wait(POLL_S)

    def set_run_active(self, active: bool) -> None:
        """The run trains (True) or is over (False): what the strip says while it has no sample."""
        if active != self._run_active:
            self._run_active = active
            self.show(self.samples, self._problem)  # over: its averages at once, no sample to wait for

    def empty_note(self) -> str:
        """What the strip says with no sample, for what is known of the run."""
        if self._problem:  # system.jsonl is no file to read (`SystemTail.problem`), the run's folder cut off
            return f"system: {short_message(self._problem, self.run_path)}"
        if self._run_active is None:
            return "system: waiting for the first sample …"
        if self._run_active:
            return f"system: no sample yet (one every {INTERVAL_S:g} s while it trains)"
        where = "is empty" if (self.run_path / SYSTEM_FILE).exists() else "was not written"
        return f"system: no samples recorded for this run ({SYSTEM_FILE} {where})"

    def show(self, samples: list[SystemSample], problem: str = "") -> None:
        """Draw ``samples`` (oldest first); ``problem``: why system.jsonl cannot be read, if it cannot."""
        self.samples, self._problem = samples, problem
        note = self.query_one("#strip-note", Static)
        cells = self.query_one("#strip-cells")
        if not samples:
            note.update(self.empty_note())
            note.display, cells.display = True, False
            return
        note.display, cells.display = False, True
        last = samples[-1]
        # the newest figures only while the run trains: stopped, they stood as if live (unlabelled
        # "CPU 63%") until the last sample aged past LIVE_WITHIN_S, and again on each reopening
        live = self._run_active is not False and time.time() - last.t < LIVE_WITHIN_S
        self._shown_live = live
        avg = "" if live else "avg "
        self._show_gpus(samples, live, avg)
        cpu = _series(samples, lambda s: s.cpu_percent)
        # PSS where the samples have it: RSS summed counts the pages forked workers share with
        # their rank once per process (5.1 GB on a machine using 2.4 GB)
        pss = any(s.pss is not None for s in samples)
        rss = _series(samples, (lambda s: s.pss) if pss else (lambda s: s.rss))
        wait = _series(samples, lambda s: None if s.data_wait is None else 100 * s.data_wait)
        disk = _series(samples, lambda s: s.disk_free)
        self._cell("cpu").show(f"CPU {avg}{_pct(_figure(cpu, live))}", cpu)
        rss_now = rss[-1] if rss else None
        self._cell("rss").show(f"{'PSS' if pss else 'RSS'} {fmt_bytes(rss_now if live else (max(rss) if rss else None))}"
                               + ("" if live else " peak"), rss, full=last.ram_total)
        # the host's RAM (every process's): what runs out before a DataLoader worker is killed;
        # hidden below 160 columns, where the other cells need its room (app.tcss)
        ram = _series(samples, lambda s: s.ram_used)
        ram_now = (ram[-1] if live else max(ram)) if ram else None
        self._cell("ram").show(f"RAM {fmt_bytes(ram_now)}/{fmt_bytes(last.ram_total)}" + ("" if live else " peak"),
                               ram, full=last.ram_total)
        self._cell("wait").show(f"wait {avg}{_pct(_figure(wait, live))}", wait, full=100.0)
        self._cell("disk").show(f"disk {fmt_bytes(disk[-1] if disk else None)}", disk)

    def _cell(self, key: str) -> StripCell:
        return self.query_one(f"#strip-{key}", StripCell)

    def _show_gpus(self, samples: list[SystemSample], live: bool, avg: str) -> None:
        last = samples[-1]
        util_cell, mem_cell = self._cell("gpu"), self._cell("gpumem")
        if not last.gpus:
            util_cell.show(f"GPU: {last.gpu_note or 'no GPU'}", [])
            mem_cell.display = False
            return
        mem_cell.display = True
        util = _series(samples, lambda s: _gpu_mean(s, lambda g: g.util))
        mem = _series(samples, lambda s: _gpu_mean(s, lambda g: None if g.mem_share is None else 100 * g.mem_share))
        if len(last.gpus) == 1:
            g = last.gpus[0]
            extra = "".join(f" {v:.0f}{u}" for v, u in ((g.power_w, "W"), (g.temp_c, "°C")) if v is not None and live)
            util_label = f"GPU{g.index} {avg}{_pct(_figure(util, live))}{extra}"
        else:  # every rank's GPU, newest sample: "GPU r0 87 r1 90%"
            util_label = "GPU " + " ".join(f"{'r' + str(g.rank) if g.rank is not None else g.index}:"
                                           f"{'—' if g.util is None else f'{g.util:.0f}'}" for g in last.gpus) + "%"
        used = " ".join(fmt_bytes(g.mem_used) for g in last.gpus)
        total = last.gpus[0].mem_total
        util_cell.show(util_label, util, full=100.0)
        mem_cell.show(f"mem {used}/{fmt_bytes(total)}", mem, full=100.0)
