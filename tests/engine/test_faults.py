"""Crash safety: SIGKILL `petseg train` at 20 chosen moments, then check the run folder and resume.

Moments are hit deterministically with the TEST-ONLY ``PETSEG_FAULT=<point>:<n>`` hook
(engine/faults.py): mid-epoch before a batch, half-way through an events.jsonl line, with a
checkpoint or JSON temp file written but not yet renamed. Most kills run in warm children
(tests/warm_petseg.py: torch imported once; each child runs ``python -m engine.cli train`` and
dies by a real SIGKILL); one is an external SIGKILL of a fresh ``python -m engine.cli train``
(held mid-epoch by the hook, killed from outside) and the final resume is a fresh interpreter as
well.

After every kill: each checkpoint on disk loads and rebuilds its model, events.jsonl reads
(a torn last line dropped), the run shows as ``interrupted``. After the final resume: the run
finished with epochs 1..N once each, no temp files are left, and the weights equal those of
an uninterrupted run (the resume restores model, optimizer and every RNG stream).
Set ``PETSEG_FAULT_REPORT=path.json`` to record what each kill left (docs/RELIABILITY.md).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.checkpoint import build_model_from_checkpoint, load_checkpoint
from engine.runs import EventTail, RunStore
from tests import warm_petseg
from tests.file_proxy import FileProxy

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 8  # more than the kills can get through, so every moment is reached
# last.pt every epoch (the default is at most every 60 s), so that each kill point below is
# reached at a known epoch; amp off explicitly, so the reference run below cannot be timed into
# another precision than the chain (amp auto probes the CPU), and fp32 because a CPU without bf16
# instructions emulates it (the chain took 62 s in bf16, 45 s in fp32 on an AVX2 EPYC)
TINY = ["--image_size", "64", "--width", "4", "--batch_size", "4", "--max_train_images", "16",
        "--workers", "0", "--device", "cpu", "--checkpoint_interval", "0", "--amp", "off"]
REPORT: list[dict[str, Any]] = []


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PETSEG_CACHE=str(cache), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1")
    env.pop("PETSEG_FAULT", None)
    env.pop("PETSEG_RUNS", None)
    return env


class Server:
    """``run(argv, fault)`` -> (signal, exit code) of one warm `petseg` child, its output in ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log

    def run(self, argv: list[str], fault: str | None) -> tuple[int, int | None]:
        env = {**self.env, "PETSEG_FAULT": fault} if fault else self.env
        with open(self.log, "a") as log:
            code = warm_petseg.run([sys.executable, "-m", "engine.cli", *argv], env=env, cwd=REPO, stdout=log,
                                   stderr=log).returncode
        return (-code, None) if code < 0 else (0, code)

    def said(self, lines: int = 15) -> str:
        """The last lines the children wrote (stdout and stderr): why one exited instead of dying."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no log: {exc})"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # the same cache folder tests/conftest.py gives every test: the generated set is shared
    return _env(tmp_path_factory.getbasetemp() / "petseg-cache")


@pytest.fixture(scope="module")
def server(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    yield Server(env, tmp_path_factory.mktemp("faultlog") / "children.log")
    out = os.environ.get("PETSEG_FAULT_REPORT")
    if out:
        Path(out).write_text(json.dumps(REPORT, indent=1))


def temp_files(run: Path) -> list[str]:
    return sorted(p.name for d in (run, run / "checkpoints") if d.is_dir() for p in d.iterdir()
                  if p.name.endswith(".tmp"))


def check_after_kill(run: Path, moment: str) -> dict[str, Any]:
    """Everything a crash may leave must still be usable; returns what was found (for the report)."""
    ckpts = {}
    for p in sorted((run / "checkpoints").glob("*.pt")):
        ck = load_checkpoint(p)  # raises on a torn or half-renamed file
        build_model_from_checkpoint(ck, p)
        ckpts[p.name] = ck["epoch"]
    tail = EventTail(run / "events.jsonl")
    events = tail.read_new()  # never raises; a torn last line is held back
    history = RunStore(run.parent).load(run.name)
    ended = {e.epoch for e in events if e.kind == "epoch_ended"}
    for name, epoch in ckpts.items():  # an epoch's event is on disk before its checkpoints are
        assert epoch in ended, f"{moment}: {name} holds epoch {epoch}, events only {sorted(ended)}"
    assert history.state == "interrupted", f"{moment}: shown as {history.state!r}"
    listed = {s.name: s.state for s in RunStore(run.parent).list_runs()}
    assert listed[run.name] == "interrupted"
    return {"moment": moment, "checkpoints": ckpts, "events": len(events), "torn_tail": tail.torn_tail,
            "bad_lines": tail.bad_lines, "temp_files": temp_files(run), "epochs_in_history": sorted(history.epochs)}


def check_finished(run: Path, epochs: int) -> None:
    history = RunStore(run.parent).load(run.name)
    assert history.state == "finished" and sorted(history.epochs) == list(range(1, epochs + 1))
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == epochs
    assert build_model_from_checkpoint(load_checkpoint(run / "checkpoints" / "best.pt"))
    assert temp_files(run) == []


def kill_from_outside_during_an_epoch(env: dict[str, str], runs: Path, name: str) -> dict[str, Any]:
    """A fresh interpreter running `python -m engine.cli train --resume`, SIGKILLed from outside
    mid-epoch. The hook only holds it before its second batch (``batch:2:hold``), so that the
    kill lands in the epoch it started however late a loaded machine runs this poll: without it,
    the resume could end the epoch and save it first, and the rest of the chain met other epochs."""
    events = runs / name / "events.jsonl"
    before = events.read_bytes().count(b'"epoch_started"')
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", "--runs", str(runs), "--resume", name],
                            env={**env, "PETSEG_FAULT": "batch:2:hold"}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while events.read_bytes().count(b'"epoch_started"') == before:
        assert proc.poll() is None and time.monotonic() < deadline, "the resumed run never started an epoch"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    return check_after_kill(runs / name, "external SIGKILL after epoch_started")


# 15 hooked kills in one run, in order; each process resumes what the previous one left.
# Early ones die before epoch 1 is saved (resume restarts at 1), later ones in epochs 2 and 3.
CHAIN = [
    "batch:2",       # fresh run, mid epoch 1: no checkpoint exists yet
    "event:1",       # torn run_started line
    "json:1",        # status.json "resuming" temp written, not renamed
    "json:2",        # config.json rewrite (data record) temp written, not renamed
    "checkpoint:1",  # epoch 1 best.pt temp written, not renamed: no checkpoint at all
    "checkpoint:2",  # epoch 1 last.pt temp written, not renamed: best.pt only
    "event:2",       # torn epoch_started line
    "batch:6",       # mid epoch 2, epoch 1 saved by this process
    "checkpoint:1",  # first checkpoint after the resumed epoch
    "event:4",
    "batch:1",       # first batch right after a resume
    "checkpoint:2",
    "batch:5",
    "event:6",
    "checkpoint:3",
]


@pytest.mark.slow
def test_twenty_kills_then_resume_matches_an_uninterrupted_run(server: Server, env, tmp_path: Path, one_thread,
                                                               generated_data: str) -> None:
    tiny = [*TINY, "--data_path", generated_data]
    runs, name = tmp_path / "runs", "chain"
    run = runs / name
    fresh = ["train", "--runs", str(runs), "--run_name", name, "--epochs", str(EPOCHS), *tiny]
    resume = ["train", "--runs", str(runs), "--resume", name]
    for i, fault in enumerate(CHAIN):
        sig, code = server.run(fresh if i == 0 else resume, fault)
        assert sig == signal.SIGKILL, (
            f"{fault}: not killed (exit {code}): the moment was never reached; the child said:\n{server.said()}")
        REPORT.append(check_after_kill(run, f"{'fresh' if i == 0 else 'resume'} {fault}"))
        if i == 1:
            REPORT.append(kill_from_outside_during_an_epoch(env, runs, name))

    # moment 17: killed after the last epoch's last.pt, before the "finished" status
    sig, _ = server.run(["train", "--runs", str(runs), "--run_name", "one", "--epochs", "1", *tiny], "json:4")
    assert sig == signal.SIGKILL
    REPORT.append(check_after_kill(runs / "one", "fresh json:4 (after final last.pt)"))
    assert load_checkpoint(runs / "one" / "checkpoints" / "last.pt")["epoch"] == 1
    assert server.run(["train", "--runs", str(runs), "--resume", "one"], None) == (0, 0)
    check_finished(runs / "one", 1)

    # moment 18: killed before config.json first exists: not a run yet, resume says why
    sig, _ = server.run(["train", "--runs", str(runs), "--run_name", "early", "--epochs", "1", *tiny], "json:1")
    assert sig == signal.SIGKILL
    early = {s.name: s for s in RunStore(runs).list_runs()}["early"]  # listed, and says what is wrong
    assert early.state == "broken" and "config.json: missing" in early.message
    r = subprocess.run([sys.executable, "-m", "engine.cli", "train", "--runs", str(runs), "--resume", "early"],
                       env=env, cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "config.json: missing" in r.stderr
    REPORT.append({"moment": "fresh json:1 (config.json temp, not renamed)", "resume_stderr": r.stderr.strip(),
                   "listed": f"{early.state}: {early.message}", "temp_files": temp_files(runs / "early")})
    assert server.run(["train", "--runs", str(runs), "--run_name", "early", "--epochs", "1", *tiny], None) == (0, 0)
    check_finished(runs / "early", 1)  # the same name starts cleanly; the dead writer's temp file is gone

    # moments 19 and 20: a torn event and a kill mid-epoch late in the chain, then the final resume
    for fault in ("event:3", "batch:3"):
        sig, code = server.run(resume, fault)
        assert sig == signal.SIGKILL, f"{fault}: not killed (exit {code}); the child said:\n{server.said()}"
        REPORT.append(check_after_kill(run, f"resume {fault}"))
    final = subprocess.run([sys.executable, "-m", "engine.cli", "train", "--runs", str(runs), "--resume", name],
                           env=env, cwd=REPO, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    check_finished(run, EPOCHS)
    kills = sum(1 for r in REPORT if r["moment"].startswith(("fresh", "resume", "external")))
    assert kills >= 20, kills

    # the same weights as a run never interrupted (same process thread count: 1)
    from engine.config import TrainConfig
    from engine.train.trainer import Trainer

    ref = Trainer(TrainConfig(epochs=EPOCHS, image_size=64, width=4, batch_size=4, max_train_images=16,
                              workers=0, device="cpu", data_path=generated_data,
                              checkpoint_interval=0, amp="off"), tmp_path / "ref", "ref")
    assert ref.run() == "finished"
    a = load_checkpoint(ref.run_path / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_full_disk_during_checkpoint_save_fails_the_run_and_keeps_best(tmp_path: Path, monkeypatch, one_thread,
                                                                       generated_data: str) -> None:
    """ENOSPC while writing a checkpoint (after one good epoch): the run is failed with one line
    naming the file, best.pt and last.pt of epoch 1 still load, no temp file remains."""
    from engine import checkpoint as ckmod
    from engine.config import TrainConfig
    from engine.train.trainer import Trainer

    real_save, calls = torch.save, {"n": 0}

    def save_until_disk_full(obj, fh, *a, **kw):
        calls["n"] += 1
        if calls["n"] > 2:  # epoch 1 wrote best.pt and last.pt; then the disk is full
            fh.write(b"\0" * 100)  # a part of the file was written before the error
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, fh, *a, **kw)

    monkeypatch.setattr(ckmod.torch, "save", save_until_disk_full)
    trainer = Trainer(TrainConfig(epochs=3, image_size=64, width=4, batch_size=4, max_train_images=16,
                                  workers=0, device="cpu", data_path=generated_data,
                                  checkpoint_interval=0), tmp_path, "full")
    assert trainer.run() == "failed"
    ckdir = trainer.run_path / "checkpoints"
    assert "\n" not in trainer.error and str(ckdir) in trainer.error and "No space left on device" in trainer.error
    for which in ("best", "last"):
        ck = load_checkpoint(ckdir / f"{which}.pt")
        assert ck["epoch"] == 1 and build_model_from_checkpoint(ck)
    assert temp_files(trainer.run_path) == []
    h = RunStore(tmp_path).load("full")
    assert h.state == "failed" and h.message == trainer.error
    REPORT.append({"moment": "ENOSPC in torch.save (3rd checkpoint write)", "error": trainer.error})


@pytest.mark.slow
def test_a_disk_that_fills_up_records_the_run_as_failed_with_the_reason(tmp_path: Path, monkeypatch, one_thread,
                                                                         generated_data: str) -> None:
    """The disk fills up (0 bytes free) during a run: the checkpoint save fails, and so would
    status.json's rewrite. The run must read as failed with the disk-full reason (not as
    interrupted with none), its epoch-1 checkpoints kept: the writer's reserve is given back for
    recording the end, and only then."""
    from engine import checkpoint as ckmod
    from engine.config import TrainConfig
    from engine.runs import writer as writer_mod
    from engine.train.trainer import Trainer

    real_save, real_write_json, calls = torch.save, writer_mod.write_json_atomic, {"n": 0}
    disk: dict[str, Any] = {"full": False, "reserve": None}
    run = tmp_path / "full"

    def freed() -> bool:  # only removing a file that held space while the disk filled makes room
        return disk["reserve"] is not None and not disk["reserve"].exists()

    def save_until_disk_full(obj, fh, *a, **kw):
        calls["n"] += 1
        if calls["n"] > 2:  # epoch 1 wrote best.pt and last.pt; then another process fills the disk
            if not disk["full"]:
                disk["full"] = True
                disk["reserve"] = next((p for p in run.iterdir() if p.name.endswith(".reserve")), None)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, fh, *a, **kw)

    def no_room(path) -> None:
        if disk["full"] and not freed():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def write_json_on_the_disk(path, data):
        no_room(path)
        return real_write_json(path, data)

    class FileOnTheDisk(FileProxy):
        """events.jsonl as a buffered file on that disk: a flush with no room fails, its bytes held."""

        def __init__(self, path, mode):
            super().__init__(open(path, mode))  # noqa: SIM115
            self.path, self.pending = path, b""

        def write(self, data: bytes) -> int:
            self.pending += data
            return len(data)

        def flush(self) -> None:
            no_room(self.path)
            self._fh.write(self.pending)
            self.pending = b""
            self._fh.flush()

    monkeypatch.setattr(ckmod.torch, "save", save_until_disk_full)
    monkeypatch.setattr(writer_mod, "write_json_atomic", write_json_on_the_disk)
    def open_on_the_disk(path, mode="r", *args, **kwargs):
        if Path(path).name == "events.jsonl":
            return FileOnTheDisk(path, mode)
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(writer_mod, "open", open_on_the_disk, raising=False)
    trainer = Trainer(TrainConfig(epochs=3, image_size=64, width=4, batch_size=4, max_train_images=16,
                                  workers=0, device="cpu", data_path=generated_data,
                                  checkpoint_interval=0), tmp_path, "full")
    assert trainer.run() == "failed"
    h = RunStore(tmp_path).load("full")
    assert h.state == "failed", h.state
    assert "No space left on device" in h.message and str(run / "checkpoints") in h.message
    for which in ("best", "last"):
        assert load_checkpoint(run / "checkpoints" / f"{which}.pt")["epoch"] == 1
    assert sorted(p.name for p in run.iterdir() if p.name.endswith(".reserve")) == []  # not left behind


# ---- data-parallel runs (issue 18): a rank that fails ends the whole run -------------------------
DDP_FAULTS = [
    # (PETSEG_FAULT, what the launcher's line and the run's status must say)
    ("batch:3@1", "rank 1 of 2 ended with signal 9 (SIGKILL)"),  # killed mid-epoch
    ("batch:3@1:raise", "rank 1 of 2 failed: InjectedFault: injected fault at batch"),  # an exception
    ("checkpoint:1@0", "rank 0 of 2 ended with signal 9 (SIGKILL)"),  # killed inside its first checkpoint save
]


@pytest.mark.slow
@pytest.mark.parametrize("fault, said", DDP_FAULTS, ids=["rank1-killed-mid-epoch", "rank1-raises-mid-epoch",
                                                        "rank0-killed-saving-checkpoint"])
def test_a_failing_rank_fails_the_data_parallel_run_at_once(env, tmp_path: Path, generated_data: str, fault: str,
                                                              said: str) -> None:
    """`petseg train --devices 2` with one rank failing: petseg exits 1 with one `petseg: error:`
    line naming the rank and why, the run is `failed` with the same reason, no process of the run
    is left, and nothing is half-written (every events line reads, every checkpoint loads, no
    temp file). 50 epochs would take minutes: the run ends at the fault."""
    runs = tmp_path / "runs"
    name = f"dies-{fault.replace(':', '-').replace('@', '-')}"
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "engine.cli", "train", "--devices", "2", "--epochs", "50", *TINY[:-2],
                           "--batch_size", "2", "--amp", "off", "--compile", "off", "--data_path", generated_data,
                           "--runs", str(runs), "--run_name", name],
                          env=dict(env, PETSEG_FAULT=fault, TMPDIR=str(tmp_path)),  # a rank > 0's traceback
                          cwd=REPO, capture_output=True, text=True, timeout=240)
    seconds = time.monotonic() - start
    errors = [line for line in done.stderr.splitlines() if line.startswith("petseg: error:")]
    assert done.returncode == 1, done.stderr[-2000:]
    assert len(errors) == 1 and said in errors[0], done.stderr[-2000:]
    # the other rank's "Connection reset by peer" is not printed before it, blaming the wrong rank
    from engine.train.rank_failures import is_consequence

    assert not [line for line in done.stderr.splitlines() if line.startswith("petseg: rank") and is_consequence(line)]
    assert seconds < 120
    assert subprocess.run(["pgrep", "-f", f"--run_name {name}"], capture_output=True, text=True).stdout.split() == []
    run = runs / name
    [summary] = RunStore(runs).list_runs()
    assert summary.state == "failed" and said in summary.message
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]  # no torn line
    assert events[-1]["kind"] == "failed" and said in events[-1]["message"]
    assert [e["kind"] for e in events].count("run_started") == 1  # rank 0 alone wrote them
    for p in (run / "checkpoints").glob("*.pt"):
        build_model_from_checkpoint(load_checkpoint(p), p)
    assert temp_files(run) == []
    REPORT.append({"moment": f"data-parallel PETSEG_FAULT={fault}", "error": errors[0], "seconds": round(seconds, 1)})


def test_a_hold_point_waits_for_a_kill_from_outside(tmp_path: Path) -> None:
    """``<point>:<n>:hold`` neither dies nor goes on at its moment: the process stays there until
    it is killed (the external kill of the chain above relies on it)."""
    code = ("import sys; from engine import faults\n"
            "for i in range(3):\n    faults.maybe_kill('batch'); print(i, flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**_env(tmp_path), "PETSEG_FAULT": "batch:2:hold"},
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "0\n"
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(1.0)  # held at its second arrival: neither killed nor printing 1
    proc.kill()
    assert proc.wait(10) == -signal.SIGKILL and proc.stdout.read() == ""
