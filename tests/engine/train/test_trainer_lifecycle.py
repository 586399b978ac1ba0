"""Trainer's run from start to end: its events in order across threads, a stop, a pause (asked
in-process or through the control file) and paused time left out of training time, last.pt on its
time budget, the wall-time breakdown, and an end that leaves no worker, thread or cuDNN setting."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.config import GENERATED_DATA
from engine.events import TERMINAL_KINDS, TrainEvent
from engine.runs import RunStore, request_control
from engine.train.trainer import Trainer


def drain(q: "queue.Queue[TrainEvent]", timeout: float = 120) -> list[TrainEvent]:
    out = []
    while True:
        ev = q.get(timeout=timeout)
        out.append(ev)
        if ev.kind in TERMINAL_KINDS:
            return out


@pytest.mark.slow
def test_events_arrive_in_order_in_another_thread(tiny, tmp_path: Path) -> None:
    trainer = Trainer(tiny(), tmp_path)
    q = trainer.events()
    received: list[TrainEvent] = []
    consumer = threading.Thread(target=lambda: received.extend(drain(q)))
    consumer.start()
    trainer.start()
    consumer.join(180)
    assert trainer.join(10)
    kinds = [e.kind for e in received]
    assert kinds[0] == "run_started" and kinds[-1] == "finished"
    # per epoch: started, batches..., ended, then checkpoints
    for epoch in (1, 2):
        idx = [i for i, e in enumerate(received) if getattr(e, "epoch", None) == epoch]
        ep_kinds = [received[i].kind for i in idx]
        assert ep_kinds[0] == "epoch_started"
        assert "batch" in ep_kinds
        assert ep_kinds.index("epoch_ended") > max(i for i, k in enumerate(ep_kinds) if k == "batch")
        assert ep_kinds[-1] == "checkpoint"
    assert [e.t for e in received] == sorted(e.t for e in received)
    # the same events are on disk, and the store reads the same history
    on_disk = RunStore(tmp_path).load(trainer.run_name)
    assert sorted(on_disk.epochs) == [1, 2] and on_disk.state == "finished"
    status = json.loads((trainer.run_path / "status.json").read_text())
    assert status["state"] == "finished"
    config = json.loads((trainer.run_path / "config.json").read_text())
    assert config["data_source"]["kind"] == "generated" and config["data_path"] == GENERATED_DATA
    assert config["versions"]["torch"]
    for which in ("best", "last"):
        ck = load_checkpoint(trainer.run_path / "checkpoints" / f"{which}.pt")
        assert ck["arch"]["name"] == "unet" and ck["image_size"] == 64


@pytest.mark.slow
def test_each_epoch_starts_by_recording_the_rate_it_trains_at(tiny, tmp_path: Path) -> None:
    """epoch_started carries the learning rate of its epoch (the live screen's "LR now"), the
    rate epoch_ended then reports for it: a cosine over 3 epochs, 1e-3, 7.5e-4, 2.5e-4."""
    trainer = Trainer(tiny(epochs=3, max_train_images=8, warmup_epochs=0), tmp_path)
    trainer.run()
    lines = [json.loads(line) for line in (trainer.run_path / "events.jsonl").read_text().splitlines()]
    started = {e["epoch"]: e.get("lr") for e in lines if e["kind"] == "epoch_started"}
    ended = {e["epoch"]: e["lr"] for e in lines if e["kind"] == "epoch_ended"}
    assert started == ended, (started, ended)
    assert [round(started[ep], 7) for ep in (1, 2, 3)] == [1e-3, 7.5e-4, 2.5e-4]


@pytest.mark.slow
def test_stop_mid_run_saves_and_marks_stopped(tiny, tmp_path: Path) -> None:
    trainer = Trainer(tiny(epochs=50, max_train_images=48), tmp_path)
    first_batch = threading.Event()
    trainer.subscribe(lambda e: first_batch.set() if e.kind == "batch" else None)
    trainer.start()
    assert first_batch.wait(120)
    trainer.stop()
    assert trainer.join(60)
    assert trainer.state == "stopped"
    h = RunStore(tmp_path).load(trainer.run_name)
    assert h.state == "stopped" and h.terminal.kind == "stopped"
    assert len(h.epochs) < 50
    ck = load_checkpoint(trainer.run_path / "checkpoints" / "last.pt")
    assert ck["epoch"] == len(h.epochs)  # the interrupted epoch is not counted


@pytest.mark.slow
def test_pause_and_resume_from_control_file(tiny, tmp_path: Path) -> None:
    trainer = Trainer(tiny(epochs=3), tmp_path)
    q = trainer.events()
    paused = threading.Event()
    trainer.subscribe(lambda e: paused.set() if e.kind == "paused" else None)
    # another process asks through the run folder: the trainer polls between batches
    saved_while_paused = threading.Event()
    trainer.subscribe(lambda e: saved_while_paused.set()
                      if e.kind == "checkpoint" and e.which == "last" and paused.is_set() else None)
    request_control(trainer.run_path, "pause")
    trainer.start()
    assert paused.wait(120)
    status = json.loads((trainer.run_path / "status.json").read_text())
    assert status["state"] == "paused" and trainer.is_alive()
    # a paused run keeps what it has learned: last.pt is written while it waits
    assert saved_while_paused.wait(60) and (trainer.run_path / "checkpoints" / "last.pt").exists()
    request_control(trainer.run_path, "resume")
    kinds = [e.kind for e in drain(q)]
    assert kinds.index("paused") < kinds.index("resumed") < kinds.index("finished")


def test_a_stop_that_comes_after_the_last_batch_is_not_left_for_a_later_resume(tiny, tmp_path: Path) -> None:
    """x pressed during the last batch: the run has nothing left to stop and finishes; the
    request must not stay in the run folder, where a resume with more epochs would obey it."""
    from engine.runs import CONTROL_FILE

    trainer = Trainer(tiny(epochs=1), tmp_path)
    trainer.subscribe(lambda e: request_control(trainer.run_path, "stop") if e.kind == "epoch_ended" else None)
    assert trainer.run() == "finished"
    assert not (trainer.run_path / CONTROL_FILE).exists()


@pytest.mark.slow
def test_paused_time_is_not_training_time(tiny, tmp_path: Path) -> None:
    """Paused ~2 s in epoch 1: the epoch's seconds, its images/s and the run's duration leave the
    pause out (before, images/s fell and the stored epoch time grew by it)."""
    trainer = Trainer(tiny(epochs=1, batch_size=4, max_train_images=16), tmp_path)
    q = trainer.events()

    def pause_once(event: TrainEvent) -> None:
        # asked as the epoch starts: the trainer pauses before its first batch (batch events are
        # throttled, so "the first batch event" may come too late in a 4-batch epoch)
        if event.kind == "epoch_started" and not getattr(pause_once, "done", False):
            pause_once.done = True
            trainer.pause()
            threading.Timer(2.0, trainer.resume).start()

    trainer.subscribe(pause_once)
    t_start = time.time()
    trainer.start()
    events = drain(q)
    by_kind = {e.kind: e for e in events}
    paused_for = by_kind["resumed"].t - by_kind["paused"].t
    assert paused_for >= 1.0  # 2 s from the request, less the first batch's loading before the pause
    wall = by_kind["epoch_ended"].t - by_kind["epoch_started"].t
    ended = by_kind["epoch_ended"]
    # what the epoch reports is its wall time less the pause (fsyncs of the two events aside)
    assert abs((wall - ended.seconds) - paused_for) < 0.5, (wall, ended.seconds, paused_for)
    seen = 16
    assert ended.images_per_s > seen / (wall - paused_for + 0.5)
    run_wall = by_kind["finished"].t - by_kind["run_started"].t
    h = RunStore(tmp_path).load(trainer.run_name)
    assert h.duration == pytest.approx(run_wall - paused_for, abs=0.05)
    assert by_kind["finished"].seconds < by_kind["finished"].t - t_start - paused_for + 0.5


@pytest.mark.slow
@pytest.mark.parametrize("interval, saves", [(3600.0, [1, 3]), (0.0, [1, 2, 3])])
def test_last_pt_is_written_on_its_time_budget_and_at_the_end(tiny, tmp_path: Path, interval: float, saves) -> None:
    """last.pt at most every checkpoint_interval seconds (0: every epoch), always at the end and
    at the first epoch's end (a run killed after a short first epoch had no last.pt, and its
    resume started again from epoch 1);
    each save reports how long the trainer spent on it (snapshot) and the writer (in the
    background), and every epoch where its time went."""
    trainer = Trainer(tiny(epochs=3, checkpoint_interval=interval), tmp_path)
    q = trainer.events()
    assert trainer.run() == "finished"
    events = drain(q)
    last = [e for e in events if e.kind == "checkpoint" and e.which == "last"]
    assert [e.epoch for e in last] == saves
    assert load_checkpoint(trainer.run_path / "checkpoints" / "last.pt")["epoch"] == 3
    assert all(e.snapshot_seconds >= 0 and e.write_seconds > 0 for e in events if e.kind == "checkpoint")
    for e in (e for e in events if e.kind == "epoch_ended"):
        assert 0 < e.train_seconds <= e.seconds and 0 < e.valid_seconds < e.seconds
        assert e.first_batch_t <= e.t


@pytest.mark.slow
def test_breakdown_of_wall_time_from_the_run_events(finished_tiny_run: Path) -> None:
    """The session's finished 2-epoch run (read only): its events give the breakdown."""
    from engine.train.run_timing import run_time_breakdown

    b = run_time_breakdown(finished_tiny_run)
    assert b is not None and b.epochs == 2
    assert 0 < b.train < b.wall and 0 < b.valid < b.wall and 0 < b.train_share < 1
    assert b.other >= 0


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true but no accelerator")
def test_run_end_leaves_no_worker_process_and_no_thread(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the terminal event arrives the run has already stopped its DataLoader workers (and
    the pin-memory thread: pinning is requested here, though torch only pins where there is an
    accelerator), its checkpoint writer and its heartbeat: a process may exit at once."""
    import multiprocessing

    from engine.data import loaders

    real = loaders.make_loader
    monkeypatch.setattr(loaders, "make_loader", lambda *a, **kw: real(*a, **{**kw, "pin_memory": True}))
    before = set(threading.enumerate())
    seen: dict[str, object] = {}

    def at_the_end(event: TrainEvent) -> None:
        if event.kind == "epoch_ended":
            seen.setdefault("workers_during_run", len(multiprocessing.active_children()))
        if event.kind in TERMINAL_KINDS:
            seen["kind"] = event.kind
            seen["workers"] = [p.name for p in multiprocessing.active_children()]
            seen["threads"] = [t.name for t in set(threading.enumerate()) - before - {threading.current_thread()}]

    for kind, config in (("finished", tiny(workers=2)), ("stopped", tiny(workers=2, epochs=50))):
        seen.clear()
        trainer = Trainer(config, tmp_path / kind)
        trainer.subscribe(at_the_end)
        if kind == "stopped":
            trainer.subscribe(lambda e, t=trainer: t.stop() if e.kind == "epoch_ended" else None)
        trainer.start()
        assert trainer.join(180)
        assert seen["kind"] == kind and seen["workers_during_run"] == 4  # 2 per loader: the check sees them
        assert seen["workers"] == [] and seen["threads"] == [], seen


@pytest.mark.slow
@pytest.mark.parametrize("ends", ["finished", "failed"])
def test_an_in_process_run_gives_the_process_its_cudnn_benchmark_back(tiny, tmp_path: Path, monkeypatch,
                                                                        ends: str) -> None:
    """A CUDA run turns cuDNN's autotuner on for training; a run in the TUI's own process left it
    on in the dashboard once it ended (finished, or failed after its setup). The setup's switch is
    done here as a CUDA setup does it: the flag is settable on a CPU-only build."""
    import engine.train.trainer as trainer_mod

    real_setup = trainer_mod.setup_training

    def cuda_like_setup(*args, **kwargs):
        torch.backends.cudnn.benchmark = True
        if ends == "failed":
            raise RuntimeError("the GPU went away")
        return real_setup(*args, **kwargs)

    monkeypatch.setattr(trainer_mod, "setup_training", cuda_like_setup)
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        trainer = Trainer(tiny(epochs=1, max_train_images=8), tmp_path)
        trainer.start()  # as the TUI's launcher does: in a thread of this process
        assert trainer.join(120)
        assert trainer.state == ends
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before
