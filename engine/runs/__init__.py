"""The run store: one folder per run, written as training happens, read by the CLI and the TUI.

One concern a module:

    layout     the file names of a run folder (the only owner), what a run folder is, which
               checkpoint a run is used with, reading/writing its JSON files
    lock       one writer per run (an flock on writer.lock)
    journal    reading events.jsonl as it grows (`EventTail`)
    state      `RunState`: every state a run can show and what each means (active, error, ...)
    history    `RunHistory` folded from the events, its frozen `RunSnapshot`, the state rules
    summary    `RunSummary` (a row of the runs table) and the resume offer
    epoch_progress  `EpochProgress`: the epochs finished of the budget ("15/300") and the one
               cut short ("stopped by user · in epoch 16"), in the words every view uses
    follower   `RunFollower`: keeps a history current from the files
    writer     `RunWriter` and its heartbeat
    store      `RunStore`: list, load, create, reopen runs
    sort       how runs are sorted (``petseg runs --sort`` and the TUI's runs table)
    control    stop / pause / resume requests to the process training a run
    system_log a run's system metrics (system.jsonl): the bounded writer and its readers
    labels     the user's tags, note and archived flag of a run (labels.json)
    query      the runs filter: ``lr<1e-3 dice>0.8 model:unet`` parsed and matched
    delete     deleting a run folder (refused while it trains; hidden first, then removed), and a
               refused launch's folder that holds only its train.log

No torch import: the TUI uses this package on its start-up path. The names below are the
package's public interface; import them from ``engine.runs``.
"""

from engine.runs.control import CONTROL_ACTIONS, ControlAnswer, clear_control, read_control, request_control, take_run
from engine.runs.epoch_progress import EpochProgress
from engine.runs.follower import RunFollower
from engine.runs.history import (
    STALE_AFTER_SECONDS,
    RunHistory,
    RunSnapshot,
    best_epoch,
    is_stale,
)
from engine.runs.journal import KEEP_BATCHES, EventTail, read_events
from engine.runs.layout import (
    BEST_CHECKPOINT,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    CONTROL_FILE,
    ERROR_LOG,
    EVAL_DIR,
    EVENTS_FILE,
    LABELS_FILE,
    LAST_CHECKPOINT,
    LOCK_FILE,
    LOG_FILE,
    PREDICTION_KINDS,
    PREDICTIONS_DIR,
    PREVIEWS_DIR,
    STATUS_FILE,
    checkpoint_for,
    checkpoint_path,
    ensure_folder,
    has_checkpoint,
    is_run_folder,
    prediction_path,
    read_run_config,
    read_run_json,
    run_of_checkpoint,
    run_worst_sheet,
    validate_run_name,
    write_json_atomic,
)
from engine.runs.lock import RunBusyError, RunLock, lock_holder, writer_lock_state
from engine.runs.store import RunStore
from engine.runs.sort import SORT_KEYS, STATE_ORDER, VALUE_KEYS, ordered, sort_runs, sort_value
from engine.runs.state import WRITTEN_STATES, RunState
from engine.runs.summary import ResumeOffer, RunSummary, resume_offer, spent_time_budget, time_budget_of, world_size
from engine.runs.writer import HEARTBEAT_SECONDS, RunWriter
from engine.runs.labels import (NO_LABELS, RunLabels, change_labels, hidden_by_archive, parse_note, parse_tags, read_labels,
                                why_not_archive, write_labels)
from engine.runs.query import Query, parse_query
from engine.runs.delete import delete_run, remove_refused_launch, sweep_deleting, why_not_delete


__all__ = [
    "LABELS_FILE", "NO_LABELS", "Query", "RunLabels", "change_labels", "delete_run", "hidden_by_archive", "parse_note", "parse_query", "parse_tags", "read_labels",
    "remove_refused_launch", "sweep_deleting", "why_not_archive", "why_not_delete", "write_labels",
    "BEST_CHECKPOINT", "CHECKPOINT_DIR", "CONFIG_FILE", "CONTROL_ACTIONS", "CONTROL_FILE", "ControlAnswer", "ERROR_LOG",
    "EVAL_DIR", "EVENTS_FILE", "EpochProgress", "EventTail", "HEARTBEAT_SECONDS", "KEEP_BATCHES", "LAST_CHECKPOINT", "LOCK_FILE",
    "LOG_FILE", "PREDICTIONS_DIR", "PREDICTION_KINDS", "PREVIEWS_DIR", "ResumeOffer", "RunBusyError",
    "RunFollower", "RunHistory", "RunLock", "RunSnapshot", "RunState", "RunStore", "RunSummary", "RunWriter",
    "SORT_KEYS", "STALE_AFTER_SECONDS", "STATE_ORDER", "STATUS_FILE", "VALUE_KEYS", "WRITTEN_STATES",
    "best_epoch", "checkpoint_for", "checkpoint_path", "clear_control", "ensure_folder", "has_checkpoint", "is_run_folder",
    "is_stale", "lock_holder", "ordered", "prediction_path", "read_control", "read_events", "read_run_config",
    "read_run_json", "request_control", "take_run", "resume_offer", "spent_time_budget", "time_budget_of", "run_of_checkpoint", "run_worst_sheet", "world_size",
    "sort_runs", "sort_value", "validate_run_name", "write_json_atomic", "writer_lock_state",
]
