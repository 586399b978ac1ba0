"""`Trainer`: one training run in a background thread, emitting typed events as it goes.

Every event is appended to the run's ``events.jsonl`` before subscribers see it, so what the
TUI shows for a run in this process and for a run in another process is the same file.
Control (stop / pause / resume) works from any thread through methods here, and from any
process through ``engine.runs.request_control`` (`engine.train.control`).

What stays here reads like torchvision's reference script: set up (`engine.train.setup`),
restore (`engine.train.checkpoint_state`), then for each epoch `train_one_epoch`, `evaluate`,
step the schedule, report, checkpoint. Around it: the run folder (`run_folder`), how the run
ended (`outcome`), what it lets go before its terminal event (`_release`), when it saves
``best.pt`` and ``last.pt`` (`run_checkpoints`), and what it does between two batches: control
requests, pauses, the ranks' agreement (`batch_gate`).

Whatever way a run ends, the trainer writes what is pending, stops its loaders' worker processes
and threads and releases the GPU BEFORE it emits the terminal event, so a process may exit as
soon as it sees that event.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable

from engine.config import TrainConfig
from engine.data.loaders import counted_images
from engine.device import kept_cudnn_benchmark
from engine.errors import one_line
from engine.events import EpochEnded, EpochStarted, RunStarted, RunWarning, TrainEvent
from engine.runs import RunState, RunStore, clear_control
from engine.train import outcome
from engine.train.batch_gate import BetweenBatches
from engine.train.checkpoint_state import Progress, data_streams, restore
from engine.train.config_record import dtype_name, resolved_record
from engine.train.control import RunControl
from engine.train.outcome import StopRequested
from engine.train.release import free_device, release_training
from engine.train.emitter import EventEmitter, Subscriber
from engine.train.distributed import (DistContext, backend_for, distributed_record, global_batch_change, local_pids,
                                      rank_processes)
from engine.train.rank_scratch import rank_scratch
from engine.train.run_checkpoints import RunCheckpoints
from engine.train.run_folder import create_run, follow_run, reopen_run
from engine.train.setup import Recorded, setup_training
from engine.train.train_loop import Diverged, Training, train_one_epoch
from engine.sysmetrics.data_wait import DataWaitMeter


class Trainer(RunCheckpoints, BetweenBatches):
    """Trains one run in its own thread.

    ``Trainer(config, runs_dir)`` creates the run folder at once (so ``run_name`` and
    ``run_path`` are known before ``start()``); ``Trainer(None, runs_dir, name, resume=True,
    overrides={flag: value})`` reopens a run and continues from its ``last.pt`` under the rules
    of `engine.train.resume` (the flags are the ones the user gave explicitly). Either way the trainer
    holds the run's writer lock until it ends.
    """

    def __init__(
        self,
        config: TrainConfig | None,
        runs_dir: str | Path,
        run_name: str | None = None,
        *,
        resume: bool = False,
        overrides: dict[str, Any] | None = None,
        log: Callable[[str], None] | None = None,
        dist: DistContext | None = None,
        control_group: Any = None,
    ) -> None:
        self.store = RunStore(runs_dir)
        self._log = log or self._log_to_run  # no console (the TUI's own process): the run's train.log
        self._thread: threading.Thread | None = None
        self.state: str = "created"
        self.error: str | None = None
        self.resumed = resume
        self._nonfinite = False
        self._started_writing = not resume  # a resume writes nothing until its setup succeeded
        self.training: Training | None = None  # what the run trains with, from setup to its end
        self.bundle: Any = None  # the run's data (engine.data.loaders.DataBundle), kept after its end
        self.progress = Progress()
        self._position: tuple[int, int] | None = None  # (epoch, batches done) while an epoch trains
        self._epoch_streams: dict[str, Any] | None = None  # the data streams of that epoch's start
        self._saved_epoch: int | None = None  # the epoch last.pt holds
        self._last_save_at = time.monotonic()
        # a rank of a data-parallel run (torchrun's variables); rank 0 alone writes the run folder
        self.dist = dist or DistContext()
        self._control_group = control_group
        self._rank_processes: list[tuple[str, int]] | None = None  # every rank's (machine, pid), once training starts
        if not self.dist.is_main:
            opened = follow_run(self.store, str(run_name), resume=resume, overrides=overrides, config=config,
                                log=self._log)
        elif resume:
            opened = reopen_run(self.store, run_name, overrides, config)
        else:
            opened = create_run(self.store, config or TrainConfig(), run_name, self._log)
        self.writer, self.config, self._record = opened.writer, opened.config, opened.record
        self._plan, self._resume_from = opened.plan, opened.resume_from
        self.run_name = self.writer.name
        self.run_path = self.writer.path
        self.control = RunControl(self.run_path)
        if opened.dropped_request:
            self._log(f"resume: a {opened.dropped_request} request asked of the run's previous process, which ended "
                      "before reading it, was dropped")
        self._events = EventEmitter(self.writer, self._log)
        self._data_wait = DataWaitMeter()  # the loop's data-wait timer, read by the system sampler
        self._sampler: Any = None  # engine.sysmetrics.sampler: system.jsonl while the run trains

    def _log_to_run(self, message: str) -> None:
        run_path = getattr(self, "run_path", None)
        if run_path is not None:
            from engine.console_log import append_to_run_log

            append_to_run_log(run_path, message)

    # ---- subscription -------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> None:
        """``callback(event)`` is called from the trainer thread after the event is on disk."""
        self._events.subscribe(callback)

    def events(self, maxsize: int = 0) -> "queue.Queue[TrainEvent]":
        """A new thread-safe queue that receives every later event."""
        return self._events.queue(maxsize)

    def _emit(self, event: TrainEvent) -> None:
        self._events.emit(event)

    # ---- control --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("Trainer already started")
        self.state = RunState.RUNNING
        self._thread = threading.Thread(target=self._run, name=f"trainer-{self.run_name}", daemon=True)
        self._thread.start()

    def run(self) -> str:
        """Train in the calling thread (the CLI); returns the final state."""
        self.state = RunState.RUNNING
        self._run()
        return self.state

    def stop(self, reason: str | Callable[[], str] = "") -> None:
        """Finish the current batch, save last.pt, mark the run stopped (``reason``: why, when it was
        not the user: a signal, its launcher gone)."""
        self.control.stop(reason)

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    @property
    def paused(self) -> bool:
        return self.control.paused

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- the run --------------------------------------------------------------------------------
    def _run(self) -> None:
        with kept_cudnn_benchmark():  # a CUDA setup turns it on: the process gets its own back at the end
            self._run_kept()

    def _run_kept(self) -> None:
        self.writer.start_heartbeat()
        self.control.reset_clock()
        t0 = time.time()
        try:
            try:
                self._train()
            except StopRequested:
                if self._started_writing:  # a resume stopped while it prepared has nothing to keep
                    self._save_on_stop()
                at = self._position  # (epoch, batches done) when the stop came inside an epoch
                batch = at[1] if at is not None and at[0] == self.progress.done_epoch + 1 else 0
                ended = outcome.stopped(self.progress.done_epoch, self.control.stop_reason, batch)
            except Diverged as exc:
                ended = outcome.diverged(exc, self.run_path, self.config.learning_rate, self.progress.done_epoch,
                                         self._saved_epoch)
            except Exception as exc:  # a PetsegError is its message; anything else one line + error.log
                # (a rank > 0 writes nothing in the run folder: its traceback goes to the temp dir)
                ended = outcome.failed(exc, self.run_path if self.dist.is_main else rank_scratch(self.dist, self.run_name),
                                       self.dist.world_size, self.dist.rank, self._rank_processes)
            else:
                # a time budget ends a run at the epochs it reached
                reached = self.progress.done_epoch if self.config.time_budget is not None else self.config.epochs
                ended = outcome.finished(reached, self.progress.best_dice, self.progress.best_epoch)
            self.state, self.error = ended.state, ended.error
            self._release()
            if not self._started_writing:
                self._abandon_resume(ended.message)
                return
            self._final_status(ended.state, ended.message)
            if self.dist.is_main:  # a request that came too late (x in the last batch) must not act on a later resume
                clear_control(self.run_path)
            paused = self.control.paused_seconds
            self._emit(ended.terminal(seconds=time.time() - t0 - paused) if ended.state == RunState.FINISHED
                       else ended.terminal())
        finally:
            if self.training is not None:  # _release did not get that far
                self.training.previews.close()
            self.writer.close()

    def _abandon_resume(self, message: str) -> None:
        """A resume that was stopped or failed before it trained: the run keeps its state, config
        and checkpoints; the reason is kept as a warning in its events, not as a terminal event."""
        if self.state == RunState.STOPPED:
            self._emit(RunWarning(message="resume stopped before training; the run is left as it was"))
        else:
            self.error = f"{message} — resume abandoned; {self.run_name} is left as it was"
            self._emit(RunWarning(message=self.error))

    def _start_sampler(self, t: Training) -> None:
        """System metrics into the run folder (rank 0 only: one writer per run folder), off this
        thread; a problem is a warning, never the run's end. Every rank tells rank 0 its process
        id first: the CPU % and RSS cover the run's ranks on rank 0's machine, not rank 0 alone."""
        # a collective: every rank, whatever its own state, joins it; every rank keeps the list, so
        # that one left by another can name it (`outcome.failed`)
        if self.dist.enabled:
            self._rank_processes = rank_processes(self._control_group, self.dist)
        pids = local_pids(self._rank_processes) if self._rank_processes and self.dist.is_main else None
        if not self.dist.is_main or self._sampler is not None:
            return
        try:
            from engine.sysmetrics.sampler import start_for_run

            self._sampler = start_for_run(self.run_path, self.store.root, t.device, self.dist.world_size,
                                          self._data_wait, self._log, pids=pids)
        except Exception as exc:
            self._log(f"warning: no system metrics for this run: {exc}")

    def _release(self) -> None:
        """Let go of what the run holds (`engine.train.release`), then stop the heartbeat."""
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.stop()  # its last sample still sees the run's processes
        t, self.training = self.training, None
        if t is not None:
            release_training(t, self._log, self._emit_saved)
            device = t.device
            del t  # the model, EMA, optimiser and device-resident data go before the cache is emptied
            free_device(device, self._log)
        self.writer.stop_heartbeat()

    def _final_status(self, state: str, message: str) -> None:
        """Write the terminal status; a failure (full disk) is logged, never raised: the
        terminal event still goes to events.jsonl if it can, and the store then shows a run
        whose status says running as interrupted once its heartbeat stops."""
        try:
            self.writer.set_status(state, message)
        except OSError as exc:
            self._log(f"warning: how the run ended is not recorded ({one_line(exc)}); it is listed as "
                      "interrupted, and --resume continues it once it can be written")

    # ---- setup and the epochs -------------------------------------------------------------------
    def _prepare_training(self) -> Training:
        recorded = Recorded(self._record, self.resumed, frozenset(self._plan.applied) if self._plan else frozenset())
        self.training = t = setup_training(  # held by the trainer from here: _release lets it go
            self.config, self.run_path, self.run_name, restoring=self._resume_from is not None, recorded=recorded,
            log=self._log, emit=self._emit, stop_point=self._stop_point, dist=self.dist,
            control_group=self._control_group)
        self.bundle = t.bundle
        if self._resume_from is not None:
            self.progress = restore(t, self._resume_from, self.config, self._plan, self._log,
                                    rank=self.dist.rank, world_size=self.dist.world_size,
                                    warn=(lambda m: self._emit(RunWarning(message=m))) if self.dist.is_main else (lambda m: None))
        elif self.resumed:
            self._log("resume: no last.pt (the run ended before it saved one); restarting the run from epoch 1")
        changed = global_batch_change(self._record, self.config.batch_size, self.dist.world_size)
        if self.resumed and changed and self.dist.is_main:
            self._emit(RunWarning(message=changed))
        self._record = resolved_record(self._record, t, self._plan, self._log)
        if self.dist.enabled:
            self._record["distributed"] = distributed_record(self.dist, self.config.batch_size, self.config.seed,
                                                             self.config.sync_bn, backend_for(t.device.type))
        else:
            self._record.pop("distributed", None)
        self.writer.write_config(self._record)
        return t

    def _train(self) -> None:
        t = self._prepare_training()
        self._start_sampler(t)
        cfg = self.config
        if not self._started_writing:  # a resume: from here on it changes the run
            self.writer.set_status(RunState.RUNNING, f"resumed at epoch {self.progress.start_epoch}")
            self._started_writing = True
        self._emit(
            RunStarted(
                run=self.run_name,
                total_epochs=cfg.epochs or 0,  # 0: no epoch bound (a time budget alone)
                start_epoch=self.progress.start_epoch,
                train_size=len(t.bundle.train),
                valid_size=len(t.bundle.valid),
                device=f"{t.device}" + (f" ({dtype_name(t.amp_dtype)})" if t.amp_dtype else ""),
                data=t.bundle.source.description,
                resumed=self.resumed,
            )
        )
        if self.resumed:
            self.writer.set_status(RunState.RUNNING)  # the resume is done: drop the "resuming" note
        if t.budget is not None:  # --time_budget: the clock starts with the first epoch, pauses left out
            t.budget.start(self.progress.done_epoch + self.progress.skip_batches / max(1, len(t.train_loader)),
                           lambda: self.control.paused_seconds)
        spent = t.budget is not None and t.budget.spent()  # a resume of a run whose budget is spent
        epochs = itertools.count(self.progress.start_epoch) if cfg.epochs is None else range(
            self.progress.start_epoch, cfg.epochs + 1)  # no epoch bound: the time budget ends the loop
        for epoch in epochs:
            if spent or self._run_epoch(t, epoch):
                break
        self._flush_checkpoints()  # "finished" means best.pt and last.pt are on disk
        if t.budget is not None:
            self._record_budget(t.budget)

    def _record_budget(self, budget: Any) -> None:
        """config.json says what the time budget came to: the epochs it reached (RunFinished's
        ``epochs`` says it too) and the training seconds it counted."""
        self._record["time_budget_result"] = {"epochs_reached": self.progress.done_epoch,
                                              "budget_seconds": budget.budget_seconds,
                                              "trained_seconds": round(budget.elapsed(), 3)}
        self.writer.write_config(self._record)

    def prepare(self) -> Training:
        """Build data, model and optimiser as a run would, without training (for benchmarks)."""
        return self._prepare_training()

    def close(self) -> None:
        """Let go of what `prepare` built (worker processes, device memory) and close the run
        folder; a run started with `start`/`run` does this by itself when it ends."""
        self._release()
        self.writer.close()

    def _run_epoch(self, t: Training, epoch: int) -> bool:
        """One epoch: train, validate, step the schedule, report, checkpoint. True: it was the
        last (a time budget decides that once, here, so the report and last.pt agree)."""
        cfg, p = self.config, self.progress
        self._emit(EpochStarted(epoch=epoch, total_epochs=cfg.epochs or 0, batches=len(t.train_loader),
                                lr=float(t.optimizer.param_groups[0]["lr"])))
        # what a stop or pause inside this epoch saves as its data streams (see checkpoint_state)
        self._epoch_streams = data_streams(t)
        skip, p.skip_batches = (p.skip_batches if epoch == p.start_epoch else 0), 0
        try:
            world = self.dist.world_size
            trained = train_one_epoch(
                t.train_step, t.model, t.train_loader, t.device, epoch,
                # data-parallel: control and divergence are agreed after each batch (_agree)
                between_batches=self._before_rank_batch if self.dist.enabled else self._between_batches,
                report=self._emit if world == 1 else
                (lambda ev: self._emit(dataclasses.replace(ev, images_per_s=ev.images_per_s * world))),
                paused_seconds=lambda: self.control.paused_seconds,
                agree=self._agree if self.dist.enabled else None, data_wait=self._data_wait.add,
                after_step=t.budget.after_step if t.budget is not None else None, reduce=t.reduce, skip=skip,
                counted=counted_images(t.train_loader))
            self._position = None  # the epoch is trained: a save from here is an end-of-epoch one
            t_valid = time.perf_counter()
            valid = t.evaluate()
            valid_seconds = time.perf_counter() - t_valid
            if not math.isfinite(valid["loss"]):
                raise Diverged(epoch, len(t.train_loader), f"{valid['loss']} on validation")
        except Diverged:
            self._nonfinite = True  # no checkpoint of these weights from here on
            raise
        if t.budget is not None:
            t.budget.epoch_ended()  # the training seconds last.pt records
        # a time budget spent (mid-epoch, in train_one_epoch) makes this epoch the last
        last = epoch == cfg.epochs or (t.budget is not None and t.budget.spent())
        # what validation scored (the EMA weights when on), uncompiled: a batch of 4 never recompiles
        if self.dist.is_main:  # rank 0 writes the run folder
            t.previews.capture(epoch, t.scored, final=last)
        lr = t.optimizer.param_groups[0]["lr"]
        if t.scheduler is not None:
            if cfg.scheduler == "plateau":
                t.scheduler.step(valid["dice"])
            else:
                t.scheduler.step()
        p.done_epoch = epoch
        improved = valid["dice"] > p.best_dice
        if improved:
            p.best_dice, p.best_epoch = valid["dice"], epoch
        self._emit(
            EpochEnded(
                epoch=epoch,
                total_epochs=epoch if last else cfg.epochs or 0,  # a spent time budget: the epochs it reached
                train_loss=trained.loss,
                train_dice=trained.dice,
                valid_loss=valid["loss"],
                valid_dice=valid["dice"],
                valid_iou=valid["iou"],
                valid_dice_per_image=valid["dice_per_image"],
                valid_iou_per_image=valid["iou_per_image"],
                lr=lr,
                seconds=time.time() - trained.started - (self.control.paused_seconds - trained.paused_before),
                images_per_s=trained.images / max(trained.seconds, 1e-9),  # the whole run's (reduced over the ranks)
                best_dice=p.best_dice,
                best_epoch=p.best_epoch,
                first_batch_t=trained.first_batch_t,
                train_seconds=round(trained.step_seconds, 4),
                valid_seconds=round(valid_seconds, 4),
            )
        )
        self._checkpoint_epoch(valid["dice"], improved, last)
        return last
