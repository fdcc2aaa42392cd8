"""Where a run writes and what it records: quick mode, checkpoint paths, the results file.

Quick mode (environment variable HW5_QUICK=1) shrinks every run so that the notebooks
run top to bottom in minutes: pick(full, quick) chooses a setting, checkpoint_path
writes no checkpoints, and results go to runs/quick/results.json. The results file
(results/results.json) holds one entry per experiment and a 'meta' entry saying
when, where and at which commit they were recorded; the writeup's tables read it.
This module imports nothing from the project, so that anything may import it.
"""
import json
import os
import platform
import subprocess
import time

import numpy as np
from filelock import FileLock

ROOT = os.path.dirname(os.path.abspath(__file__))
QUICK_ENV = "HW5_QUICK"
RESULTS_ENV = "HW5_RESULTS"
SEARCH_STORAGE_ENV = "HW5_SEARCH_STORAGE"
CHECKPOINT_DIR = os.path.join(ROOT, "checkpoints")


# ------------------------------------------------------------------ quick mode

def quick_mode():
    """True when HW5_QUICK is set to anything but '' or '0'."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")


def pick(full, quick):
    """full normally, quick in quick mode."""
    return quick if quick_mode() else full


def seed_everything(seed=0):
    """Seed NumPy's global generator (used only by code given no generator of its own)."""
    np.random.seed(seed)


# ------------------------------------------------------------------------ paths

def shown_path(path):
    """path relative to the repository, so that outputs never show the machine's folders."""
    return os.path.relpath(os.path.abspath(path), ROOT)


def checkpoint_path(tag):
    """checkpoints/<tag> for a Solver's checkpoint_name; None (no checkpoints) in quick mode."""
    return None if quick_mode() else os.path.join(CHECKPOINT_DIR, tag)


def search_db_path(root=ROOT):
    """The SQLite file the searches keep their studies in unless $HW5_SEARCH_STORAGE names
    another database: runs/search.db under root (runs/quick/search.db in quick mode)."""
    return os.path.join(root, *pick(("runs",), ("runs", "quick")), "search.db")


def results_path():
    """$HW5_RESULTS, else runs/quick/results.json in quick mode, else results/results.json."""
    default = os.path.join(ROOT, *pick(("results",), ("runs", "quick")), "results.json")
    return os.environ.get(RESULTS_ENV) or default


# ----------------------------------------------------------------- results file

def _meta():
    """When, where and at which commit: the results file's 'meta' entry."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"date": time.strftime("%Y-%m-%d"), "device": f"{os.cpu_count()} x {cpu}",
            "git_commit": commit, "mode": "quick" if quick_mode() else "full"}


def read_result(key, path=None):
    """The entry stored under key in the results JSON (KeyError naming the command that
    records it when there is none)."""
    path = path or results_path()
    results = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    if key not in results:
        raise KeyError(f"{path} holds no {key!r} yet: run the experiment that records it "
                       f"(e.g. python experiments.py ablation for 'best_model_ablation')")
    return results[key]


def record_result(key, entry, dataset, path=None):
    """Store entry under key in the results JSON (keeping the other keys).

    dataset: which data the run used, for the 'meta' entry (cifar.dataset_label()). 'meta'
    describes the latest write; meta['recorded'][key] keeps when, where and at which commit
    each entry was recorded, so a partial rerun does not restamp the others.
    """
    path = path or results_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Notebooks running at once each add their key: the lock keeps one from overwriting
    # another's between its read and its write (filelock works on every OS).
    with FileLock(path + ".lock"):
        results = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                results = json.load(f)
        meta = _meta()
        recorded = dict(results.get("meta", {}).get("recorded", {}))
        recorded[key] = {k: meta[k] for k in ("date", "device", "git_commit")}
        results["meta"] = dict(meta, data=dataset, recorded=recorded)
        results[key] = entry
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
        os.replace(path + ".tmp", path)


# ------------------------------------------------------------ a run's entry

def evaluate(solver, data, splits=("train", "val", "test")):
    """{'<split>_acc': accuracy of the solver's model on all of that split}."""
    return {f"{s}_acc": solver.check_accuracy(data[f"X_{s}"], data[f"y_{s}"]) for s in splits}


def solver_settings(solver):
    """The Solver's training settings, flat, for the record."""
    return dict(update_rule=solver.settings["update_rule"],
                learning_rate=solver.optim_config.get("learning_rate"),
                lr_decay=solver.lr_decay, num_epochs=solver.num_epochs,
                batch_size=solver.batch_size)


def training_seconds(solver):
    """Seconds of training a Solver's run took, rounded to 0.1: the sum of its epochs,
    those of earlier runs it resumed from included (solver.wall_time_s times only its own
    train() call, 0 s for a run resumed from its last checkpoint)."""
    return round(sum(solver.epoch_times), 1)


def as_json(settings):
    """settings with tuples as lists, as JSON stores them."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()}


def result_entry(solver, data, model_settings, splits=("train", "val", "test")):
    """A results.json entry: accuracies on the splits, the settings, training time
    (training_seconds).

    model_settings: the model's hyperparameters (the Solver's are added).
    """
    entry = evaluate(solver, data, splits)
    entry["wall_time_s"] = training_seconds(solver)
    entry["hyperparameters"] = as_json({**model_settings, **solver_settings(solver)})
    return entry


# ------------------------------------------------------- reading the histories

def first_epoch_at(history, value):
    """The first epoch (index into a per-epoch history) at which it reaches value, or None."""
    return next((epoch for epoch, v in enumerate(history) if v >= value), None)


def compare_histories(a, b):
    """Epochs where history a is above, level with and below history b (lists of epochs)."""
    return {"ahead": [e for e, (u, v) in enumerate(zip(a, b)) if u > v],
            "level": [e for e, (u, v) in enumerate(zip(a, b)) if u == v],
            "behind": [e for e, (u, v) in enumerate(zip(a, b)) if u < v]}
