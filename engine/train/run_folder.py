"""A run's folder as training starts: a new one created (the config settled first, every problem
refused before the folder exists), or an existing one reopened for ``--resume`` under the rules
of `engine.train.resume`. Either way the caller then holds the run's writer lock."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engine.config import DATA_PATH_ENV, MODEL_IGNORES, PRETRAINED_IMAGENET, TrainConfig, auto_warmup_epochs, requested_data_path
from engine.errors import ConfigError, RunStoreError
from engine.runs import RunStore, take_run
from engine.train.config_record import initial_record
from engine.train.resume import plan_for_run


def check_machine(config: TrainConfig, *, restoring: bool = False) -> None:
    """What field_errors cannot know: the device exists here, a --pretrained file exists (not
    when ``restoring``: a resume from last.pt takes its weights from there). Checked before a run
    folder is created (or a resumed run is touched)."""
    from engine.device import resolve_device

    resolve_device(config.device)
    if config.cache_dir is not None:
        cache = Path(config.cache_dir).expanduser()
        if cache.exists() and not cache.is_dir():  # else the run trains with no cache and no word
            raise ConfigError(f"--cache_dir {config.cache_dir}: is a file, not a folder; give a folder for the "
                              "decoded-image cache (or leave it unset)")
        # a folder that cannot be made or written to (a typo under /proc, a read-only mount) was
        # no cache either, without a word: every run decoded its photos again
        try:
            cache.mkdir(parents=True, exist_ok=True)
            writable = os.access(cache, os.W_OK | os.X_OK)
            why = "" if writable else "not writable"
        except OSError as exc:
            why = f"cannot create it ({exc.strerror or exc})"
        if why:
            raise ConfigError(f"--cache_dir {config.cache_dir}: {why}; give a folder you can write to for the "
                              "decoded-image cache (or leave it unset)")
    if not restoring:
        check_pretrained(config, fetch=False)


def check_pretrained(config: TrainConfig, *, fetch: bool = True) -> None:
    """``--pretrained`` as a new run needs it: a local file exists and loads into the model
    (`check_pretrained_file`); ``imagenet``'s weights are fetched into torch hub's cache now
    (``fetch``; a resume's weights are last.pt's, so it passes False), offline refused in one
    line. Imports torch when there is something to check. The new-run form calls it before a
    detached launch, so its refusal is said in the form, not in a folder left behind."""
    if config.pretrained is None:
        return
    if config.pretrained == PRETRAINED_IMAGENET:
        if fetch:
            check_pretrained_file(config)
        return
    if not Path(config.pretrained).expanduser().is_file():
        raise ConfigError(f"--pretrained {config.pretrained}: no such file (give a .pth state_dict of the encoder, or imagenet)")
    check_pretrained_file(config)


def check_pretrained_file(config: TrainConfig) -> None:
    """Load ``config.pretrained`` into the model ``config`` builds, on torch's meta device (no
    memory for the weights, nothing written): junk, a pickled model, something that is not a
    state_dict or the weights of another architecture raise the loading path's own one-line
    ConfigError now, before a run folder exists, whatever the architecture."""
    import warnings

    import torch

    from engine.models import build_model

    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # "copying … to a meta parameter is a no-op": the point here
        build_model(config.model, width=config.width, pretrained=config.pretrained)


def ignored_field_warnings(config: TrainConfig) -> list[str]:
    """A warning line for each field set away from its default that ``config.model`` has no use
    for (`MODEL_IGNORES`): ``--model resnet34_unet --width 16`` trained the full ResNet-34 without
    a word, and config.json's width 16 then read as if it had been used."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    return [f"warning: --{name} {getattr(config, name)} is ignored: {config.model} does not use it"
            for name in MODEL_IGNORES.get(config.model, ()) if getattr(config, name) != defaults[name]]


@dataclass
class OpenedRun:
    """A run folder ready to train into."""

    writer: Any  # engine.runs.RunWriter, holding the writer lock
    config: TrainConfig
    record: dict[str, Any]  # config.json as it stands
    plan: Any = None  # engine.train.resume.ResumePlan of a resume
    resume_from: Path | None = None  # the last.pt a resume continues from (None: from epoch 1)
    dropped_request: str | None = None  # a resume: the control request an earlier process left unread


def settle_config(config: TrainConfig, log: Callable[[str], None]) -> TrainConfig:
    """The config a new run records: the dataset named now, and the auto warm-up as a number."""
    config.validate()
    check_machine(config)  # before the run folder exists
    if config.pretrained == PRETRAINED_IMAGENET:
        # offline, the fetch failed only once the data was decoded and the amp timed, leaving a
        # failed run folder behind; fetched now (a new run only: a resume's weights are last.pt's),
        # the run's own load reads torch hub's cache
        check_pretrained(config)
    for line in ignored_field_warnings(config):
        log(line)
    # $PETSEG_DATA is read once, here, so config.json (and a later resume or eval) names
    # the dataset this run was given rather than whatever the variable says then
    requested = requested_data_path(config.data_path)
    if requested != config.data_path:
        log(f"data: no --data_path given; ${DATA_PATH_ENV} names {requested}")
    # auto warm-up resolved once, here: config.json records the number, so a resume with a
    # new epoch budget keeps the warm-up the run trained with
    warmup = config.warmup_epochs
    if warmup is None:
        warmup = auto_warmup_epochs(config.epochs, config.scheduler)
    # every path field absolute (--data_path, --pretrained, --cache_dir): config.json is read again
    # from other directories (eval --run, --resume, the dashboard's R), where a relative one named
    # no file (a resume refused: "--pretrained enc.pth: no such file") or a new cache folder
    config = dataclasses.replace(config, data_path=requested, warmup_epochs=warmup).with_absolute_paths()
    from engine.data.source import data_path_problem

    problem = data_path_problem(config.data_path, config.download)
    if not problem and config.download:
        from engine.data.source import download_requested

        # fetched now, as the imagenet weights are: an unreachable server failed the run after its
        # folder was made, leaving a failed run in the table; then the downloaded folder's own check
        download_requested(config.data_path, config.download)
        problem = data_path_problem(config.data_path, config.download)
    if problem:  # as check_machine: refused before a run folder (and a taken name) exists
        raise ConfigError(problem)
    return config


def create_run(store: RunStore, config: TrainConfig, run_name: str | None,
               log: Callable[[str], None]) -> OpenedRun:
    """A new run folder for ``config`` (settled first); config.json at once, so the TUI shows the
    run (and a detached launch finds it) while its data decodes."""
    config = settle_config(config, log)
    record = initial_record(config)
    return OpenedRun(writer=store.create(record, run_name), config=config, record=record)


def reopen_run(store: RunStore, run_name: str | None, overrides: dict[str, Any] | None,
               config: TrainConfig | None = None) -> OpenedRun:
    """``run_name`` reopened for a resume with the flags the user typed (``overrides``)."""
    if not run_name:
        raise RunStoreError(store.root, "--resume needs a run name")
    path = store.resolve(run_name)
    # one writer per run; a stop or pause asked of the run's earlier process, left unread, is not this one's
    writer, dropped = take_run(path, lambda: store.open_for_resume(path))
    try:
        if overrides is None and config is not None:  # the older call: only a new epoch budget
            overrides = {"epochs": config.epochs}
        plan = plan_for_run(writer.path, overrides or {})
        # a missing device refuses before anything changes
        check_machine(plan.config, restoring=plan.checkpoint_path is not None)
    except BaseException:
        writer.close()
        raise
    # No last.pt: the run died before its first epoch ended. Nothing was learned that
    # could be lost, so "resume" restarts it from epoch 1 with its own config and seed.
    return OpenedRun(writer=writer, config=plan.config, record=plan.stored, plan=plan,
                     resume_from=plan.checkpoint_path, dropped_request=dropped)


def follow_run(store: RunStore, run_name: str, *, resume: bool, overrides: dict[str, Any] | None,
               config: TrainConfig | None, log: Callable[[str], None]) -> OpenedRun:
    """A data-parallel rank other than 0: the run rank 0 created or reopened, read but never
    written (its writer discards: one run folder, one writer)."""
    from engine.train.distributed import DiscardWriter

    path = store.root / run_name
    if resume:
        plan = plan_for_run(path, overrides or {})
        return OpenedRun(writer=DiscardWriter(path), config=plan.config, record=plan.stored, plan=plan,
                         resume_from=plan.checkpoint_path)
    config = settle_config(config or TrainConfig(), log)
    return OpenedRun(writer=DiscardWriter(path), config=config, record=initial_record(config))
