"""What the live screen's text panels say for a `LiveSnapshot`: the title, the figures, the run's
settings and the messages line.

Plain functions of a snapshot (and the screen's own notes), so the screen only decides when a
panel is redrawn (when what it would say changed).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from engine.runs import LOG_FILE, RunState, world_size
from engine.runs.journal import skipped_lines
from engine.runs.short_name import NAME_MIN, shorten
from engine.sweep.record import sweep_of
from petseg_tui.format import (
    GONE_STYLE,
    LR_LAST,
    LR_NOW,
    LR_PEAK,
    fmt_duration,
    fmt_lr,
    fmt_metric,
    fmt_rate,
    on_background,
    shown_state_text,
)
from petseg_tui.live_follow import LiveSnapshot

Rows = tuple[tuple[str, str], ...]
BATCH_LABEL_WIDTH = 14  # the progress rows' label width (app.tcss `.progress-row Label`)


def title_text(snap: LiveSnapshot, in_this_process: bool, background: tuple[int, int, int] | None = None,
               width: int | None = None) -> Text:
    """The run's name and state (its colour as drawn on ``background``: `on_background`), and which
    process trains it; in ``width`` cells, if given, the name cut in the middle to make room (the
    title is one line: at 80 columns a sweep trial's name pushed the pid past the edge; the
    header above has the name whole)."""
    rest = Text("  ")
    rest.append_text(shown_state_text(snap.state, snap.gone, background))
    if in_this_process:
        rest.append("  in this process", style="dim")
    elif snap.active:
        # not "detached": a run started by `petseg train` in another terminal is trained here too
        rest.append("  " + trained_by(snap), style="dim")
    name = snap.name if width is None else shorten(snap.name, max(NAME_MIN, width - rest.cell_len))
    title = Text()  # (a base style would make the state and the process bold too)
    title.append(name, style="bold")
    title.append_text(rest)
    return title


def trained_by(snap: LiveSnapshot) -> str:
    """The process(es) of a run trained outside this app: "another process (pid N)", or for a
    data-parallel run "2 processes (rank 0: pid N)". status.json's pid is rank 0's, whereas the
    R toast names the launcher it started: "another process" beside a second pid read as two
    different runs' processes (seen with --devices 2)."""
    n = world_size(snap.config)
    where = f"{n} processes" if n > 1 else "another process"
    if not snap.pid:
        return where
    return f"{where} (rank 0: pid {snap.pid})" if n > 1 else f"{where} (pid {snap.pid})"


def batch_progress(snap: LiveSnapshot) -> tuple[str, int | None, int]:
    """The batch row: its label, and its bar's total (None: it pulses, busy) and progress.

    What a run does in an epoch, where a count would mean nothing: an epoch of one batch (a small
    data-parallel rank's) read "Batch 0/1" while it trained, then "Batch 1/1" while it validated,
    epoch after epoch; so it says "1-batch epoch" while it trains, and any epoch whose batches are
    all trained but whose scores are not in says "Validating". Until an epoch's first batch is
    reported the bar pulses (busy) rather than stand empty: batches are reported at most once a
    second, so a 4-batch epoch of 0.6 s stood at an empty "Batch 0/4" all along. Paused there, it
    stands empty: nothing trains. A run that ended inside an epoch (stopped, failed, interrupted)
    shows where it ended, "Stopped 3/10" (the state alone where that is too long for the row):
    its bar stood full beside "Batch —", read as an epoch finished."""
    n, done = snap.current_batches, snap.current_batch
    if not snap.active and snap.epoch_progress.unfinished is not None:
        word = str(snap.state).capitalize()
        label = f"{word} {done}/{n}" if n else word
        return (label if len(label) <= BATCH_LABEL_WIDTH else word), n or 1, min(done, n)
    if not (snap.active and n):
        return "Batch —", 1, 1 if snap.epochs else 0
    if snap.current_epoch > snap.done_epochs and done >= n:
        return "Validating", n, n
    if done == 0:
        # paused before its first batch: the bar stands (pulsing, it read as busy beside "(paused)")
        paused = snap.paused or snap.state == RunState.PAUSED
        return "1-batch epoch" if n == 1 else f"Batch 0/{n}", n if paused else None, 0
    return f"Batch {done}/{n}", n, done


def stats_rows(snap: LiveSnapshot) -> Rows:
    """LR, images/s, ETA, elapsed, best Dice, last losses."""
    last, best = snap.last, snap.best
    paused = snap.paused or snap.state == RunState.PAUSED
    # while an epoch trains, its rate (the last finished epoch's is one schedule step behind: "LR
    # now" read 1e-3 through a 2-epoch run's second epoch, trained at 5e-4); once over, the last
    # epoch's; before any rate is recorded, the configured one: labelled as which
    if snap.active and snap.current_epoch > snap.done_epochs and snap.current_lr is not None:
        lr, lr_label = snap.current_lr, LR_NOW
    elif last:
        lr, lr_label = last.lr, LR_NOW if snap.active else LR_LAST
    else:
        lr, lr_label = snap.config.get("learning_rate"), LR_PEAK
    # while it trains, the pace now; once over, the run's median, the figure of the runs table
    # and `petseg runs` (the last epoch's alone read 118 where the table said 225)
    if snap.active:
        ips = snap.batches[-1].images_per_s if snap.batches else (last.images_per_s if last else None)
    else:
        ips = snap.images_per_s
    eta = snap.eta_seconds()
    return (
        (lr_label, fmt_lr(lr)),
        ("images/s", fmt_rate(ips) + (" (paused)" if paused and ips is not None else "")),
        ("ETA", (("~" + fmt_duration(eta)) if eta is not None else "—") + (" (paused)" if paused else "")
         + (f" (budget {snap.config['time_budget']})" if isinstance(snap.config.get("time_budget"), str) else "")),
        ("elapsed", fmt_duration(snap.duration)),
        ("best Dice", f"{fmt_metric(best.valid_dice)} @ epoch {best.epoch}" if best else "—"),
        ("loss t/v", f"{fmt_metric(last.train_loss)} / {fmt_metric(last.valid_loss)}" if last else "—"),
    )


def info_rows(snap: LiveSnapshot) -> Rows:
    """Model (x processes), batch, image size, LR; an encoder's weights; a mask rule other than the
    default; device; data."""
    cfg = snap.config
    n = world_size(cfg)
    model = f"{cfg.get('model', '?')}" + (f" x{n}" if n > 1 else "")
    batch = f"{cfg.get('batch_size', '?')}" + ("/process" if n > 1 else "")
    # a sweep draws lr=0.004092421950921368: 3 significant digits (as the compare table and the
    # sweep screen write it), not the float's repr, which wrapped the line at 80 columns
    lr = cfg.get("learning_rate")
    lr_text = f"{lr:.3g}" if isinstance(lr, (int, float)) and not isinstance(lr, bool) else "?"
    return (
        ("model", f"{model} · bs {batch} · img {cfg.get('image_size', '?')} · lr {lr_text}"),
        *_recipe_rows(cfg),
        ("device", snap.device or str(cfg.get("device", "—"))),
        ("data", snap.data or _data_named(cfg)),
    )


def _recipe_rows(cfg: dict) -> Rows:
    """The settings that change what the run's figures mean, in one "recipe" row only where they
    matter: an encoder model's starting weights (ImageNet, a file, or random) and a mask rule other
    than the default (pet_only scores the trimap's border as background, so its Dice reads apart
    from a pet_border run's). The pane read "model resnet34_unet · bs 16 …" alone, hiding both.
    One row, not two: at 80x24 each row is taken from the charts."""
    from engine.config import MODEL_IGNORES, PRETRAINED_IMAGENET, TrainConfig

    parts: list[str] = []
    model = cfg.get("model")
    if isinstance(model, str) and "pretrained" not in MODEL_IGNORES.get(model, ("pretrained",)):
        weights = cfg.get("pretrained")
        if not isinstance(weights, str) or not weights.strip():
            parts.append("random encoder")
        elif weights == PRETRAINED_IMAGENET:
            parts.append("ImageNet encoder")
        else:  # a local .pth: its name (the full path is in config.json), never a wrapped path
            parts.append(f"encoder {Path(weights).name}")
    rule = cfg.get("mask_rule")
    if isinstance(rule, str) and rule != TrainConfig.__dataclass_fields__["mask_rule"].default:
        # alone, the row has room to say what the rule does
        why = ": border is background" if rule == "pet_only" and not parts else ""
        parts.append(f"mask {rule}{why}")
    return (("recipe", " · ".join(parts)),) if parts else ()


def _data_named(cfg: dict) -> str:
    """The data a run was given, before its first event describes it: its folder, else the word
    the new-run form shows for no folder ("bundled real sample"); "—" with no config at all. It
    read "auto", a word the form and `petseg train --help` never use for it."""
    if not cfg:
        return "—"
    if cfg.get("data_path"):
        return str(cfg["data_path"])
    from engine.config import config_fields

    return next(f.spec.placeholder for f in config_fields() if f.name == "data_path")


def label_grid(rows: Rows, label_width: int, width: int = 0) -> Text:
    """Label / value rows: the labels dim in a column of at least ``label_width``, a value too long
    for the pane wrapped onto the next lines (a long data description stays readable), at a
    fraction of a Rich Table's rendering cost: the stats change about once a second while a run
    trains. With the pane's ``width`` known, a value wraps under the value column and between
    its " · " parts where it can: wrapped at any space, at 80 columns "model resnet18_unet · bs 8 ·
    img 64 · lr" ended a line and its "0.001" began the next, under the labels."""
    col = max([label_width, *(len(label) for label, _ in rows)])
    room = width - col - 1
    t = Text(end="")
    for i, (label, value) in enumerate(rows):
        if i:
            t.append("\n")
        t.append(label.ljust(col), style="dim")
        lines = value_lines(value, room) if width and room >= VALUE_MIN else [value]
        t.append(" " + ("\n" + " " * (col + 1)).join(lines))
    return t


VALUE_MIN = 12  # below this many cells for its values, a grid wraps as the pane does (at any space)


def value_lines(value: str, room: int) -> list[str]:
    """``value`` in lines of at most ``room`` cells, broken between its " · " parts where they
    fit, a part longer than a line at its spaces (a word longer than one, anywhere)."""
    import textwrap

    lines: list[str] = []
    line = ""
    for part in value.split(" · "):
        joined = f"{line} · {part}" if line else part
        if len(joined) <= room:
            line = joined
            continue
        if line:
            lines.append(line)
        if len(part) <= room:
            line = part
        else:
            *whole, line = textwrap.wrap(part, room, break_on_hyphens=False) or [""]
            lines.extend(whole)
    return [*lines, line]


def messages_text(snap: LiveSnapshot, control_note: str, export_note: str, *, log_shown: bool,
                  background: tuple[int, int, int] | None = None) -> Text:
    """Paused, why it ended, resume offer, warnings, export result, the log's tail (unless its pane
    shows), each message on a line of its own and no blank line before the first: at 80x24 a
    resnet18_unet's settings and the blank row an export note began with ran the screen one row
    past the terminal, the note's end ("Dice PyTorch 0.592 export 0.592") off the bottom."""
    out = Text()

    def line(text: str, style: str) -> None:
        """A message on a line of its own, below what is already said."""
        out.append(("\n" if out else "") + text, style=style)

    if not snap.exists:
        out.append("Waiting for the run folder to appear (the trainer is importing torch) …", style="italic")
        return out
    if control_note:
        out.append(control_note + "  ", style=on_background("yellow", background))
    if snap.paused or snap.state == RunState.PAUSED:
        out.append("Paused — press p to resume (paused time is not counted). ", style=on_background("bold yellow", background))
    if snap.message and snap.state.ended_early:
        # with the epoch it was cut in, as the runs table's detail says it (the epoch row counts
        # the finished ones)
        line(snap.epoch_progress.noted(snap.message), "bold red" if snap.state != RunState.STOPPED else "magenta")
    if snap.launch_ended:
        line(snap.launch_ended, "bold red")
    if snap.state == RunState.INTERRUPTED:
        line("No heartbeat: the training process is gone.", on_background(GONE_STYLE, background))
    trial = sweep_of(snap.config)
    if snap.resume.action and trial is not None and not snap.active:  # only with its sweep (R resumes that)
        out.append(f"  R: it resumes only with its sweep {trial.name}.", style="dim")
    elif snap.resume.action == "resume" and not snap.active:
        out.append("  R resumes it from last.pt.", style="dim")
    elif snap.resume.action == "restart" and not snap.active:
        out.append("  No last.pt: R starts it again from epoch 1.", style="dim")
    elif snap.resume.lost_last and not snap.active:
        out.append("  last.pt is lost: it cannot be resumed.", style="dim")
    for w in snap.warnings[-3:]:
        line("⚠ " + w, on_background("yellow", background))
    if snap.bad_lines:
        line(f"⚠ {skipped_lines(snap.bad_lines)}", on_background("yellow", background))
    if export_note:
        line(export_note, on_background("cyan", background))
    if snap.log_tail and not log_shown:
        line(f"{LOG_FILE}: " + snap.log_tail.replace("\n", "\n  "), "dim")
    return out
