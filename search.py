"""Hyperparameter search on Optuna: studies that resume, prune and share one database.

    python search.py two-layer --trials 30               # the study lives in runs/search.db
    python search.py two-layer --trials 30 --workers 2   # two processes share the study
    python search.py fc --trials 12                      # 4.3: dropout + batch norm net
    python search.py fc --trials 6 --stage fine          # TPE around the best coarse trials
    python search.py fc --trials 40 --storage postgresql+psycopg2://hw5@host/hw5   # many machines

An experiment (EXPERIMENTS) names a search space and trains one Solver per trial. Its
study is named after it, the stage ('coarse': random draws over the whole space, short
runs; 'fine': TPE over a space narrowed around the best coarse trials, longer runs) and a
digest of the space and budget, so that changing either starts a new study. The
same command run again continues the study until `trials` trials have finished (completed
or pruned); with several workers the study can end a few trials over (each worker that
starts a trial before the count is reached finishes it: at most workers - 1 extra). A
worker that dies leaves its trial 'running'; after `grace` seconds without the trial's
heartbeat the next trial to start marks it failed and queues it again, so a killed search
loses only the trials in flight (its workers end with it). Every trial reports its
validation accuracy after each epoch (Solver(after_epoch=...)) and the median pruner stops
a trial that is below the median of the earlier trials at the same epoch. A trial keeps
its settings, validation curve, wall time and worker in the study.
"""
import argparse
import contextlib
import datetime
import hashlib
import json
import math
import multiprocessing
import os
import re
import socket
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter
from sqlalchemy.exc import IntegrityError, OperationalError
from threadpoolctl import threadpool_limits

with warnings.catch_warnings():    # in a notebook, Optuna's tqdm asks for ipywidgets it never uses
    warnings.filterwarnings("ignore", message="IProgress not found")
    import optuna

from best_model import BEST, QUICK_BEST, best_solver, channel_standardize
from data_utils import get_CIFAR10_data
from experiments import (ROOT, load_data, pick, print_table, shown_path, standardize, subset,
                         train_fc, train_two_layer)
from validate import positive_int

# A space is {name: (low, high, scale)}, scale 'log' (log-uniform) or 'linear'; a range of
# two ints draws integers.
SPACES = {
    "two-layer": {"hidden_dim": (64, 1024, "log"), "learning_rate": (1e-4, 3e-3, "log"),
                  "reg": (1e-5, 1e-1, "log"), "weight_scale": (1e-4, 1e-2, "log"),
                  "lr_decay": (0.8, 1.0, "linear")},
    "fc": {"learning_rate": (1e-4, 1e-2, "log"), "dropout": (0.0, 0.6, "linear"),
           "reg": (1e-6, 1e-2, "log"), "lr_decay": (0.8, 1.0, "linear")},
    # 4.4.7: airbench94's learning rate, weight decay and label smoothing, each from about
    # a third to about three times its value (smoothing from none to 0.4)
    "best": {"lr_per_example": (5e-4, 4e-3, "log"), "weight_decay": (3e-3, 3e-2, "log"),
             "smoothing": (0.0, 0.4, "linear")},
}
# What every trial of a stage trains: training images (None: all) and epochs.
BUDGETS = {
    "two-layer": {"coarse": dict(num_train=None, num_epochs=pick(4, 2)),
                  "fine": dict(num_train=None, num_epochs=pick(10, 2))},
    "fc": {"coarse": dict(num_train=pick(20000, None), num_epochs=pick(3, 2)),
           "fine": dict(num_train=None, num_epochs=pick(10, 2))},
    # the ablation's runs (best_model.ABLATION_BASE: 3 epochs of 8,000 images, airbench93's
    # widths), with BEST's mirroring and no lookahead, scored on 5,000 held-out images
    "best": {stage: dict(num_train=None, num_epochs=pick(3, 1), widths=pick((64, 128, 128),
                                                                           QUICK_BEST["widths"]))
             for stage in ("coarse", "fine")},
}
# The first trial of a new coarse study: the settings the experiment uses today, so the
# table shows what the search found against them at the same budget.
START_POINTS = {"best": {name: BEST[name] for name in SPACES["best"]}}
# Images the 4.4.7 trials train on and score on: the first 8,000 training images, and the
# 5,000 after them (never the test images, nor the best model's validation images).
BEST_SEARCH_SIZES = pick(dict(num_training=8000, num_validation=5000),
                         dict(num_training=1000, num_validation=500))
STATES_DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


STORAGE_ENV = "HW5_SEARCH_STORAGE"


def default_storage():
    """$HW5_SEARCH_STORAGE when set (a database URL shared by several machines); otherwise
    the SQLite file runs/search.db (runs/quick/search.db in quick mode)."""
    if os.environ.get(STORAGE_ENV):
        return os.environ[STORAGE_ENV]
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


def study_name(name, stage):
    """'<name>-<stage>-<digest>': the digest (8 hex digits) covers the experiment's whole
    space and the stage's budget, so trials trained differently never share a study."""
    described = json.dumps({"space": SPACES[name], "budget": BUDGETS[name][stage]}, sort_keys=True)
    return f"{name}-{stage}-{hashlib.sha256(described.encode()).hexdigest()[:8]}"


def _parse_name(study):
    """(experiment, stage) of a study named by study_name."""
    match = re.fullmatch(r"(.+)-(coarse|fine)-[0-9a-f]{8}", study.study_name)
    if match is None:
        raise ValueError(f"study {study.study_name!r} is not named '<experiment>-<stage>-<digest>'")
    return match.groups()


@contextlib.contextmanager
def _experimental_allowed():
    """Silence Optuna's warning that heartbeats are experimental (they are, since 2.9)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def open_study(name, stage="coarse", storage=None, seed=0, grace=60):
    """The study study_name(name, stage) in storage (a database URL; default_storage() if
    None), created on first use: random sampling for 'coarse', TPE for 'fine', median
    pruning. Trials whose heartbeat stops for grace seconds are failed and run again. The
    sampler is seeded by seed and the number of trials the study already holds, so a
    resumed search draws new settings instead of repeating the first ones."""
    if stage not in ("coarse", "fine"):
        raise ValueError(f"stage must be 'coarse' or 'fine', got {stage!r}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)     # this module prints its own lines
    rdb = _rdb_storage(storage or default_storage(), grace)
    study = optuna.create_study(study_name=study_name(name, stage), storage=rdb,
                                sampler=optuna.samplers.RandomSampler(seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5),
                                direction="maximize", load_if_exists=True)
    drawn = int(np.random.SeedSequence([seed, len(study.trials)]).generate_state(1)[0])
    study.sampler = (optuna.samplers.RandomSampler(seed=drawn) if stage == "coarse"
                     else optuna.samplers.TPESampler(seed=drawn, n_startup_trials=5))
    return study


def _rdb_storage(url, grace, attempts=5):
    """Optuna's RDBStorage of url with heartbeats every grace / 4 s (failed and retried
    after grace s). Creating a new database's tables is not atomic: two processes that
    open it at the same moment can both try, and the loser gets 'table already exists'
    (or a locked database); it waits and tries again, up to attempts times."""
    for attempt in range(1, attempts + 1):
        try:
            with _experimental_allowed():
                retry_once = optuna.storages.RetryHeartbeatStaleTrialCallback(1)
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=max(1, grace // 4), grace_period=grace,
                    heartbeat_stale_trial_callback=retry_once)
        except (OperationalError, IntegrityError):
            if attempt == attempts:
                raise
            time.sleep(0.2 * attempt)


def reporter(trial):
    """A Solver after_epoch function: keep the validation curve so far in the trial, report
    its latest accuracy, and stop the run (optuna.TrialPruned) when the pruner says it is
    behind."""
    def after_epoch(solver):
        trial.set_user_attr("val_acc_history", solver.val_acc_history)
        trial.report(solver.val_acc_history[-1], step=solver.epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"epoch {solver.epoch}: validation accuracy "
                                     f"{solver.val_acc_history[-1]:.3f} below the median")
    return after_epoch


def _timed(trial, train):
    """train() -> a trained Solver; keeps its wall time in the trial and returns its best
    validation accuracy (the trial's value)."""
    start = time.time()
    try:
        return train().best_val_acc
    finally:
        trial.set_user_attr("wall_time_s", round(time.time() - start, 1))


def two_layer_trial(trial, data, space, budget):
    """Objective of the 4.1.6 search: TwoLayerNet with Adam, batches of 200."""
    settings = suggest(trial, space)
    return _timed(trial, lambda: train_two_layer(
        subset(data, budget["num_train"]), **settings, num_epochs=budget["num_epochs"],
        batch_size=200, verbose=False, after_epoch=reporter(trial)))


def fc_trial(trial, data, space, budget):
    """Objective of the 4.3 search: experiments.train_fc (3 x 1024 with batch norm and
    dropout, Adam, batches of 200, mirrored in alternate epochs) on images divided by the
    pixel standard deviation."""
    settings = suggest(trial, space)
    return _timed(trial, lambda: train_fc(
        subset(data, budget["num_train"]), **settings, num_epochs=budget["num_epochs"],
        verbose=False, after_epoch=reporter(trial)))


def best_trial(trial, data, space, budget):
    """Objective of the 4.4.7 search: best_model's recipe (BEST, at the budget's widths and
    epochs) with the trial's learning rate, weight decay and label smoothing; each epoch's
    validation accuracy with the mirror view (check_tta 'flip'), as the recorded trials had it."""
    settings = dict(pick(BEST, QUICK_BEST), **suggest(trial, space), widths=budget["widths"],
                    num_epochs=budget["num_epochs"], check_tta="flip")
    return _timed(trial, lambda: best_solver(subset(data, budget["num_train"]), settings,
                                             verbose=False, after_epoch=reporter(trial)).train())


def load_standardized(root=None):
    """load_data() divided by the training pixels' standard deviation (as 4.3 trains)."""
    return standardize(load_data(root))[0]


def load_best_search(root=None):
    """BEST_SEARCH_SIZES of the training images, standardized per channel as the best model
    trains; no test images."""
    return channel_standardize(get_CIFAR10_data(**BEST_SEARCH_SIZES, num_test=0,
                                                subtract_mean=False, root=root))


# name -> (objective(trial, data, space, budget) -> validation accuracy, data loader)
EXPERIMENTS = {"two-layer": (two_layer_trial, load_data), "fc": (fc_trial, load_standardized),
               "best": (best_trial, load_best_search)}


def _worker(name, stage, n_trials, storage, seed, grace, space, threads=None, parent=None):
    """One process: load the data, then run trials until the study has n_trials done,
    with at most `threads` BLAS threads (None: BLAS's own default). Given the pid of the
    process that started it, it exits as soon as that process is gone."""
    if parent is not None:
        _exit_with(parent)
    with threadpool_limits(threads, user_api="blas"):
        return _run_trials(name, stage, n_trials, storage, seed, grace, space)


def _exit_with(parent, every=1.0):
    """Watch, in a daemon thread, that this process's parent is still the pid parent, and
    end this process when it is not: a search killed with SIGKILL or SIGTERM leaves no worker
    training on. The trial in flight stays 'running' until its heartbeat is missed."""
    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_trials(name, stage, n_trials, storage, seed, grace, space):
    study = open_study(name, stage, storage, seed, grace)
    objective, load = EXPERIMENTS[name]
    data = load()
    budget = BUDGETS[name][stage]

    def run(trial):
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        return objective(trial, data, space, budget)
    done = optuna.study.MaxTrialsCallback(n_trials, states=STATES_DONE)
    if _finished(study) < n_trials:
        study.optimize(run, callbacks=[done], catch=(FloatingPointError,))
    return _finished(study)


def _finished(study):
    return sum(t.state in STATES_DONE for t in study.trials)


def _fail_never_beaten(study, grace):
    """Fail, and retry as stale trials are, the trials a killed search left 'running' before
    their first heartbeat. Optuna's fail_stale_trials passes over trials without one, but a
    live trial records its first as it starts: one started over grace seconds ago with none
    is dead (a search killed right as it began a trial left one 'running' for good)."""
    from optuna.storages._rdb import models       # the heartbeat table has no public reader
    storage = getattr(study._storage, "_backend", study._storage)    # under Optuna's cache
    if not isinstance(storage, optuna.storages.RDBStorage):
        return
    session = storage.scoped_session()
    try:
        running = (session.query(models.TrialModel)
                   .filter(models.TrialModel.study_id == study._study_id,
                           models.TrialModel.state == optuna.trial.TrialState.RUNNING).all())
        started_before = datetime.datetime.now() - datetime.timedelta(seconds=grace)
        dead = [t.trial_id for t in running
                if not t.heartbeats and t.datetime_start is not None
                and t.datetime_start < started_before]
    finally:
        session.close()
    for trial_id in dead:
        if storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL):
            storage.heartbeat_stale_trial_callback(study, storage.get_trial(trial_id))


def run_search(name, n_trials, stage="coarse", workers=1, storage=None, seed=0, grace=60,
               space=None):
    """Run (or continue) the study of experiment name until n_trials trials are done,
    with workers processes on this machine; returns the study. space defaults to the
    experiment's whole space for the coarse stage and, for the fine stage, to that space
    narrowed around the coarse study's best trials (which must exist)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}")
    n_trials, workers = positive_int("n_trials", n_trials), positive_int("workers", workers)
    storage = storage or default_storage()
    study = open_study(name, stage, storage, seed, grace)      # create it once, up front
    if stage == "coarse" and name in START_POINTS and not study.trials:
        study.enqueue_trial(START_POINTS[name])
    done = _finished(study)
    print(f"study {study.study_name} in {_shown(storage)}: {done} trials done, {n_trials} asked"
          + (f"; running the rest with {workers} worker(s)" if done < n_trials else ""), flush=True)
    if space is None:
        space = SPACES[name] if stage == "coarse" else \
            narrow(SPACES[name], open_study(name, "coarse", storage, seed, grace))
    with _experimental_allowed():
        _fail_never_beaten(study, grace)
        optuna.storages.fail_stale_trials(study)
    if workers == 1:
        _worker(name, stage, n_trials, storage, seed, grace, space)
    else:
        # spawn: each worker opens its own database connections (none inherited by fork)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            # the cores shared out: each worker's BLAS on more threads would oversubscribe them
            threads = max(1, (os.cpu_count() or 1) // workers)
            jobs = [pool.submit(_worker, name, stage, n_trials, storage, seed + i, grace, space,
                                threads, os.getpid()) for i in range(workers)]
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


def print_trials(study):
    """The study's trials as a table: settings, best validation accuracy, epochs run,
    seconds and state (complete, pruned, or fail: diverged or killed)."""
    rows = trials_table(study)
    names = [n for n in SPACES[_experiment(study)] if any(n in r for r in rows)]
    print_table(["trial", *[n.replace("_", " ") for n in names], "val acc", "epochs", "s", "state"],
                [(r["number"], *[r.get(n, np.nan) for n in names], r["val_acc"], r["epochs"],
                  r["wall_time_s"], r["state"]) for r in rows],
                ["d", *[".3g"] * len(names), ".3f", "d", ".0f", ""])


def plot_trials(studies, axes=None):
    """Best validation accuracy against each hyperparameter, one marker per study (coarse,
    fine); pruned trials hollow, at the accuracy they had reached when stopped."""
    name = _experiment(studies[0])
    space = SPACES[name]
    if axes is None:
        _, axes = plt.subplots(1, len(space), figsize=(4 * len(space), 3.6), sharey=True)
    for index, study in enumerate(studies):
        rows = [r for r in trials_table(study) if r["state"] in ("complete", "pruned")]
        stage, colour, marker = _parse_name(study)[1], f"C{index}", "os^v"[index % 4]
        for ax, (key, (_, _, scale)) in zip(axes, space.items()):
            for state, face in (("complete", colour), ("pruned", "none")):
                chosen = [r for r in rows if r["state"] == state]
                if chosen:
                    ax.scatter([r[key] for r in chosen], [r["val_acc"] for r in chosen],
                               marker=marker, facecolors=face, edgecolors=colour,
                               label=f"{stage}, {state}")
            ax.set_xscale("log" if scale == "log" else "linear")
            ax.xaxis.set_minor_formatter(NullFormatter())       # decades only: no overlaps
            ax.set_xlabel(key.replace("_", " "))
    axes[0].set_ylabel("best validation accuracy")
    axes[-1].legend(fontsize=8)
    plt.tight_layout()
    return axes


def summary(study):
    """What results.json keeps of a study: its trials by state, the best trial's value and
    settings, and the seconds the trials took (summed over workers)."""
    rows = trials_table(study)
    best = study.best_trial
    return {"study": study.study_name, "trials": len(rows),
            "states": {s: sum(r["state"] == s for r in rows) for s in sorted({r["state"] for r in rows})},
            "best_val_acc": best.value, "best_params": best.params, "best_trial": best.number,
            "trial_seconds": round(float(np.nansum([r["wall_time_s"] for r in rows])), 1)}


def _shown(url):
    """A database URL as printed: without its password, and a SQLite file relative to the
    repository (outputs never show the machine's folders)."""
    if url.startswith("sqlite:///"):
        return "sqlite:///" + shown_path(url[len("sqlite:///"):])
    head, at, tail = url.rpartition("@")
    return url if not at or ":" not in head.split("//", 1)[-1] else \
        head.rsplit(":", 1)[0] + ":***@" + tail


def _experiment(study):
    """The experiment a study belongs to."""
    return _parse_name(study)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--trials", type=int, required=True,
                        help="run until the study holds this many finished trials")
    parser.add_argument("--stage", choices=["coarse", "fine"], default="coarse")
    parser.add_argument("--workers", type=int, default=1, help="processes on this machine")
    parser.add_argument("--storage", default=None,
                        help="database URL shared by every worker (default: $HW5_SEARCH_STORAGE, "
                             "else runs/search.db)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grace", type=int, default=60,
                        help="seconds without a heartbeat before a trial counts as dead")
    args = parser.parse_args(argv)
    start = time.time()
    study = run_search(args.experiment, args.trials, args.stage, args.workers, args.storage,
                       args.seed, args.grace)
    print_trials(study)
    best = study.best_trial
    print(f"{study.study_name}: {_finished(study)} trials done in this study "
          f"({time.time() - start:.0f}s this run); best validation accuracy {best.value:.4f} "
          f"with {best.params}")


if __name__ == "__main__":
    main()
