"""Hyper-parameter sweeps on Optuna (``petseg sweep``): every trial an ordinary run, one concern a module:

    record     a trial's ``"sweep"`` record in its run's config.json (and the child's env variable)
    spec       the sweep's spec: ``--param name=kind:...`` over any TrainConfig field, TOML ``--spec``,
               the budget, sampler, pruner and slots; every problem one line before anything starts
    study      the Optuna study: storage (a journal file in the runs folder by default), sampler,
               pruner, the budget, asking a trial and what each trial records
    slots      where trials run: per_device slots on each listed GPU group, or N on a CPU
    pruning    following a trial's run folder, its valid Dice per epoch to Optuna, the stop of a
               pruned run and its ``pruned`` status
    scheduler  the loop: child processes in the slots, the next trial within a poll of one ending,
               Ctrl-C
    recovery   crash recovery, the scheduler's mixin: adopt or resume a dead sweep's trials
    results    the leaderboard, the parameter importances, the best trial's test evaluation

Only ``record`` is imported by the run store; the others import Optuna and are the CLI's (and
the TUI's worker threads'). No torch import except the best trial's evaluation, inside its function.
"""
