"""`tests/warm_petseg.py`: a warm child reaches its caller as a fresh ``python`` child of
`subprocess` does: exit code, death by a signal, stdout/stderr, stdin, environment, cwd, signal
dispositions, streams, the interpreter's exit (handlers, threads, traceback), and the Popen
surface (poll, wait and communicate with time-outs, send_signal)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import warm_petseg
from tests.process_watch import ProcessWatch

REPO = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).with_name("warm_petseg_probe.py")
PY = sys.executable


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), **extra)


def _both(args: list[str], tmp_path: Path, **kwargs) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    fresh = subprocess.run(args, **kwargs, timeout=120)
    warm = warm_petseg.run(args, **kwargs, timeout=120)
    return fresh, warm


def _probed(args: list[str], out: Path, fresh: bool, **kwargs) -> dict:
    start = subprocess.Popen if fresh else warm_petseg.Popen
    proc = start(args, **kwargs)
    assert proc.wait(120) == 0
    seen = json.loads(out.read_text())
    seen["environ"].pop("PYTEST_CURRENT_TEST", None)
    return seen


PROBES = {
    "module": dict(argv=["-m", "tests.warm_petseg_probe"], env={}, popen={}),
    "code-pipes": dict(argv=["-c", PROBE.read_text()], env={},
                       popen=dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)),
    "unbuffered-ascii-tmpdir": dict(argv=["-m", "tests.warm_petseg_probe"],
                                    env=dict(PYTHONUNBUFFERED="1", PYTHONIOENCODING="ascii", TMPDIR="{tmp}",
                                             PROBE_IMPORTS="1"),
                                    popen=dict(stdout=subprocess.DEVNULL, start_new_session=True)),
    "buffered-closed-streams": dict(argv=["-m", "tests.warm_petseg_probe"], env=dict(PYTHONUNBUFFERED=""),
                                    popen=dict(stdin=subprocess.DEVNULL, close_std=(1, 2))),
}


@pytest.mark.parametrize("case", list(PROBES))
def test_a_warm_child_sees_what_a_fresh_one_sees(case: str, tmp_path: Path) -> None:
    """argv, sys.path, cwd, environment, temp dirs, every signal's disposition and the mask, the
    three streams as CPython builds them, session, threads, __main__, the open fds."""
    spec = PROBES[case]
    env = _env(**{k: v.format(tmp=tmp_path) for k, v in spec["env"].items()})
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)  # this process's own, if it imported torch._dynamo
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    popen = dict(spec["popen"])
    close_std = popen.pop("close_std", ())
    seen = {}
    for fresh in (True, False):
        out = tmp_path / f"{fresh}.json"
        args = [PY, *spec["argv"], str(out)]
        kwargs = dict(popen, env=env, cwd=cwd)
        if close_std and fresh:
            kwargs["preexec_fn"] = lambda: [os.close(fd) for fd in close_std]
        elif close_std:
            kwargs["close_std"] = close_std
        seen[fresh] = _probed(args, out, fresh, **kwargs)
        seen[fresh]["argv"][-1] = seen[fresh]["orig_argv"][-1] = "OUT"
    inductor = "TORCHINDUCTOR_CACHE_DIR"  # torch._dynamo's import makes it: the zygote's own, no child's
    assert inductor not in seen[False]["environ"]
    if "PROBE_IMPORTS" in env:  # the same imports in the fresh child: it made its own in its temp dir
        assert seen[True]["environ"].pop(inductor).startswith(str(tmp_path / "torchinductor_"))
    else:  # the variables petseg's imports set are set (the case above checks how)
        set_by_imports = set(warm_petseg.zygote().env_set) - {inductor}
        assert "LD_LIBRARY_PATH" in set_by_imports and set_by_imports <= set(seen[False]["environ"])
        for name in set_by_imports | {inductor}:
            seen[False]["environ"].pop(name, None)
            seen[True]["environ"].pop(name, None)  # this process's own imports may have set it too
    assert seen[False] == seen[True]
    assert seen[False]["cwd"] == str(cwd)


def test_ignored_signals_are_inherited_and_sigint_default_gives_ctrl_c_back(tmp_path: Path) -> None:
    """As exec: a SIGINT/SIGHUP this process ignores stays ignored in the child (``pytest &``,
    nohup); ``sigint_default`` is ``preexec_fn=lambda: signal.signal(SIGINT, SIG_DFL)``."""
    out = tmp_path / "seen.json"
    args = [PY, "-m", "tests.warm_petseg_probe", str(out)]
    before = signal.signal(signal.SIGINT, signal.SIG_IGN), signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        fresh = _probed(args, out, True, env=_env(), cwd=REPO)
        warm = _probed(args, out, False, env=_env(), cwd=REPO)
        fresh_dfl = _probed(args, out, True, env=_env(), cwd=REPO,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        warm_dfl = _probed(args, out, False, env=_env(), cwd=REPO, sigint_default=True)
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGHUP, before[1])
    assert warm["signals"] == fresh["signals"] and fresh["signals"]["SIGINT"] == "ignored"
    assert fresh["signals"]["SIGHUP"] == "ignored" and fresh["signals"]["SIGPIPE"] == "ignored"
    assert warm_dfl["signals"] == fresh_dfl["signals"] and fresh_dfl["signals"]["SIGINT"] == "python"


def test_omp_num_threads_reaches_torch_as_in_a_fresh_child(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    args = [PY, "-m", "tests.warm_petseg_probe", str(out)]
    for threads in ("1", "2"):
        env = _env(OMP_NUM_THREADS=threads, PROBE_TORCH="1")
        assert _probed(args, out, False, env=env, cwd=REPO)["torch_threads"] == int(threads)


_EXIT_PATHS = """
import atexit, sys, threading, time
atexit.register(lambda: print("exit handler", flush=True))
def late():
    time.sleep(0.3)
    print("thread joined", flush=True)
threading.Thread(target=late).start()
print("out:" + sys.stdin.read().upper(), flush=True)
print("to stderr", file=sys.stderr, flush=True)
{end}
"""


@pytest.mark.parametrize("end", ["sys.exit(3)", "raise ValueError('boom')", "sys.exit('a message')", "pass"])
def test_the_interpreters_exit_is_a_fresh_ones(end: str, tmp_path: Path) -> None:
    """Exit code, stdout and stderr (the traceback's last line), stdin, a non-daemon thread joined
    before the exit handlers run."""
    args = [PY, "-c", _EXIT_PATHS.format(end=end), "arg"]
    fresh, warm = _both(args, tmp_path, input="in", capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert warm.returncode == fresh.returncode
    assert warm.stdout == fresh.stdout == "out:IN\nthread joined\nexit handler\n"
    assert warm.stderr.splitlines()[-1] == fresh.stderr.splitlines()[-1]
    assert warm.stderr.startswith("to stderr\n") and ("Traceback" in warm.stderr) == ("Traceback" in fresh.stderr)


def _ended_by(sig: signal.Signals, warm: bool) -> tuple[int, bool]:
    """A sleeping child (fresh or warm) sent ``sig`` once it said it is up: its returncode and
    whether it said KeyboardInterrupt. A step that does not end fails naming the child, the
    signal and the step, with where the child's time went (`ProcessWatch`)."""
    code = "import sys, time; print('up', flush=True); time.sleep(60)"
    kind = "warm" if warm else "fresh"
    if warm:
        proc = warm_petseg.Popen([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=_env(), sigint_default=True)
    else:
        proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_env(), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        up = select.select([proc.stdout], [], [], 60)[0]
        watch = ProcessWatch(proc.pid)
        assert up, f"the {kind} child (pid {proc.pid}) did not say 'up' within 60 s:\n{watch.stop().report()}"
        assert proc.stdout.readline() == "up\n"
        assert proc.poll() is None and proc.returncode is None
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired as exc:
            zygote = "" if not warm else (" (the zygote is alive)" if warm_petseg.zygote().alive() else
                                          " (the zygote is gone)")
            pytest.fail(f"the {kind} child (pid {proc.pid}) given {sig.name} had not ended after 30 s{zygote}:\n"
                        f"{watch.stop().report()}\nits stderr so far: {exc.stderr!r}")
        watch.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "KeyboardInterrupt" in err


def test_a_signal_ends_it_as_it_ends_a_fresh_one() -> None:
    """Death by a signal is Popen's negative returncode; Ctrl-C with Python's handler ends it by
    KeyboardInterrupt (-2, as CPython re-raises SIGINT); SIGTERM with no handler; SIGKILL."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        codes = [_ended_by(sig, warm) for warm in (False, True)]
        assert codes[1] == codes[0] and codes[0][0] == -sig, (sig, codes)


def test_an_interpreter_exit_costs_a_warm_child_what_it_costs_a_fresh_one() -> None:
    """A warm child ended by Ctrl-C, an exception or SystemExit ends as a fresh interpreter does
    without tearing down the zygote's modules (torch's): that teardown wrote to ~180 MB of pages
    shared with the zygote, ~1 CPU-s a child: beside a loaded suite the signal test above's Ctrl-C
    took 1.3 s (median; 2.8 s at most) against 0.03 s for the fresh child, and once ran past 30 s."""
    warm_petseg.zygote()
    for end, code in (("raise KeyboardInterrupt", -signal.SIGINT), ("raise ValueError('boom')", 1),
                      ("raise SystemExit(3)", 3)):
        before = warm_petseg.uncounted_cpu()
        done = warm_petseg.run([PY, "-c", end], env=_env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done
        assert warm_petseg.uncounted_cpu() - before < 0.4, (end, warm_petseg.uncounted_cpu() - before)


def test_a_scripts_own_objects_are_let_go_at_its_end_as_in_a_fresh_one(tmp_path: Path) -> None:
    """A file the script left open is flushed and a __del__ of its own runs at the end, after the
    exit handlers (the interpreter clears __main__), whichever way it ends."""
    script = (f"import atexit, sys\nout = open({str(tmp_path / 'OUT')!r}, 'w')\nout.write('kept')\n"
              "class Last:\n    def __del__(self): print('del', flush=True)\nlast = Last()\n"
              "atexit.register(lambda: print('exit handler', flush=True))\n{end}\n")
    for end in ("pass", "sys.exit(4)", "raise KeyboardInterrupt"):
        ran = []
        for run in (subprocess.run, warm_petseg.run):
            (tmp_path / "OUT").unlink(missing_ok=True)
            done = run([PY, "-c", script.replace("{end}", end)], capture_output=True, text=True, env=_env(),
                       cwd=tmp_path, timeout=120)
            ran.append((done.returncode, done.stdout, (tmp_path / "OUT").read_text()))
        assert ran[1] == ran[0] and ran[0][1:] == ("exit handler\ndel\n", "kept"), (end, ran)


def test_wait_and_communicate_time_out_as_popens_do(tmp_path: Path) -> None:
    proc = warm_petseg.Popen([PY, "-c", "import time; print('a', flush=True); time.sleep(1.5); print('b')"],
                             stdout=subprocess.PIPE, text=True, env=_env())
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.1)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.communicate(timeout=0.2)
    out, _ = proc.communicate(timeout=30)
    assert out == "a\nb\n" and proc.returncode == 0 and proc.wait() == 0
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as caught:
        warm_petseg.run([PY, "-c", "import time; print('so far', flush=True); time.sleep(60)"], capture_output=True,
                        timeout=1.0, env=_env())
    assert time.monotonic() - started < 20 and caught.value.stdout == b"so far\n"


def test_children_run_side_by_side_each_with_its_own_end(tmp_path: Path) -> None:
    procs = [warm_petseg.Popen([PY, "-c", f"import os, time; time.sleep({d}); os._exit({code})"], env=_env())
             for d, code in ((0.6, 4), (0.1, 5), (0.3, 0))]
    assert len({p.pid for p in procs}) == 3 and os.getpid() not in {p.pid for p in procs}
    assert [p.wait(30) for p in procs] == [4, 5, 0]


def test_petseg_help_is_what_a_fresh_petseg_says(tmp_path: Path) -> None:
    fresh, warm = _both([PY, "-m", "engine.cli", "--help"], tmp_path, capture_output=True, text=True, env=_env(),
                        cwd=REPO)
    assert (warm.returncode, warm.stdout, warm.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert fresh.returncode == 0 and "usage: petseg" in fresh.stdout


def test_a_child_env_the_zygote_cannot_honour_is_refused_not_ignored() -> None:
    with pytest.raises(warm_petseg.NeedsFreshInterpreter, match="LC_ALL"):
        warm_petseg.run([PY, "-c", "pass"], env=_env(LC_ALL="C"))
    with pytest.raises(warm_petseg.NeedsFreshInterpreter, match="not \\[sys.executable"):
        warm_petseg.run([PY, "script.py"], env=_env())


def test_a_childs_cpu_is_counted_once_it_has_ended() -> None:
    """Its CPU goes to the zygote's RUSAGE_CHILDREN, not ours: `uncounted_cpu` carries it (suite_cpu)."""
    warm_petseg.zygote()
    before = warm_petseg.uncounted_cpu()
    busy = "import os, time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\nos._exit(0)"
    done = warm_petseg.run([PY, "-c", busy], env=_env())
    assert done.returncode == 0
    assert 0.45 < warm_petseg.uncounted_cpu() - before < 5


def test_what_a_fresh_interpreter_would_run_at_start_up_is_refused(tmp_path: Path) -> None:
    """A sitecustomize.py on PYTHONPATH (imported at start-up); ``-m`` of a module the zygote has
    imported (runpy would run a second copy, with a warning no fresh ``python -m`` gives)."""
    (tmp_path / "sitecustomize.py").write_text("")
    with pytest.raises(warm_petseg.NeedsFreshInterpreter, match="sitecustomize"):
        warm_petseg.run([PY, "-c", "pass"], env=dict(_env(), PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO}"))
    with pytest.raises(warm_petseg.NeedsFreshInterpreter, match="engine.cli.entry is imported in the zygote"):
        warm_petseg.run([PY, "-m", "engine.cli.entry", "--help"], env=_env())


def test_a_refusal_answered_before_the_client_returns_from_sending_is_the_refusal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a loaded machine the zygote may read the request, refuse it and close before this side's
    send returns: the refusal is what a test sees (it was a BrokenPipeError from sending nothing)."""
    import select
    import socket

    send_fds = socket.send_fds

    def send_then_wait_for_the_answer(sock: socket.socket, *args: object, **kwargs: object) -> int:
        sent = send_fds(sock, *args, **kwargs)
        select.select([sock], [], [], 30)
        time.sleep(0.2)  # the zygote closes right after answering
        return sent

    warm_petseg.zygote()
    monkeypatch.setattr(socket, "send_fds", send_then_wait_for_the_answer)
    with pytest.raises(warm_petseg.NeedsFreshInterpreter, match="engine.cli.entry is imported in the zygote"):
        warm_petseg.run([PY, "-m", "engine.cli.entry", "--help"], env=_env())


def test_the_zygote_is_no_child_of_this_process() -> None:
    """A test that lists its own children (its DataLoader workers, with psutil) must not find it
    (test_data_loaders.py SIGTERMed it as a worker); its children are no children of ours either."""
    import psutil

    proc = warm_petseg.Popen([PY, "-c", "import time; time.sleep(30)"], env=_env())
    try:
        children = {child.pid for child in psutil.Process().children(recursive=True)}
        assert warm_petseg.zygote().pid not in children and proc.pid not in children
    finally:
        proc.kill()
        assert proc.wait(30) == -signal.SIGKILL


def test_a_zygote_that_was_killed_is_replaced_and_its_folder_removed() -> None:
    import time

    old = warm_petseg.zygote()
    os.kill(old.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while old.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    done = warm_petseg.run([PY, "-c", "import os; print(os.getppid()); os._exit(0)"], env=_env(), capture_output=True,
                           text=True)
    assert done.returncode == 0 and int(done.stdout) == warm_petseg.zygote().pid != old.pid
    assert not old.folder.exists()


def test_a_killed_test_process_leaves_no_zygote_folder(tmp_path: Path) -> None:
    """The zygote of a test process that was killed (its lifeline closed, nobody reading its last
    line) removes its folder: it died of BrokenPipeError first and left it in the temp dir."""
    code = ("import os, sys; sys.path.insert(0, sys.argv[1]); from tests import warm_petseg; "
            "print(warm_petseg.zygote().folder, flush=True); os._exit(9)")
    done = subprocess.run([PY, "-c", code, str(REPO)], capture_output=True, text=True, env=_env(), timeout=180)
    folder = Path(done.stdout.strip())
    assert folder.name.startswith("warm-petseg-"), done
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not folder.exists(), f"{folder} left; its log: {(folder / 'zygote.log').read_text(errors='replace')}"
