"""`Trainer`: one training run in a background thread, emitting typed events as it goes.

Every event is appended to the run's ``events.jsonl`` before subscribers see it, so what the
TUI shows for a run in this process and for a run in another process is the same file.
Control (stop / pause / resume) works from any thread through methods here, and from any
process through ``engine.runs.request_control`` (polled between batches).

Checkpoints: ``best.pt`` whenever the validation Dice improves, ``last.pt`` at most every
``checkpoint_interval`` seconds at an epoch end, and always at the end, on stop, on pause; both
written by a background `CheckpointSaver` from a snapshot. Whatever way a run ends, the trainer
writes what is pending, stops its loaders' worker processes and threads and releases the GPU
BEFORE it emits the terminal event, so a process may exit as soon as it sees that event.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import queue
import random
import sys
import threading
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from engine import __version__
from engine.checkpoint import FORMAT, load_checkpoint
from engine.train.checkpoint_saver import CheckpointSaver
from engine.train.compile import compile_model, resolve_compile
from engine.config import DATA_PATH_ENV, TrainConfig, auto_warmup_epochs, requested_data_path
from engine.data.device_batches import resolve_augment_on
from engine.device import cap_workers, resolve_amp, resolve_device
from engine.train.ema import build_ema, restore_weights, resume_state, scored_weights
from engine.errors import CheckpointError, ConfigError, PetsegError, RunStoreError, describe_error
from engine.events import (
    BatchProgress,
    CheckpointSaved,
    EpochEnded,
    EpochStarted,
    RunDiverged,
    RunFailed,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    RunStopped,
    RunWarning,
    TrainEvent,
)
from engine.train.resume import apply_budget, plan_for_run
from engine.runs import RunStore, checkpoint_path, clear_control, read_control
from engine.train.schedule import build_scheduler
from engine.train.train_loop import Diverged, Training, train_one_epoch

CONTROL_POLL_INTERVAL = 0.25

Subscriber = Callable[[TrainEvent], None]


class _StopRequested(Exception):
    pass


def versions() -> dict[str, str]:
    import torchvision

    try:
        import albumentations

        alb = albumentations.__version__
    except Exception:  # pragma: no cover - albumentations is a hard dependency
        alb = "?"
    return {
        "petseg": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "albumentations": alb,
        "numpy": np.__version__,
    }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    py = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    py = state.get("python")
    if py:
        random.setstate((py[0], tuple(py[1]), py[2]))
    npst = state.get("numpy")
    if npst:
        np.random.set_state((npst[0], npst[1].numpy().astype(np.uint32), *npst[2:]))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _check_machine(config: TrainConfig) -> None:
    """What field_errors cannot know: the device exists here, a --pretrained file exists.
    Checked before a run folder is created (or a resumed run is touched)."""
    resolve_device(config.device)
    if config.pretrained not in (None, "imagenet") and not Path(config.pretrained).expanduser().is_file():
        raise ConfigError(f"--pretrained {config.pretrained}: no such file (give a resnet34 .pth state_dict or imagenet)")


class Trainer:
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
    ) -> None:
        self.store = RunStore(runs_dir)
        self._log = log or (lambda msg: None)
        self._subscribers: list[Subscriber] = []
        self._sub_lock = threading.Lock()
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._thread: threading.Thread | None = None
        self.state = "created"
        self.error: str | None = None
        self.resumed = resume
        self._nonfinite = False
        self._resume_from = None
        self._plan = None  # engine.train.resume.ResumePlan of a resume
        self._started_writing = not resume  # a resume writes nothing until its setup succeeded
        self._paused_s = 0.0  # seconds spent paused so far (see _between_batches)
        self.training: Training | None = None  # what the run trains with, from setup to its end
        self.bundle: Any = None  # the run's data (engine.data.loaders.DataBundle), kept after its end
        # progress: epochs done, the best so far, where the run starts, what last.pt holds
        self._done_epoch, self._best_dice, self._best_epoch, self._start_epoch = 0, -1.0, 0, 1
        self._saved_epoch: int | None = None
        self._last_save_at = time.monotonic()
        if resume:
            if not run_name:
                raise RunStoreError(runs_dir, "--resume needs a run name")
            self.writer = self.store.open_for_resume(self.store.resolve(run_name))  # one writer per run
            try:
                if overrides is None and config is not None:  # the older call: only a new epoch budget
                    overrides = {"epochs": config.epochs}
                self._plan = plan_for_run(self.writer.path, overrides or {})
                self.config = self._plan.config
                self._record = self._plan.stored  # config.json, rewritten once the resume has set up
                _check_machine(self.config)  # a missing device refuses before anything changes
            except BaseException:
                self.writer.close()
                raise
            # No last.pt: the run died before its first epoch ended. Nothing was learned that
            # could be lost, so "resume" restarts it from epoch 1 with its own config and seed.
            self._resume_from: Path | None = self._plan.checkpoint_path
        else:
            self.config = config or TrainConfig()
            self.config.validate()
            _check_machine(self.config)  # before the run folder exists
            # $PETSEG_DATA is read once, here, so config.json (and a later resume or eval) names
            # the dataset this run was given rather than whatever the variable says then
            requested = requested_data_path(self.config.data_path)
            if requested != self.config.data_path:
                self._log(f"data: no --data_path given; ${DATA_PATH_ENV} names {requested}")
            # auto warm-up resolved once, here: config.json records the number, so a resume with a
            # new epoch budget keeps the warm-up the run trained with
            warmup = self.config.warmup_epochs
            if warmup is None:
                warmup = auto_warmup_epochs(self.config.epochs, self.config.scheduler)
            self.config = dataclasses.replace(self.config, data_path=requested, warmup_epochs=warmup)
            from engine.data.layout import data_path_problem

            problem = data_path_problem(self.config.data_path, self.config.download)
            if problem:  # as _check_machine: refused before a run folder (and a taken name) exists
                raise ConfigError(problem)
            # config.json at once, as asked: the TUI shows (and a detached launch finds) the run
            # while its data decodes; `_write_config` adds what setup resolved
            self._record = {**self.config.to_dict(), "versions": versions(), "argv": sys.argv}
            self.writer = self.store.create(self._record, run_name)
        self.run_name = self.writer.name
        self.run_path = self.writer.path

    # ---- subscription -------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> None:
        """``callback(event)`` is called from the trainer thread after the event is on disk."""
        with self._sub_lock:
            self._subscribers.append(callback)

    def events(self, maxsize: int = 0) -> "queue.Queue[TrainEvent]":
        """A new thread-safe queue that receives every later event."""
        q: queue.Queue[TrainEvent] = queue.Queue(maxsize)

        def put(event: TrainEvent) -> None:
            try:
                q.put_nowait(event)
            except queue.Full:  # a slow consumer loses batch events, never blocks training
                if not isinstance(event, BatchProgress):
                    q.put(event)

        self.subscribe(put)
        return q

    def _emit(self, event: TrainEvent) -> None:
        # fsync what a crash must not lose; an epoch's start is not worth a disk flush per epoch
        sync = not isinstance(event, (BatchProgress, EpochStarted))
        try:
            self.writer.append(event, sync=sync)
        except OSError as exc:
            self._log(f"warning: could not append to {self.writer.events_path}: {exc}")
        with self._sub_lock:
            subs = list(self._subscribers)
        for cb in subs:
            try:
                cb(event)
            except Exception:  # a broken subscriber must not kill training
                traceback.print_exc()

    # ---- control --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("Trainer already started")
        self.state = "running"
        self._thread = threading.Thread(target=self._run, name=f"trainer-{self.run_name}", daemon=True)
        self._thread.start()

    def run(self) -> str:
        """Train in the calling thread (the CLI); returns the final state."""
        self.state = "running"
        self._run()
        return self.state

    def stop(self) -> None:
        """Finish the current batch, save last.pt, mark the run stopped."""
        self._stop.set()
        self._unpaused.set()

    def pause(self) -> None:
        self._unpaused.clear()

    def resume(self) -> None:
        self._unpaused.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _poll_control(self) -> None:
        action = read_control(self.run_path)
        if action is None:
            return
        clear_control(self.run_path)
        if action == "stop":
            self.stop()
        elif action == "pause":
            self.pause()
        elif action == "resume":
            self.resume()

    def _stop_point(self, *_: Any) -> None:
        if self._stop.is_set():
            raise _StopRequested

    def _between_batches(self, epoch: int, batch: int) -> None:
        """Before each batch: obey a control request (from another process every
        CONTROL_POLL_INTERVAL), report checkpoints the saver finished, raise on stop, and wait
        out a pause (saving last.pt first, and leaving the paused time out of the run's)."""
        now = time.monotonic()
        if now - self._last_control_poll >= CONTROL_POLL_INTERVAL:
            self._last_control_poll = now
            self._poll_control()
        self._emit_saved()
        if self._stop.is_set():
            raise _StopRequested
        if not self._unpaused.is_set():
            paused_at = time.monotonic()
            self.writer.set_status("paused")
            self._emit(RunPaused(epoch=epoch, batch=batch))
            # a paused run may be left for hours (or killed): keep what it has learned so far
            self._save("last", float("nan"))
            while not self._unpaused.wait(CONTROL_POLL_INTERVAL):
                self._poll_control()
                self._emit_saved()
            self._paused_s += time.monotonic() - paused_at  # not training time: rates and ETAs leave it out
            if self._stop.is_set():
                raise _StopRequested
            self.writer.set_status("running")
            self._emit(RunResumed(epoch=epoch, batch=batch))

    # ---- the run --------------------------------------------------------------------------------
    def _run(self) -> None:
        self.writer.start_heartbeat()
        self._last_control_poll = 0.0
        self._paused_s = 0.0
        t0 = time.time()
        terminal: Callable[..., TrainEvent]  # made after the release, so its time stamp is the end
        try:
            try:
                self._train()
            except _StopRequested:
                self.state = "stopped"
                if self._started_writing:  # a resume stopped while it prepared has nothing to keep
                    self._save_on_stop()
                message = "stopped by user"
                terminal = partial(RunStopped, epoch=self._done_epoch, reason=message)
            except Diverged as exc:
                self.state = "diverged"
                kept = (f"last.pt holds epoch {self._saved_epoch}" if self._saved_epoch is not None
                        else "no epoch finished, so no last.pt" if not self._done_epoch else "no last.pt was saved")
                self.error = message = (
                    f"{self.run_path}: loss is {exc.value} at epoch {exc.epoch}, batch {exc.batch} — training "
                    f"diverged (learning rate {self.config.learning_rate} too high?); {kept}"
                )
                terminal = partial(RunDiverged, epoch=exc.epoch, batch=exc.batch, message=message)
            except PetsegError as exc:
                self.state = "failed"
                self.error = message = str(exc)
                terminal = partial(RunFailed, message=message)
            except Exception as exc:  # unexpected: one line for the user, the traceback in the run folder
                self.state = "failed"
                first = (str(exc).splitlines() or [""])[0]
                try:
                    (self.run_path / "error.log").write_text(traceback.format_exc())
                except OSError:
                    pass
                sentence = describe_error(exc)  # an OS error on a named path: a sentence, not a type
                self.error = message = sentence or f"{type(exc).__name__}: {first} (traceback in {self.run_path / 'error.log'})"
                terminal = partial(RunFailed, message=message)
            else:
                self.state = "finished"
                message = f"best valid Dice {self._best_dice:.4f} at epoch {self._best_epoch}"
                terminal = partial(RunFinished, epochs=self.config.epochs, best_dice=self._best_dice,
                                   best_epoch=self._best_epoch)
            self._release()
            if not self._started_writing:
                self._abandon_resume(message)
                return
            self._final_status(self.state, message)
            self._emit(terminal(seconds=time.time() - t0 - self._paused_s) if self.state == "finished" else terminal())
        finally:
            if self.training is not None:  # _release did not get that far
                self.training.previews.close()
            self.writer.close()

    def _abandon_resume(self, message: str) -> None:
        """A resume that was stopped or failed before it trained: the run keeps its state, config
        and checkpoints; the reason is kept as a warning in its events, not as a terminal event."""
        if self.state == "stopped":
            self._emit(RunWarning(message="resume stopped before training; the run is left as it was"))
        else:
            self.error = f"{message} — resume abandoned; {self.run_name} is left as it was"
            self._emit(RunWarning(message=self.error))

    def _release(self) -> None:
        """Everything a finished run holds, let go before the terminal event: pending checkpoint
        writes finished, DataLoader worker processes and pin-memory threads stopped, the preview
        writer finished, the model, its EMA, the optimiser and device-resident data dropped, the
        CUDA cache emptied, the heartbeat stopped. Never raises (a problem is logged): the run must still reach its end."""
        from engine.data.loaders import shutdown_loader

        t, self.training = self.training, None
        if t is not None:
            t.saver.close()
            try:
                t.saver.raise_error()
            except Exception as exc:
                self._log(f"warning: {exc}")
            self._emit_saved(t.saver)
            for name, loader in (("train loader", t.train_loader), ("valid loader", t.valid_loader)):
                try:
                    shutdown_loader(loader)
                except Exception as exc:  # pragma: no cover - torch internals
                    self._log(f"warning: could not stop the {name}'s workers: {exc}")
            t.previews.close()  # its writer thread finishes the last epoch's preview, then ends
            try:
                if t.compile_mode != "off":
                    torch.compiler.reset()  # compiled graphs (and CUDA graph pools) hold device memory
                device = t.device
                del t  # the model, EMA, optimiser and device-resident data go before the cache is emptied
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                    torch.cuda.empty_cache()
            except Exception as exc:  # pragma: no cover - a broken device must not hide the run's end
                self._log(f"warning: releasing the device: {exc}")
        self.writer.stop_heartbeat()

    def _final_status(self, state: str, message: str) -> None:
        """Write the terminal status; a failure (full disk) is logged, never raised: the
        terminal event still goes to events.jsonl if it can, and the store then shows a run
        whose status says running as interrupted once its heartbeat stops."""
        try:
            self.writer.set_status(state, message)
        except OSError as exc:
            self._log(f"warning: could not write {self.writer.status_path}: {exc}")

    def _setup(self) -> Training:
        """Data, loaders, model, optimiser and the rest, as this run's config and machine say."""
        from engine.data.loaders import build_datasets, make_loader
        from engine.train.losses import BCEDiceLoss
        from engine.models import build_model, model_kwargs
        from engine.train.previews import PreviewWriter

        cfg = self.config
        seed_everything(cfg.seed)
        device = resolve_device(cfg.device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True

        # a stop (Ctrl-C, SIGTERM, the TUI) during a long first decode ends it now, not after it
        bundle = build_datasets(cfg, log=self._log, on_progress=self._stop_point)
        self.bundle = bundle
        if bundle.skipped:
            name, reason = bundle.skipped[0]
            self._emit(RunWarning(message=f"skipped {len(bundle.skipped)} unreadable image(s); first: {name}: {reason}"))
        for warning in bundle.warnings:  # duplicated names, train/test overlap
            self._emit(RunWarning(message=warning))
        if len(bundle.train) == 0:
            raise PetsegError(f"{bundle.source.path}: no usable training images")
        if len(bundle.valid) == 0:
            raise PetsegError(f"{bundle.source.path}: no validation images (need at least {cfg.valid_every} in trainval)")
        # drop_last below leaves no short last batch; a split smaller than one batch is one batch
        why = cfg.single_value_batch_problem(min(len(bundle.train), cfg.batch_size))
        if why:
            raise PetsegError(f"{bundle.source.path}: only {len(bundle.train)} training image(s) — {why}")
        amp_dtype, amp_probe = self._resolve_amp(device)  # after the data: a bad folder fails first
        augment_on = resolve_augment_on(cfg.augment_on, device)
        drop_last = len(bundle.train) > cfg.batch_size
        train_loader: Any
        valid_loader: Any
        if augment_on == "device":
            from engine.data.augment_spec import augment_spec
            from engine.data.batch_augment import BatchAugment
            from engine.data.device_batches import DeviceBatches

            # no DataLoader workers: the uint8 split stays on the device, augmented there in
            # batches with the same recipe (--augment_strength) as the CPU path's train_transform
            workers = 0
            augment = BatchAugment(augment_spec(cfg.augment_strength), device=device, seed=cfg.seed)
            train_loader = DeviceBatches(bundle.train.arrays, cfg.mask_rule, cfg.batch_size, shuffle=True,
                                         device=device, seed=cfg.seed, drop_last=drop_last, augment=augment)
            valid_loader = DeviceBatches(bundle.valid.arrays, cfg.mask_rule, cfg.batch_size, shuffle=False,
                                         device=device, seed=cfg.seed)
        else:
            workers, note = cap_workers(cfg.workers)
            if note:
                self._emit(RunWarning(message=note))
            train_loader = make_loader(bundle.train, cfg.batch_size, shuffle=True, workers=workers,
                                       device_type=device.type, seed=cfg.seed, drop_last=drop_last)
            valid_loader = make_loader(bundle.valid, cfg.batch_size, shuffle=False, workers=workers,
                                       device_type=device.type, seed=cfg.seed)
        restoring = self._resume_from is not None  # weights come from last.pt, not from pretrained
        model = build_model(cfg.model, width=cfg.width, pretrained=None if restoring else cfg.pretrained)
        # channels_last: faster convolutions on CUDA (tensor cores) and on CPU (oneDNN's blocked
        # kernels: 1.15-1.2x alone, 2.2-2.6x with bf16 autocast on a 2-core AVX512-BF16 EPYC; docs/PERFORMANCE.md)
        memory_format = torch.channels_last if (cfg.channels_last and device.type in ("cuda", "cpu")) else torch.contiguous_format
        model = model.to(device, memory_format=memory_format)
        compile_mode = self._kept_from_record("compile", "compile_resolved", device)  # a resumed run keeps its numerics
        if compile_mode is None:
            compile_mode = resolve_compile(cfg.compile, device, len(train_loader) * cfg.epochs)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        return Training(
            device=device, bundle=bundle, train_loader=train_loader, valid_loader=valid_loader,
            augment_on=augment_on, workers=workers,
            arch={"name": cfg.model, "kwargs": model_kwargs(cfg.model, cfg.width)},
            model=model, forward=compile_model(model, compile_mode), ema=build_ema(model, cfg.ema_decay),
            criterion=BCEDiceLoss(cfg.bce_weight, cfg.dice_weight), optimizer=optimizer,
            scheduler=build_scheduler(optimizer, cfg),
            scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
            amp_dtype=amp_dtype, amp_probe=amp_probe, memory_format=memory_format, compile_mode=compile_mode,
            grad_clip=cfg.grad_clip,
            previews=PreviewWriter(self.run_path, bundle.valid, image_size=cfg.image_size, mask_rule=cfg.mask_rule,
                                   device=device, memory_format=memory_format, amp_dtype=amp_dtype, log=self._log),
            saver=CheckpointSaver(name=f"checkpoints-{self.run_name}"),
        )

    def _resolve_amp(self, device: torch.device) -> tuple[torch.dtype | None, dict[str, Any] | None]:
        """(autocast dtype, probe record or None). A resumed run keeps the precision it was
        trained in (the same device type, no new --amp given), so that it repeats an
        uninterrupted run exactly."""
        cfg = self.config
        kept = self._kept_from_record("amp", "amp_resolved", device)
        if kept is not None:
            return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(kept), self._record.get("amp_probe")
        if cfg.amp == "auto" and device.type == "cpu":
            from engine.train.precision import cpu_autocast_dtype

            return cpu_autocast_dtype(cfg.model, cfg.width, cfg.image_size, cfg.channels_last, cfg.batch_size,
                                      log=self._log)
        return resolve_amp(cfg.amp, device), None

    def _kept_from_record(self, flag: str, key: str, device: torch.device) -> Any:
        """config.json's ``key`` (what a run resolved ``flag`` to) when a resume keeps it: the same
        device type as recorded and no new ``--flag`` given with --resume; else None."""
        if not self.resumed or (self._plan is not None and flag in self._plan.applied):
            return None
        if str(self._record.get("device_resolved", "")).split(":")[0] != device.type:
            return None
        return self._record.get(key) or None

    def _write_config(self, t: Training) -> None:
        """config.json with what the data and the compute actually were (written after a resume's
        restore: one that failed has changed nothing)."""
        record = self._plan.updated_record(self._record) if self._plan is not None else dict(self._record)
        if self._plan is not None:
            for note in self._plan.notes():
                self._log(note)
        source = t.bundle.source
        record["data_source"] = {"path": str(source.path), "kind": source.kind, "description": source.description,
                                 "train": len(t.bundle.train), "valid": len(t.bundle.valid)}
        record["device_resolved"] = str(t.device)
        record["amp_resolved"] = _dtype_name(t.amp_dtype)
        if t.amp_probe is not None:
            record["amp_probe"] = t.amp_probe
        else:
            record.pop("amp_probe", None)  # no probe decided this precision (CUDA, an explicit --amp)
        record["workers_used"] = t.workers
        record["augment_on_resolved"] = t.augment_on
        record["compile_resolved"] = t.compile_mode
        if t.augment_on == "device":
            record["data_placement"] = t.train_loader.placement
        else:
            record.pop("data_placement", None)
        self.writer.write_config(record)
        self._record = record

    def _restore(self, t: Training, path: Path) -> None:
        ckpt = load_checkpoint(path, map_location=t.device)
        if ckpt.get("arch", {}).get("name") != self.config.model:
            raise CheckpointError(path, f"is a {ckpt['arch']['name']} checkpoint but the run is {self.config.model}")
        restore_weights(t.model, t.ema, ckpt, path)
        for key, obj in (("optimizer", t.optimizer), ("scheduler", t.scheduler), ("scaler", t.scaler)):
            if obj is not None and ckpt.get(key) is not None:
                obj.load_state_dict(ckpt[key])
        if self._plan is not None:
            apply_budget(self._plan, t.scheduler, t.optimizer)  # a new epoch budget, if any
        self._done_epoch = int(ckpt.get("epoch", 0))
        self._best_dice = float(ckpt.get("best_dice", -1.0))
        self._best_epoch = int(ckpt.get("best_epoch", 0))
        self._start_epoch = self._done_epoch + 1
        from engine.data.transforms import set_transform_rng_state

        rng = ckpt.get("rng")
        if rng:
            _set_rng_state(rng)
            # The shuffling generator and the augmentation stream continue where the saved epoch
            # left them, so a resumed run repeats an uninterrupted one (exactly with workers=0:
            # worker processes carry their own augmentation state, which no checkpoint holds).
            if rng.get("loader") is not None:
                t.train_loader.generator.set_state(rng["loader"])
            augment = rng.get("augment")
            if t.augment_on == "device":
                restored = t.train_loader.set_augment_state(augment.get("device") if isinstance(augment, dict) else None)
            else:
                restored = set_transform_rng_state(t.bundle.train.transform, augment)
            if augment is not None and not restored:
                self._log("resume: the saved augmentation stream belongs to the other data path "
                          "(cpu/device); augmentations restart from the seed")

    def _checkpoint_state(self, t: Training, full: bool, valid_dice: float) -> dict[str, Any]:
        state: dict[str, Any] = {
            "format": FORMAT,
            "arch": t.arch,
            "model": scored_weights(t.model, t.ema),  # what validation scored
            "image_size": self.config.image_size,
            "mask_rule": self.config.mask_rule,
            "normalize": {"mean": 0.5, "std": 0.5},
            "epoch": self._done_epoch,
            "best_dice": self._best_dice,
            "best_epoch": self._best_epoch,
            "valid_dice": valid_dice,
            "config": self.config.to_dict(),
        }
        if full:
            state.update(resume_state(t.model, t.ema))
            state["optimizer"] = t.optimizer.state_dict()
            state["scheduler"] = t.scheduler.state_dict() if t.scheduler is not None else None
            state["scaler"] = t.scaler.state_dict() if t.scaler.is_enabled() else None
            from engine.data.transforms import transform_rng_state

            state["rng"] = _rng_state()
            state["rng"]["loader"] = t.train_loader.generator.get_state()
            if t.augment_on == "device":
                state["rng"]["augment"] = {"device": t.train_loader.augment_state()}
            else:
                state["rng"]["augment"] = transform_rng_state(t.bundle.train.transform)
        return state

    def _save(self, which: str, valid_dice: float) -> None:
        """Hand a snapshot of ``which``.pt to the background saver (``CheckpointSaved`` follows
        when it is on disk). Mid-epoch saves (stop, pause) skip weights that are no longer finite."""
        t = self.training
        if t is None or self._nonfinite:
            return
        path = checkpoint_path(self.run_path, which)
        if math.isnan(valid_dice) and not _weights_finite(t.model):
            self._log(f"warning: not saving {path.name}: the weights are no longer finite")
            return
        info = CheckpointSaved(epoch=self._done_epoch, which=which, path=str(path), valid_dice=valid_dice)
        t.saver.submit(path, self._checkpoint_state(t, which == "last", valid_dice), info)
        if which == "last":
            self._saved_epoch = self._done_epoch
            self._last_save_at = time.monotonic()

    def _emit_saved(self, saver: CheckpointSaver | None = None) -> None:
        """Emit ``CheckpointSaved`` for what the saver finished writing (from this thread, so
        events keep one order); raises the error of a failed write of the running run."""
        running = self.training.saver if self.training is not None else None
        saver = saver or running
        if saver is None:
            return
        for done in saver.completed():
            self._emit(dataclasses.replace(done.info, t=time.time(), snapshot_seconds=round(done.snapshot_seconds, 4),
                                           write_seconds=round(done.write_seconds, 4)))
        if saver is running:
            saver.raise_error()

    def _flush_checkpoints(self) -> None:
        if self.training is not None:
            self.training.saver.wait()
            self._emit_saved()

    def _save_on_stop(self) -> None:
        """Stop mid-epoch: keep the weights trained so far; the epoch counter stays at the last
        finished epoch, so a resume re-runs the interrupted epoch (no epoch counted twice).
        Waits until it is on disk: a signal-triggered exit follows."""
        try:
            self._save("last", float("nan"))
            self._flush_checkpoints()
        except PetsegError as exc:
            self._log(f"warning: {exc}")

    def _prepare_training(self) -> Training:
        self.training = t = self._setup()  # held by the trainer from here: _release lets it go
        if self._resume_from is not None:
            self._restore(t, self._resume_from)
        elif self.resumed:
            self._log("resume: no last.pt (no epoch had finished); restarting the run from epoch 1")
        self._write_config(t)
        return t

    def _train(self) -> None:
        t = self._prepare_training()
        cfg = self.config
        if not self._started_writing:  # a resume: from here on it changes the run
            self.writer.set_status("running", f"resumed at epoch {self._start_epoch}")
            self._started_writing = True
        self._emit(
            RunStarted(
                run=self.run_name,
                total_epochs=cfg.epochs,
                start_epoch=self._start_epoch,
                train_size=len(t.bundle.train),
                valid_size=len(t.bundle.valid),
                device=f"{t.device}" + (f" ({_dtype_name(t.amp_dtype)})" if t.amp_dtype else ""),
                data=t.bundle.source.description,
                resumed=self.resumed,
            )
        )
        if self.resumed:
            self.writer.set_status("running")  # the resume is done: drop the "resuming" note
        for epoch in range(self._start_epoch, cfg.epochs + 1):
            self._run_epoch(t, epoch)
        self._flush_checkpoints()  # "finished" means best.pt and last.pt are on disk

    def prepare(self) -> Training:
        """Build data, model and optimiser as a run would, without training (for benchmarks)."""
        return self._prepare_training()

    def close(self) -> None:
        """Let go of what `prepare` built (worker processes, device memory) and close the run
        folder; a run started with `start`/`run` does this by itself when it ends."""
        self._release()
        self.writer.close()

    def _run_epoch(self, t: Training, epoch: int) -> None:
        """One epoch: train, validate, step the schedule, report, checkpoint."""
        cfg = self.config
        self._emit(EpochStarted(epoch=epoch, total_epochs=cfg.epochs, batches=len(t.train_loader)))
        try:
            trained = train_one_epoch(t.train_step, t.model, t.train_loader, t.device, epoch,
                                      between_batches=self._between_batches, report=self._emit,
                                      paused_seconds=lambda: self._paused_s)
            t_valid = time.perf_counter()
            valid = t.evaluate()
            valid_seconds = time.perf_counter() - t_valid
            if not math.isfinite(valid["loss"]):
                raise Diverged(epoch, len(t.train_loader), f"{valid['loss']} on validation")
        except Diverged:
            self._nonfinite = True  # no checkpoint of these weights from here on
            raise
        # what validation scored (the EMA weights when on), uncompiled: a batch of 4 never recompiles
        t.previews.capture(epoch, t.scored, final=epoch == cfg.epochs)
        lr = t.optimizer.param_groups[0]["lr"]
        if t.scheduler is not None:
            if cfg.scheduler == "plateau":
                t.scheduler.step(valid["dice"])
            else:
                t.scheduler.step()
        self._done_epoch = epoch
        improved = valid["dice"] > self._best_dice
        if improved:
            self._best_dice, self._best_epoch = valid["dice"], epoch
        self._emit(
            EpochEnded(
                epoch=epoch,
                total_epochs=cfg.epochs,
                train_loss=trained.loss,
                train_dice=trained.dice,
                valid_loss=valid["loss"],
                valid_dice=valid["dice"],
                valid_iou=valid["iou"],
                valid_dice_per_image=valid["dice_per_image"],
                valid_iou_per_image=valid["iou_per_image"],
                lr=lr,
                seconds=time.time() - trained.started - (self._paused_s - trained.paused_before),
                images_per_s=trained.images / max(trained.seconds, 1e-9),
                best_dice=self._best_dice,
                best_epoch=self._best_epoch,
                first_batch_t=trained.first_batch_t,
                train_seconds=round(trained.step_seconds, 4),
                valid_seconds=round(valid_seconds, 4),
            )
        )
        if improved:
            self._save("best", valid["dice"])
        due = time.monotonic() - self._last_save_at >= cfg.checkpoint_interval
        if epoch == cfg.epochs or due:
            self._save("last", valid["dice"])
        self._emit_saved()


def _dtype_name(dtype: torch.dtype | None) -> str:
    """How config.json and the run's start line name a precision: bfloat16, float16, fp32."""
    return str(dtype).replace("torch.", "") if dtype is not None else "fp32"


def _weights_finite(model: torch.nn.Module) -> bool:
    return bool(torch.stack([p.detach().isfinite().all() for p in model.parameters()]).all())
