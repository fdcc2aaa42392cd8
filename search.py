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
loses only the trials in flight (its workers end with it); a search started again on the
same machine fails at once the trials whose recorded worker process is gone. After
max_failures trials in a row fail (diverged), a worker stops with TrialsKeepFailing naming
the last error, instead of drawing failing trials for ever. Every trial reports its
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
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from threadpoolctl import threadpool_limits

with warnings.catch_warnings():    # in a notebook, Optuna's tqdm asks for ipywidgets it never uses
    warnings.filterwarnings("ignore", message="IProgress not found")
    import optuna

from cifar import load_data, standardize, subset
from data_utils import get_CIFAR10_data
from fc_training import train_fc, train_two_layer
from runs import ROOT, SEARCH_STORAGE_ENV, pick, search_db_path, shown_path
from vis_utils import print_table
from validate import nonnegative_int, positive_int, require

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
    # short runs (3 epochs of 8,000 images at airbench93's widths, the budget of an earlier
    # ablation), with BEST's mirroring and no lookahead, scored on 5,000 held-out images
    # (quick mode: best_model.QUICK_BEST's widths, checked by a test). best_model is imported
    # only by the 4.4.7 functions below, so that the notebooks searching the fully connected
    # nets do not depend on the conv net and its compiled loops.
    "best": {stage: dict(num_train=None, num_epochs=pick(3, 1),
                         widths=pick((64, 128, 128), (16, 32, 32)))
             for stage in ("coarse", "fine")},
}


def start_point(name):
    """The first trial of a new coarse study of name (None: none): the settings the
    experiment uses today, so the table shows what the search found against them."""
    if name != "best":
        return None
    from best_model import BEST
    return {key: BEST[key] for key in SPACES["best"]}
# Images the 4.4.7 trials train on and score on: the first 8,000 training images, and the
# 5,000 after them (never the test images, nor the best model's validation images).
BEST_SEARCH_SIZES = pick(dict(num_training=8000, num_validation=5000),
                         dict(num_training=1000, num_validation=500))
STATES_DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
RUNNING, FAIL = optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL
MAX_FAILURES = 5       # failed trials in a row after which a worker gives up


class TrialsKeepFailing(RuntimeError):
    """max_failures trials in a row failed: the space or the code is broken, and more
    trials would only fail the same way."""


def default_storage():
    """$HW5_SEARCH_STORAGE when set (a database URL shared by several machines); otherwise
    the SQLite file runs/search.db (runs/quick/search.db in quick mode)."""
    if os.environ.get(SEARCH_STORAGE_ENV):
        return os.environ[SEARCH_STORAGE_ENV]
    path = search_db_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return "sqlite:///" + path


def check_space(space):
    """space, checked: a non-empty dict {name: (low, high, scale)} with low < high finite
    real numbers (bools refused), scale 'log' (then low > 0) or 'linear'."""
    require(isinstance(space, dict) and space,
            f"space must be a non-empty dict {{name: (low, high, scale)}}, got {space!r}")
    for name, entry in space.items():
        require(isinstance(entry, tuple) and len(entry) == 3,
                f"space[{name!r}] must be a tuple (low, high, scale), got {entry!r}")
        low, high, scale = entry
        require(scale in ("log", "linear"),
                f"scale of {name!r} must be 'log' or 'linear', got {scale!r}")
        require(all(isinstance(v, (int, float, np.integer, np.floating))
                    and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)
                    for v in (low, high)) and low < high,
                f"space[{name!r}] must have finite numbers low < high, got {low!r}, {high!r}")
        require(scale == "linear" or low > 0,
                f"space[{name!r}] is log-scaled, so low must be > 0, got {low!r}")
    return space


def suggest(trial, space):
    """One point of space drawn by the trial's sampler; hidden sizes are rounded."""
    point = {}
    for name, (low, high, scale) in check_space(space).items():
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
    grace, seed = positive_int("grace", grace), nonnegative_int("seed", seed)
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
    (or a locked database); it waits and tries again, up to attempts times. The URL is
    checked first (check_storage), so a wrong path is named at once, never retried."""
    check_storage(url)
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


def check_storage(url):
    """url, checked: a database URL, and for a SQLite file, a path in an existing folder.

    The folder is not created: a path's folder that does not exist is more likely a typo
    than a wish (default_storage creates runs/ itself), and SQLite would only answer
    'unable to open database file' after every retry.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, TypeError, AttributeError) as error:
        raise ValueError(f"storage must be a database URL such as sqlite:///runs/search.db or "
                         f"postgresql+psycopg2://user@host/db, got "
                         f"{_shown(url) if isinstance(url, str) else url!r}") from error
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:") \
            or parsed.query.get("uri"):
        return url
    path = os.path.abspath(parsed.database)
    folder = os.path.dirname(path)
    require(os.path.isdir(folder), f"storage {url!r}: the folder {folder} of the SQLite "
                                   f"file does not exist; create it or fix the path")
    require(not os.path.isdir(path), f"storage {url!r}: {path} is a folder, not a "
                                     f"SQLite file")
    require(os.access(folder, os.W_OK | os.X_OK),
            f"storage {url!r}: the folder {folder} is not writable")
    return url


def reporter(trial):
    """A Solver after_epoch function: keep the validation curve so far in the trial, report
    its latest accuracy, and stop the run (optuna.TrialPruned) when the pruner says it is
    behind. After the last epoch there is nothing left to save: the trial completes."""
    def after_epoch(solver):
        trial.set_user_attr("val_acc_history", solver.val_acc_history)
        trial.report(solver.val_acc_history[-1], step=solver.epoch)
        if solver.epoch < solver.num_epochs and trial.should_prune():
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
    """Objective of the 4.3 search: fc_training.train_fc (3 x 1024 with batch norm and
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
    from best_model import best_solver, recipe
    settings = dict(recipe(), **suggest(trial, space), widths=budget["widths"],
                    num_epochs=budget["num_epochs"], check_tta="flip")
    return _timed(trial, lambda: best_solver(subset(data, budget["num_train"]), settings,
                                             verbose=False, after_epoch=reporter(trial)).train())


def load_standardized(root=None):
    """load_data() divided by the training pixels' standard deviation (as 4.3 trains)."""
    return standardize(load_data(root))[0]


def load_best_search(root=None):
    """BEST_SEARCH_SIZES of the training images, standardized per channel as the best model
    trains; no test images."""
    from best_model import channel_standardize
    return channel_standardize(get_CIFAR10_data(**BEST_SEARCH_SIZES, num_test=0,
                                                subtract_mean=False, root=root))


# name -> (objective(trial, data, space, budget) -> validation accuracy, data loader)
EXPERIMENTS = {"two-layer": (two_layer_trial, load_data), "fc": (fc_trial, load_standardized),
               "best": (best_trial, load_best_search)}


def _worker(name, stage, n_trials, storage, seed, grace, space, threads=None, parent=None,
            max_failures=MAX_FAILURES):
    """One process: load the data, then run trials until the study has n_trials done,
    with at most `threads` BLAS threads (None: BLAS's own default). Given the pid of the
    process that started it, it exits as soon as that process is gone."""
    if parent is not None:
        _exit_with(parent)
    with threadpool_limits(threads, user_api="blas"):
        return _run_trials(name, stage, n_trials, storage, seed, grace, space, max_failures)


def _exit_with(parent, every=1.0):
    """Watch, in a daemon thread, that this process's parent is still the pid parent, and
    end this process when it is not: a search killed with SIGKILL or SIGTERM leaves no worker
    training on. The trial in flight stays 'running' until its heartbeat is missed or a
    search started again on this machine sees its worker gone (fail_dead_trials)."""
    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_trials(name, stage, n_trials, storage, seed, grace, space, max_failures=MAX_FAILURES):
    study = open_study(name, stage, storage, seed, grace)
    objective, load = EXPERIMENTS[name]
    data = load()
    budget = BUDGETS[name][stage]
    return optimize(study, lambda trial: objective(trial, data, space, budget), n_trials,
                    max_failures)


def optimize(study, objective, n_trials, max_failures=MAX_FAILURES):
    """Run objective(trial) -> value in new trials of study until it holds n_trials finished
    (complete or pruned) trials; return that count. Each trial records its worker (claim)
    before anything else. A trial that raises FloatingPointError (diverged) fails and the
    search goes on, but after max_failures failed trials in a row of this process it stops
    with TrialsKeepFailing naming the last failure's error."""
    n_trials, max_failures = positive_int("n_trials", n_trials), \
        positive_int("max_failures", max_failures)
    failures = _FailureRun(max_failures)

    def run(trial):
        claim(trial)
        try:
            return objective(trial)
        except Exception as error:             # kept to name it if the run of failures ends
            failures.errors[trial.number] = error
            raise
    done = optuna.study.MaxTrialsCallback(n_trials, states=STATES_DONE)
    if _finished(study) < n_trials:
        study.optimize(run, callbacks=[done, failures], catch=(FloatingPointError,))
    return _finished(study)


class _FailureRun:
    """A study.optimize callback counting this process's failed trials in a row; raises
    TrialsKeepFailing (which ends optimize) when there are limit of them."""

    def __init__(self, limit):
        self.limit, self.numbers, self.errors = limit, [], {}

    def __call__(self, study, trial):
        if trial.state != FAIL:
            self.numbers, self.errors = [], {}
            return
        self.numbers.append(trial.number)
        if len(self.numbers) >= self.limit:
            error = self.errors.get(trial.number)
            cause = (f"{type(error).__name__}: {error}" if error is not None
                     else "a value that is not a number (NaN or None)")
            raise TrialsKeepFailing(
                f"study {study.study_name}: {len(self.numbers)} trials in a row failed (numbers "
                f"{self.numbers[0]}..{self.numbers[-1]}; max_failures={self.limit}), the last "
                f"with {cause}. Fix the space or the code before running more trials")


def _finished(study):
    return sum(t.state in STATES_DONE for t in study.trials)


# ------------------------------------------------------------- dead workers' trials
#
# Optuna's heartbeat fails a trial whose worker stopped beating for `grace` seconds
# (optuna.storages.fail_stale_trials), but skips a trial that never recorded a heartbeat:
# by design (Optuna issue #4026, tested since PR #4055; still so in Optuna 5.0), and its
# public API has no reader for heartbeats. So every trial records its worker as it starts
# (claim), and a search starting on a machine fails, through the public study.tell, the
# trials that machine's dead processes left running, and any trial that recorded no worker
# more than grace seconds after it started (killed between Optuna's ask and claim).

HOST = socket.gethostname()


def claim(trial):
    """Record, as the trial starts, the worker that runs it: 'worker' (host:pid, shown in the
    tables) and 'owner' (host, pid and the trial's number: a retried trial inherits its
    failed original's attributes, and the number tells an inherited owner from its own)."""
    trial.set_user_attr("worker", f"{HOST}:{os.getpid()}")
    trial.set_user_attr("owner", {"host": HOST, "pid": os.getpid(), "trial": trial.number})


def _process_alive(pid):
    """Whether process pid runs on this machine (a zombie, dead but not reaped, does not).
    The search's own pid counts as dead: it is only starting, so a trial recorded under it
    is an earlier process's that had the same pid. Unknown (not POSIX): alive, left to the
    heartbeat."""
    if pid == os.getpid():
        return False
    if os.name != "posix":
        return True                           # os.kill(pid, 0) would end it on Windows
    if os.path.isdir("/proc/self"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (FileNotFoundError, ProcessLookupError):
            return False
    try:                                      # no /proc (macOS): ask the kernel
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                   # another user's process
        return True
    return True


def _dead(trial, grace, now):
    """Whether a RUNNING trial's worker is gone: it recorded a worker on this machine that
    no longer runs, or it recorded none in the grace seconds since it started."""
    owner = trial.user_attrs.get("owner")
    if isinstance(owner, dict) and owner.get("trial") == trial.number:
        return owner.get("host") == HOST and not _process_alive(owner.get("pid"))
    started = trial.datetime_start
    return started is not None and (now - started).total_seconds() > grace


def fail_dead_trials(study, grace):
    """Fail the RUNNING trials of study whose worker is dead (see _dead) and queue each
    again once, as Optuna's RetryHeartbeatStaleTrialCallback(1) does for stale trials;
    return their numbers. A trial another process fails first is left to it."""
    now = datetime.datetime.now()          # Optuna's datetime_start is naive local time
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(RUNNING,)):
        if not _dead(trial, grace, now):
            continue
        try:
            frozen = study.tell(trial.number, state=FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            continue                       # finished meanwhile, by its worker or another search
        with _experimental_allowed():
            optuna.storages.RetryHeartbeatStaleTrialCallback(1)(study, frozen)
        failed.append(trial.number)
    return failed


def run_search(name, n_trials, stage="coarse", workers=1, storage=None, seed=0, grace=60,
               space=None, max_failures=MAX_FAILURES):
    """Run (or continue) the study of experiment name until n_trials trials are done,
    with workers processes on this machine; returns the study. space defaults to the
    experiment's whole space for the coarse stage and, for the fine stage, to that space
    narrowed around the coarse study's best trials (which must exist). Each worker stops
    with TrialsKeepFailing after max_failures failed trials in a row. Trials left running
    by dead workers are failed and queued again first (fail_dead_trials, then Optuna's
    heartbeat check)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}")
    n_trials, workers = positive_int("n_trials", n_trials), positive_int("workers", workers)
    max_failures = positive_int("max_failures", max_failures)
    if space is not None:
        check_space(space)
    storage = check_storage(storage or default_storage())
    study = open_study(name, stage, storage, seed, grace)      # create it once, up front
    if stage == "coarse" and start_point(name) is not None and not study.trials:
        study.enqueue_trial(start_point(name))
    done = _finished(study)
    print(f"study {study.study_name} in {_shown(storage)}: {done} of the {n_trials} trials "
          f"asked finished (complete or pruned)" + _unfinished(study)
          + (f"; running the rest with {workers} worker(s)" if done < n_trials else ""), flush=True)
    if space is None:
        space = SPACES[name] if stage == "coarse" else \
            narrow(SPACES[name], open_study(name, "coarse", storage, seed, grace))
    print(describe_search(space, BUDGETS[name][stage]), flush=True)
    fail_dead_trials(study, grace)
    with _experimental_allowed():
        optuna.storages.fail_stale_trials(study)
    if workers == 1:
        _worker(name, stage, n_trials, storage, seed, grace, space, max_failures=max_failures)
    else:
        # spawn: each worker opens its own database connections (none inherited by fork)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            # the cores shared out: each worker's BLAS on more threads would oversubscribe them
            threads = max(1, (os.cpu_count() or 1) // workers)
            jobs = [pool.submit(_worker, name, stage, n_trials, storage, seed + i, grace, space,
                                threads, os.getpid(), max_failures) for i in range(workers)]
            for job in jobs:
                job.result()
    return open_study(name, stage, storage, seed, grace)


def _unfinished(study):
    """', besides: N failed, M waiting' for the trials of study that did not finish, or ''."""
    counts = {state: sum(t.state.name.lower() == state for t in study.trials)
              for state in ("fail", "waiting", "running")}
    shown = [f"{n} {'failed' if state == 'fail' else state}" for state, n in counts.items() if n]
    return f", besides: {', '.join(shown)}" if shown else ""


def describe_search(space, budget):
    """Two lines: each hyperparameter's range and scale ('log': drawn log-uniformly), and
    what every trial trains (the stage's budget: training images, epochs, widths)."""
    ranges = "; ".join(f"{key.replace('_', ' ')} {low:g} to {high:g} ({scale})"
                       for key, (low, high, scale) in space.items())
    labels = {"num_train": "training images", "num_epochs": "epochs"}
    trains = ", ".join(f"{labels.get(key, key)} {'all' if value is None else value}"
                       for key, value in budget.items())
    return f"space: {ranges}\neach trial trains: {trains or 'what the experiment sets'}"


# What each state in a table of trials means, printed under a table that shows it.
STATE_NOTES = {
    "pruned": "pruned: stopped by the median pruner after the epochs shown, below the median "
              "of the earlier trials at the same epoch",
    "fail": "fail: the trial diverged (a loss that is not finite) or its worker was killed; "
            "a killed trial is queued again once, as a new row",
    "waiting": "waiting: queued again after a failure, not yet trained",
    "running": "running: in training now, or left by a worker killed since",
}


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
    seconds and state (complete, pruned, fail, waiting), and under it what each state other
    than complete means (STATE_NOTES)."""
    rows = trials_table(study)
    names = [n for n in SPACES[_experiment(study)] if any(n in r for r in rows)]
    print_table(["trial", *[n.replace("_", " ") for n in names], "val acc", "epochs", "s", "state"],
                [(r["number"], *[r.get(n, np.nan) for n in names], r["val_acc"], r["epochs"],
                  r["wall_time_s"], r["state"]) for r in rows],
                ["d", *[".3g"] * len(names), ".3f", "d", ".0f", ""])
    for state in sorted({r["state"] for r in rows} & set(STATE_NOTES)):
        print(STATE_NOTES[state])


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
    stages = " then ".join(_parse_name(study)[1] for study in studies)
    axes[0].figure.suptitle(f"{name} search ({stages}): validation accuracy of each trial")
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
    parser.add_argument("--max-failures", type=int, default=MAX_FAILURES,
                        help="failed trials in a row after which the search stops with an error")
    args = parser.parse_args(argv)
    start = time.time()
    study = run_search(args.experiment, args.trials, args.stage, args.workers, args.storage,
                       args.seed, args.grace, max_failures=args.max_failures)
    print_trials(study)
    best = study.best_trial
    print(f"{study.study_name}: {_finished(study)} trials done in this study "
          f"({time.time() - start:.0f}s this run); best validation accuracy {best.value:.4f} "
          f"with {best.params}")


if __name__ == "__main__":
    main()
