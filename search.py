"""Hyperparameter search on Optuna: studies that resume, prune and share one database.

    python search.py two-layer --trials 30               # the study lives in runs/search.db
    python search.py two-layer --trials 30 --workers 2   # two processes share the study
    python search.py fc --trials 40 --storage postgresql://hw5:hw5@host/hw5   # many machines

An experiment (EXPERIMENTS) names a search space and trains one Solver per trial. Its
study is named after it and the stage ('coarse': random draws over the whole space;
'fine': TPE over a space narrowed around the best coarse trials). The same command run
again continues the study until `trials` trials have finished (completed or pruned). A
worker that dies leaves its trial 'running'; after `grace` seconds without the trial's
heartbeat the next trial to start marks it failed and queues it again, so a killed search
loses only the trials in flight. Every trial reports its validation accuracy after each
epoch (Solver(after_epoch=...)) and the median pruner stops a trial that is below the
median of the earlier trials at the same epoch. A trial keeps its settings, validation
curve, wall time and worker in the study.
"""
import argparse
import math
import multiprocessing
import os
import socket
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import optuna

from experiments import ROOT, load_data, pick, train_two_layer

# A space is {name: (low, high, scale)}, scale 'log' (log-uniform) or 'linear'.
SPACES = {
    "two-layer": {"hidden_dim": (64, 1024, "log"), "learning_rate": (1e-4, 3e-3, "log"),
                  "reg": (1e-5, 1e-1, "log"), "weight_scale": (1e-4, 1e-2, "log"),
                  "lr_decay": (0.8, 1.0, "linear")},
}
FIXED = {"two-layer": dict(num_epochs=pick(10, 2), batch_size=200)}
STATES_DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def default_storage():
    """The SQLite file beside the runs: runs/search.db (runs/quick/search.db in quick mode)."""
    folder = os.path.join(ROOT, *pick(("runs",), ("runs", "quick")))
    os.makedirs(folder, exist_ok=True)
    return "sqlite:///" + os.path.join(folder, "search.db")


def suggest(trial, space):
    """One point of space drawn by the trial's sampler; hidden sizes are rounded."""
    point = {}
    for name, (low, high, scale) in space.items():
        if scale not in ("log", "linear"):
            raise ValueError(f"scale of {name!r} must be 'log' or 'linear', got {scale!r}")
        if isinstance(low, int) and isinstance(high, int):
            point[name] = trial.suggest_int(name, low, high, log=scale == "log")
        else:
            point[name] = trial.suggest_float(name, low, high, log=scale == "log")
    return point


def narrow(space, study, top=5, margin=0.25):
    """space shrunk to the span of the study's top trials (by value), widened on each side
    by margin times that span (in log units for log scales) and kept inside space."""
    best = sorted((t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE),
                  key=lambda t: -t.value)[:top]
    if not best:
        raise ValueError(f"study {study.study_name!r} has no completed trial to narrow around")
    out = {}
    for name, (low, high, scale) in space.items():
        to, back = (math.log, math.exp) if scale == "log" else (float, float)
        values = [to(t.params[name]) for t in best]
        span = (max(values) - min(values)) or 0.1 * (to(high) - to(low))
        lo = back(max(to(low), min(values) - margin * span))
        hi = back(min(to(high), max(values) + margin * span))
        if isinstance(low, int) and isinstance(high, int):
            lo, hi = int(round(lo)), max(int(round(hi)), int(round(lo)) + 1)
        out[name] = (lo, hi, scale)
    return out


def open_study(name, stage="coarse", storage=None, seed=0, grace=60):
    """The study '<name>-<stage>' in storage (a database URL; default_storage() if None),
    created on first use: random sampling for 'coarse', TPE for 'fine', median pruning.
    Trials whose heartbeat stops for grace seconds are failed and run again."""
    if stage not in ("coarse", "fine"):
        raise ValueError(f"stage must be 'coarse' or 'fine', got {stage!r}")
    heartbeat = max(1, grace // 4)
    rdb = optuna.storages.RDBStorage(
        storage or default_storage(), heartbeat_interval=heartbeat, grace_period=grace,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(1))
    sampler = (optuna.samplers.RandomSampler(seed=seed) if stage == "coarse"
               else optuna.samplers.TPESampler(seed=seed, n_startup_trials=5))
    return optuna.create_study(study_name=f"{name}-{stage}", storage=rdb, sampler=sampler,
                               pruner=optuna.pruners.MedianPruner(n_startup_trials=5),
                               direction="maximize", load_if_exists=True)


def reporter(trial):
    """A Solver after_epoch function: report the latest validation accuracy to the trial
    and stop the run (optuna.TrialPruned) when the pruner says it is behind."""
    def after_epoch(solver):
        trial.report(solver.val_acc_history[-1], step=solver.epoch)
        if trial.should_prune():
            trial.set_user_attr("val_acc_history", solver.val_acc_history)
            raise optuna.TrialPruned(f"epoch {solver.epoch}: validation accuracy "
                                     f"{solver.val_acc_history[-1]:.3f} below the median")
    return after_epoch


def two_layer_trial(trial, data, space):
    """Objective of the 4.1.6 search: best validation accuracy of TwoLayerNet."""
    settings = {**suggest(trial, space), **FIXED["two-layer"]}
    start = time.time()
    solver = train_two_layer(data, **settings, verbose=False, after_epoch=reporter(trial))
    trial.set_user_attr("val_acc_history", solver.val_acc_history)
    trial.set_user_attr("wall_time_s", round(time.time() - start, 1))
    return solver.best_val_acc


# name -> (objective(trial, data, space) -> validation accuracy, function loading its data)
EXPERIMENTS = {"two-layer": (two_layer_trial, load_data)}


def _worker(name, stage, n_trials, storage, seed, grace, space):
    """One process: load the data, then run trials until the study has n_trials done."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(name, stage, storage, seed, grace)
    objective, load = EXPERIMENTS[name]
    data = load()

    def run(trial):
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        return objective(trial, data, space)
    done = optuna.study.MaxTrialsCallback(n_trials, states=STATES_DONE)
    if _finished(study) < n_trials:
        study.optimize(run, callbacks=[done], catch=(FloatingPointError,))
    return _finished(study)


def _finished(study):
    return sum(t.state in STATES_DONE for t in study.trials)


def run_search(name, n_trials, stage="coarse", workers=1, storage=None, seed=0, grace=60,
               space=None):
    """Run (or continue) the study of experiment name until n_trials trials are done,
    with workers processes on this machine; returns the study. space defaults to the
    experiment's whole space (pass narrow(...) for a fine stage)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}")
    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    storage = storage or default_storage()
    space = space or SPACES.get(name)
    study = open_study(name, stage, storage, seed, grace)      # create it once, up front
    optuna.storages.fail_stale_trials(study)
    if workers == 1:
        _worker(name, stage, n_trials, storage, seed, grace, space)
    else:
        # spawn: each worker opens its own database connections (none inherited by fork)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            jobs = [pool.submit(_worker, name, stage, n_trials, storage, seed + i, grace, space)
                    for i in range(workers)]
            for job in jobs:
                job.result()
    return open_study(name, stage, storage, seed, grace)


def trials_table(study):
    """Rows (number, state, params..., best val acc, epochs run, seconds, worker)."""
    rows = []
    for t in study.trials:
        curve = t.user_attrs.get("val_acc_history", [])
        rows.append({"number": t.number, "state": t.state.name.lower(), **t.params,
                     "val_acc": max(curve) if curve else np.nan, "epochs": max(len(curve) - 1, 0),
                     "wall_time_s": t.user_attrs.get("wall_time_s", np.nan),
                     "worker": t.user_attrs.get("worker", "")})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--trials", type=int, required=True,
                        help="run until the study holds this many finished trials")
    parser.add_argument("--stage", choices=["coarse", "fine"], default="coarse")
    parser.add_argument("--workers", type=int, default=1, help="processes on this machine")
    parser.add_argument("--storage", default=None,
                        help="database URL shared by every worker (default: runs/search.db)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grace", type=int, default=60,
                        help="seconds without a heartbeat before a trial counts as dead")
    args = parser.parse_args(argv)
    space = None
    if args.stage == "fine":
        coarse = open_study(args.experiment, "coarse", args.storage, args.seed, args.grace)
        space = narrow(SPACES[args.experiment], coarse)
    start = time.time()
    study = run_search(args.experiment, args.trials, args.stage, args.workers, args.storage,
                       args.seed, args.grace, space)
    best = study.best_trial
    print(f"{study.study_name}: {_finished(study)} trials done in this study "
          f"({time.time() - start:.0f}s this run); best validation accuracy {best.value:.4f} "
          f"with {best.params}")


if __name__ == "__main__":
    main()
