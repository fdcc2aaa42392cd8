"""Experiments the notebooks and the main job run, as plain functions.

`python experiments.py two-layer` trains the two-layer net on CIFAR-10 and
prints its validation and test accuracy.

Quick mode (environment variable HW5_QUICK=1) shrinks every experiment to a
small subset and a few iterations, so that the notebooks run top to bottom in
minutes; it never writes checkpoints, and its results go to runs/quick/.
Everything is seeded: a rerun of an experiment reproduces its numbers.
"""
import argparse
import fcntl
import hashlib
import json
import os
import platform
import subprocess
import time

import matplotlib.pyplot as plt
import numpy as np

from cnn import ThreeLayerConvNet
from convnet import ConvNet
from data_utils import BATCH_FILES, cifar10_dir, get_CIFAR10_data, load_CIFAR_batch, md5sum
from fc_net import FullyConnectedNet, TwoLayerNet
from layers import conv_forward_naive
from solver import Solver
from vis_utils import show_grid

ROOT = os.path.dirname(os.path.abspath(__file__))
QUICK_ENV = "HW5_QUICK"
RESULTS_ENV = "HW5_RESULTS"
CHECKPOINT_DIR = os.path.join(ROOT, "checkpoints")

# MD5 of the files of the official CIFAR-10 python archive, to tell that copy
# from any other (e.g. the course's JPEG re-encoding).
OFFICIAL_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}


# ------------------------------------------------------------ mode and data

def quick_mode():
    """True when HW5_QUICK is set to anything but '' or '0'."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")


def pick(full, quick):
    """full normally, quick in quick mode."""
    return quick if quick_mode() else full


DATA_SIZES = dict(num_training=49000, num_validation=1000, num_test=1000)
QUICK_DATA_SIZES = dict(num_training=1000, num_validation=200, num_test=200)


def load_data(root=None):
    """The CIFAR-10 splits (mean subtracted, (N, 3, 32, 32) float32), smaller in quick mode."""
    return get_CIFAR10_data(**pick(DATA_SIZES, QUICK_DATA_SIZES), root=root)


def describe_dataset(root=None):
    """One line naming the CIFAR-10 folder and whether its files are the official ones."""
    root = os.path.abspath(cifar10_dir(root))
    official = all(md5sum(os.path.join(root, name)) == OFFICIAL_MD5[name] for name in BATCH_FILES)
    if official:
        return f"{root}: the official CIFAR-10 files (MD5 checked)"
    note = ""
    readme = os.path.join(os.path.dirname(root), "README.md")
    if os.path.isfile(readme) and "JPEG" in open(readme, encoding="utf-8").read():
        note = (" It is the course copy re-encoded as JPEG (quality 75, see "
                f"{readme}); accuracies can run a little below the official data's.")
    return f"{root}: NOT the official CIFAR-10 files (MD5 differs).{note}"


def standardize(data):
    """Divide every image split by the training images' standard deviation.

    The loader subtracts the mean image but leaves the pixel scale (std ~ 60),
    while He initialisation assumes inputs of unit variance. Returns (data, std).
    """
    std = float(data["X_train"].std())
    return {k: (v / np.float32(std) if k.startswith("X_") else v) for k, v in data.items()}, std


def sample_images(n=2, seed=0, root=None):
    """n raw test images, (n, 32, 32, 3) uint8, chosen at random with the seed."""
    X, _ = load_CIFAR_batch(os.path.join(cifar10_dir(root), "test_batch"))
    pick_ = np.random.default_rng(seed).choice(len(X), n, replace=False)
    return X[pick_].astype(np.uint8)


def seed_everything(seed=0):
    """Seed NumPy's global generator, which dropout masks without a seed draw from."""
    np.random.seed(seed)


# ----------------------------------------------------------------- results

def results_path():
    """$HW5_RESULTS, else runs/quick/results.json in quick mode, else results/results.json."""
    default = os.path.join(ROOT, *pick(("results",), ("runs", "quick")), "results.json")
    return os.environ.get(RESULTS_ENV) or default


def _meta():
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
    official = "official" if "NOT" not in describe_dataset() else "JPEG-q75 course copy"
    return {"date": time.strftime("%Y-%m-%d"), "device": f"{os.cpu_count()} x {cpu}",
            "git_commit": commit, "data": f"CIFAR-10 ({official})",
            "mode": "quick" if quick_mode() else "full"}


def record_result(key, entry, path=None):
    """Store entry under key in the results JSON (keeping the other keys); returns the path."""
    path = path or results_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Notebooks running at once each add their key: a lock on the folder keeps one
    # from overwriting another's between its read and its write.
    folder = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        results = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                results = json.load(f)
        results["meta"] = _meta()
        results[key] = entry
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
        os.replace(path + ".tmp", path)
    finally:
        os.close(folder)        # releases the lock
    return path


def evaluate(solver, data, splits=("train", "val", "test")):
    """{'<split>_acc': accuracy of the solver's model on all of that split}."""
    return {f"{s}_acc": solver.check_accuracy(data[f"X_{s}"], data[f"y_{s}"]) for s in splits}


def result_entry(solver, data, hyperparameters, splits=("train", "val", "test")):
    """A results.json entry: accuracies on the splits, hyperparameters, training time."""
    entry = evaluate(solver, data, splits)
    entry["wall_time_s"] = round(solver.wall_time_s, 1)
    entry["hyperparameters"] = {k: (list(v) if isinstance(v, tuple) else v)
                                for k, v in hyperparameters.items()}
    return entry


def print_table(headers, rows, formats=None):
    """Print rows under headers as aligned text; formats are per-column format specs."""
    formats = formats or [""] * len(headers)
    cells = [[format(v, f) if not isinstance(v, str) else v for v, f in zip(row, formats)]
             for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths)))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))


# ---------------------------------------------------------------- training

def _input_dim(data):
    return int(np.prod(data["X_train"].shape[1:]))


def _checkpoint_name(tag, settings):
    """checkpoints/<tag>-<hash of the settings>: a changed setting never resumes a stale run."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    return os.path.join(CHECKPOINT_DIR, f"{tag}-{digest.hexdigest()[:10]}")


def train(model, data, *, update_rule="adam", learning_rate=1e-3, lr_decay=1.0,
          num_epochs=10, batch_size=100, checkpoint=None, model_settings=None, seed=0,
          verbose=True, print_every=100, num_train_samples=1000):
    """Train model with a seeded Solver; returns the Solver (model holds the best params).

    checkpoint: a tag; outside quick mode the Solver then saves a checkpoint after
    every epoch under checkpoints/, and a rerun with the same tag and settings
    (the Solver's, the parameter shapes and model_settings, a dict of the model's
    other hyperparameters) resumes from the latest one instead of starting over. The Solver gets
    wall_time_s (seconds spent in this call) and resumed_from (epoch or None).
    """
    settings = dict(update_rule=update_rule, learning_rate=learning_rate, lr_decay=lr_decay,
                    num_epochs=num_epochs, batch_size=batch_size, seed=seed,
                    model=type(model).__name__,
                    shapes={k: v.shape for k, v in model.params.items()},
                    model_settings=model_settings, data=data["X_train"].shape)
    name = None if checkpoint is None or quick_mode() else _checkpoint_name(checkpoint, settings)
    solver = Solver(model, data, update_rule=update_rule,
                    optim_config={"learning_rate": learning_rate}, lr_decay=lr_decay,
                    num_epochs=num_epochs, batch_size=batch_size, checkpoint_name=name,
                    print_every=print_every, num_train_samples=num_train_samples,
                    verbose=verbose, seed=seed)
    solver.resumed_from = None
    latest = name and Solver.latest_checkpoint(name)
    if latest:
        solver.load_checkpoint(latest)
        solver.resumed_from = solver.epoch
        if verbose:
            print(f"resuming from {os.path.relpath(latest, ROOT)} (epoch {solver.epoch})")
    start = time.time()
    solver.train()
    solver.wall_time_s = time.time() - start
    return solver


# ----------------------------------------------------- 4.1.6: two-layer net

TWO_LAYER = dict(hidden_dim=256, reg=0.01, weight_scale=1e-3, learning_rate=3e-4,
                 lr_decay=0.9, num_epochs=10, batch_size=200)


def train_two_layer(data, hidden_dim, reg, weight_scale, learning_rate, lr_decay,
                    num_epochs, batch_size, seed=0, verbose=True):
    """Train TwoLayerNet (float32) with Adam; returns the Solver (model holds the best params)."""
    model = TwoLayerNet(hidden_dim=hidden_dim, reg=reg, weight_scale=weight_scale,
                        dtype=np.float32, seed=seed)
    return train(model, data, learning_rate=learning_rate, lr_decay=lr_decay,
                 num_epochs=num_epochs, batch_size=batch_size, seed=seed, verbose=verbose)


# ------------------------------------------ 4.1.8-4.1.9: overfit 50 images

def overfit_small(data, hidden_dims, weight_scale, learning_rate, num_train=50, num_epochs=20,
                  batch_size=25, seed=0, verbose=False):
    """Train FullyConnectedNet(hidden_dims) with SGD on the first num_train images."""
    small = {"X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
             "X_val": data["X_val"], "y_val": data["y_val"]}
    model = FullyConnectedNet(hidden_dims, input_dim=_input_dim(data), weight_scale=weight_scale,
                              seed=seed)
    return train(model, small, update_rule="sgd", learning_rate=learning_rate,
                 num_epochs=num_epochs, batch_size=batch_size, seed=seed, verbose=verbose,
                 print_every=10)


def overfit_grid(data, hidden_dims, weight_scales, learning_rates, **kwargs):
    """Final training accuracy of overfit_small over a weight_scale x learning_rate grid.

    Returns (acc, best): acc[i, j] for weight_scales[i], learning_rates[j] (NaN where
    training diverged); best is
    the (weight_scale, learning_rate) that reached 100% in the fewest epochs (ties:
    lower final loss), or None when no setting did.
    """
    acc = np.full((len(weight_scales), len(learning_rates)), np.nan)
    candidates = []
    for i, ws in enumerate(weight_scales):
        for j, lr in enumerate(learning_rates):
            try:
                # Overflow is expected where the steps are too big; the Solver's
                # FloatingPointError reports it, so silence NumPy's warnings.
                with np.errstate(over="ignore", invalid="ignore"):
                    solver = overfit_small(data, hidden_dims, ws, lr, **kwargs)
            except FloatingPointError:      # diverged: the cell stays NaN
                continue
            history = solver.train_acc_history
            acc[i, j] = history[-1]
            if history[-1] == 1.0:
                candidates.append((history.index(1.0), solver.loss_history[-1], ws, lr))
    best = min(candidates)[2:] if candidates else None
    return acc, best


def plot_grid(acc, weight_scales, learning_rates, ax=None, title=None):
    """Heat map of overfit_grid's accuracies, each cell labelled ('div.': diverged)."""
    ax = ax or plt.gca()
    ax.imshow(np.nan_to_num(acc), vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(learning_rates)), [f"{v:g}" for v in learning_rates])
    ax.set_yticks(range(len(weight_scales)), [f"{v:g}" for v in weight_scales])
    ax.set_xlabel("learning rate")
    ax.set_ylabel("weight scale")
    for (i, j), v in np.ndenumerate(acc):
        ax.text(j, i, "div." if np.isnan(v) else f"{v:.2f}", ha="center", va="center",
                color="k" if v >= 0.6 else "w")
    if title:
        ax.set_title(title)
    return ax


# ----------------------------------------- 4.1.10-4.1.12: update rules

UPDATE_RULE_RATES = {"sgd": 1e-2, "sgd_momentum": 1e-2, "rmsprop": 1e-4, "adam": 1e-3}


def compare_update_rules(data, rates=None, hidden_dims=(100,) * 5, num_train=None,
                         num_epochs=5, batch_size=100, weight_scale=5e-2, seed=0):
    """Train the same six-layer net (same init, same batches) with each update rule.

    Returns {rule: Solver}.
    """
    rates = rates or UPDATE_RULE_RATES
    num_train = num_train or pick(4000, 500)
    small = dict(data, X_train=data["X_train"][:num_train], y_train=data["y_train"][:num_train])
    solvers = {}
    for rule, lr in rates.items():
        print(f"--- {rule} (learning rate {lr:g})")
        model = FullyConnectedNet(list(hidden_dims), input_dim=_input_dim(data),
                                  weight_scale=weight_scale, seed=seed)
        solvers[rule] = train(model, small, update_rule=rule, learning_rate=lr,
                              num_epochs=num_epochs, batch_size=batch_size, seed=seed,
                              print_every=10 ** 9)
    return solvers


# ------------------------------------------ 4.3: best fully connected net

# Coarse ranges (log10 for rates and scales); the fine stage narrows them
# around the best coarse trials.
FC_RANGES = dict(log_learning_rate=(-4.5, -2.5), dropout=(0.0, 0.6),
                 log_weight_scale=(-2.0, -1.0), log_reg=(-6.0, -2.0))
FC_ARCHITECTURE = (1024, 1024, 1024)
FC_SEARCH = dict(coarse_trials=12, coarse_train=10000, coarse_epochs=1,
                 fine_trials=6, fine_train=20000, fine_epochs=2, top=3)
QUICK_FC_SEARCH = dict(coarse_trials=2, coarse_train=300, coarse_epochs=1,
                       fine_trials=1, fine_train=300, fine_epochs=1, top=1)
FC_FINAL = dict(num_epochs=20, batch_size=100, lr_decay=0.9)
QUICK_FC_FINAL = dict(num_epochs=1, batch_size=100, lr_decay=0.9)


def sample_fc_settings(ranges, rng):
    """One draw: log-uniform rates, scales and reg, uniform dropout."""
    u = {name: rng.uniform(lo, hi) for name, (lo, hi) in ranges.items()}
    return dict(learning_rate=float(10 ** u["log_learning_rate"]),
                dropout=round(float(u["dropout"]), 3),
                weight_scale=float(10 ** u["log_weight_scale"]),
                reg=float(10 ** u["log_reg"]))


def narrow_ranges(ranges, trials, top):
    """Ranges spanning the top trials (by validation accuracy), widened by a margin."""
    best = sorted(trials, key=lambda t: -t["val_acc"])[:top]
    logs = {"log_learning_rate": [np.log10(t["learning_rate"]) for t in best],
            "dropout": [t["dropout"] for t in best],
            "log_weight_scale": [np.log10(t["weight_scale"]) for t in best],
            "log_reg": [np.log10(t["reg"]) for t in best]}
    margin = {"log_learning_rate": 0.15, "dropout": 0.05, "log_weight_scale": 0.1, "log_reg": 0.5}
    out = {}
    for name, values in logs.items():
        lo, hi = ranges[name]
        out[name] = (float(max(lo, min(values) - margin[name])),
                     float(min(hi, max(values) + margin[name])))
    return out


def fc_trials(data, ranges, num_trials, num_train, num_epochs, hidden_dims=FC_ARCHITECTURE,
              batch_size=100, seed=0, stage=""):
    """Train one net per sampled setting on the first num_train images; list of trial dicts."""
    rng = np.random.default_rng(seed)
    small = dict(data, X_train=data["X_train"][:num_train], y_train=data["y_train"][:num_train])
    trials = []
    for k in range(num_trials):
        settings = sample_fc_settings(ranges, rng)
        seed_everything(seed + k)
        model = FullyConnectedNet(list(hidden_dims), input_dim=_input_dim(data),
                                  dropout=settings["dropout"], reg=settings["reg"],
                                  weight_scale=settings["weight_scale"], seed=seed + k)
        try:
            solver = train(model, small, learning_rate=settings["learning_rate"],
                           num_epochs=num_epochs, batch_size=batch_size, seed=seed + k,
                           verbose=False)
            result = dict(train_acc=solver.train_acc_history[-1], val_acc=solver.best_val_acc)
        except FloatingPointError:
            result = dict(train_acc=0.0, val_acc=0.0)
        trials.append(dict(stage=stage, **settings, **result))
        print(f"{stage} {k + 1}/{num_trials}: lr {settings['learning_rate']:.2e}, dropout "
              f"{settings['dropout']:.2f}, weight scale {settings['weight_scale']:.2e}, reg "
              f"{settings['reg']:.1e} -> val {result['val_acc']:.3f}", flush=True)
    return trials


def fc_search(data, ranges=None, search=None, seed=0):
    """Coarse-to-fine random search; returns (all trials, narrowed ranges, best trial)."""
    ranges = ranges or FC_RANGES
    s = search or pick(FC_SEARCH, QUICK_FC_SEARCH)
    coarse = fc_trials(data, ranges, s["coarse_trials"], s["coarse_train"], s["coarse_epochs"],
                       seed=seed, stage="coarse")
    fine_ranges = narrow_ranges(ranges, coarse, s["top"])
    fine = fc_trials(data, fine_ranges, s["fine_trials"], s["fine_train"], s["fine_epochs"],
                     seed=seed + 1000, stage="fine")
    best = max(fine, key=lambda t: t["val_acc"])
    return coarse + fine, fine_ranges, best


def plot_search(trials, axes=None):
    """Validation accuracy against learning rate and dropout, coarse and fine trials apart."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12, 4))
    for stage, marker in (("coarse", "o"), ("fine", "s")):
        chosen = [t for t in trials if t["stage"] == stage]
        for ax, key in zip(axes, ("learning_rate", "dropout")):
            ax.scatter([t[key] for t in chosen], [t["val_acc"] for t in chosen],
                       marker=marker, label=stage)
    axes[0].set_xscale("log")
    for ax, xlabel in zip(axes, ("learning rate", "dropout probability p")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation accuracy")
        ax.legend()
    plt.tight_layout()
    return axes


def fc_hyperparameters(best, hidden_dims=FC_ARCHITECTURE):
    """The full setting of the final fully connected net, for the record."""
    return dict(hidden_dims=list(hidden_dims),
                **{k: best[k] for k in ("learning_rate", "dropout", "weight_scale", "reg")},
                update_rule="adam", **pick(FC_FINAL, QUICK_FC_FINAL),
                inputs="divided by the pixel std")


def show_units(net, n=100, image_shape=(3, 32, 32), ax=None):
    """First-layer weights of the first n hidden units only, large enough to read."""
    images = net.params["theta1"][:, :n].reshape(*image_shape, -1).transpose(3, 1, 2, 0)
    return show_grid(images, ax=ax, title=f"first-layer weights of the first {n} units")


def train_fc_best(data, best, hidden_dims=FC_ARCHITECTURE, final=None, seed=0):
    """Train the chosen setting on all the training data for the final epoch budget."""
    final = final or pick(FC_FINAL, QUICK_FC_FINAL)
    seed_everything(seed)
    model = FullyConnectedNet(list(hidden_dims), input_dim=_input_dim(data),
                              dropout=best["dropout"], reg=best["reg"],
                              weight_scale=best["weight_scale"], seed=seed)
    return train(model, data, learning_rate=best["learning_rate"], checkpoint="fc-best",
                 model_settings=best, seed=seed, **final)


# --------------------------------------------- 4.2.4: dropout experiment

DROPOUT_EXPERIMENT = dict(num_train=500, hidden_dims=(500,), num_epochs=25, batch_size=100,
                          learning_rate=5e-4, weight_scale=1e-2)


def dropout_experiment(data, ps=(0.0, 0.75), seed=0, **overrides):
    """Train the same two-layer net on 500 images with each dropout probability p.

    Returns {label: Solver}.
    """
    s = {**DROPOUT_EXPERIMENT, **overrides}
    small = dict(data, X_train=data["X_train"][:s["num_train"]],
                 y_train=data["y_train"][:s["num_train"]])
    solvers = {}
    for p in ps:
        label = "no dropout" if p == 0 else f"dropout p = {p:g}"
        seed_everything(seed)
        model = FullyConnectedNet(list(s["hidden_dims"]), input_dim=_input_dim(data), dropout=p,
                                  weight_scale=s["weight_scale"], seed=seed)
        print(f"--- {label}")
        solvers[label] = train(model, small, learning_rate=s["learning_rate"],
                               num_epochs=s["num_epochs"], batch_size=s["batch_size"],
                               seed=seed, print_every=10 ** 9)
    return solvers


# ------------------------------------ 4.4: convolution on real images

def demo_filters():
    """Two hand-set 3x3 filters on RGB input: luminance, and horizontal edges (Sobel)."""
    luminance = np.array([0.299, 0.587, 0.114])      # ITU-R BT.601 weights
    theta = np.zeros((2, 3, 3, 3))
    theta[0, :, 1, 1] = luminance
    sobel = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=float)
    # Edges of the luminance image, scaled by 1/8 so that the strongest possible edge
    # (+-4 * 255) spans +-127 and, with a bias of 128, the map fits the 0-255 grey range.
    theta[1] = luminance[:, None, None] * sobel / 8
    return theta, np.array([0.0, 128.0])


def filter_demo(images):
    """Convolve raw images (n, 32, 32, 3) with demo_filters; returns (n, 2, 32, 32)."""
    theta, theta0 = demo_filters()
    x = images.transpose(0, 3, 1, 2).astype(np.float64)
    out, _ = conv_forward_naive(x, theta, theta0, {"stride": 1, "pad": 1})
    return out


def plot_filter_demo(images, responses):
    """One row per image: the image, then each filter's response in grey."""
    n, k = responses.shape[:2]
    fig, axes = plt.subplots(n, k + 1, figsize=(3 * (k + 1), 3 * n), squeeze=False)
    titles = ["original", "luminance filter", "horizontal-edge filter"]
    for i in range(n):
        axes[i, 0].imshow(images[i])
        for j in range(k):
            axes[i, j + 1].imshow(np.clip(responses[i, j], 0, 255), cmap="gray", vmin=0, vmax=255)
        for j, ax in enumerate(axes[i]):
            ax.axis("off")
            if i == 0:
                ax.set_title(titles[j] if j < len(titles) else f"filter {j}")
    plt.tight_layout()
    return axes


# --------------------------------------------- 4.4.5-4.4.6: three-layer net

CNN_OVERFIT = dict(num_train=100, num_epochs=15, batch_size=50, learning_rate=1e-3,
                   weight_scale=1e-2)
CNN_ONE_EPOCH = dict(hidden_dim=500, num_filters=32, filter_size=7, weight_scale=1e-3, reg=1e-3,
                     learning_rate=1e-3, num_epochs=1, batch_size=50)
CNN_TUNED = dict(hidden_dim=500, num_filters=32, filter_size=7, weight_scale=1e-3, reg=1e-3,
                 learning_rate=1e-3, lr_decay=0.9, num_epochs=10, batch_size=50)
QUICK_CNN = dict(num_epochs=1)


def overfit_cnn(data, seed=0, **overrides):
    """ThreeLayerConvNet on the first num_train images: training accuracy should reach ~1."""
    s = {**CNN_OVERFIT, **overrides}
    small = dict(data, X_train=data["X_train"][:s["num_train"]],
                 y_train=data["y_train"][:s["num_train"]])
    model = ThreeLayerConvNet(weight_scale=s["weight_scale"], seed=seed)
    return train(model, small, learning_rate=s["learning_rate"], num_epochs=s["num_epochs"],
                 batch_size=s["batch_size"], seed=seed, print_every=1)


def train_three_layer(data, settings, checkpoint=None, seed=0):
    """ThreeLayerConvNet with the given settings (see CNN_ONE_EPOCH), trained with Adam."""
    s = {**settings, **pick({}, QUICK_CNN)}
    model = ThreeLayerConvNet(num_filters=s["num_filters"], filter_size=s["filter_size"],
                              hidden_dim=s["hidden_dim"], weight_scale=s["weight_scale"],
                              reg=s["reg"], seed=seed)
    return train(model, data, learning_rate=s["learning_rate"], lr_decay=s.get("lr_decay", 1.0),
                 num_epochs=s["num_epochs"], batch_size=s["batch_size"],
                 checkpoint=checkpoint, model_settings=s, seed=seed, print_every=200)


# ------------------------------------------------ 4.4.7: ConvNet of our own

CONVNET = dict(num_filters=(32, 64, 128), filter_size=3, hidden_dims=(256,), reg=5e-4,
               learning_rate=1e-3, lr_decay=0.85, num_epochs=12, batch_size=100, flip=True)


class FlipAugment:
    """Wraps a model so that training batches have a random half mirrored left-right.

    A mirrored CIFAR-10 image shows the same class, so this doubles the variety
    of the training set for free. Scores (y=None) are computed on the images as
    given. Exposes the model's params dict, so a Solver can train the wrapper.
    """

    def __init__(self, model, seed=None):
        self.model = model
        self.rng = np.random.default_rng(seed)

    @property
    def params(self):
        return self.model.params

    def loss(self, X, y=None):
        if y is not None:
            flip = self.rng.random(len(X)) < 0.5
            X = X.copy()
            X[flip] = X[flip, :, :, ::-1]
        return self.model.loss(X, y)


def train_convnet(data, settings=None, checkpoint="convnet", seed=0):
    """ConvNet(settings) with Adam on standardized data (see standardize); returns the Solver.

    The Solver's model is the FlipAugment wrapper when settings['flip'] is true;
    the ConvNet itself is solver.model.model then.
    """
    s = {**(settings or CONVNET), **pick({}, QUICK_CNN)}
    model = ConvNet(num_filters=s["num_filters"], filter_size=s["filter_size"],
                    hidden_dims=s["hidden_dims"], reg=s["reg"], seed=seed)
    if s["flip"]:
        model = FlipAugment(model, seed=seed)
    return train(model, data, learning_rate=s["learning_rate"], lr_decay=s["lr_decay"],
                 num_epochs=s["num_epochs"], batch_size=s["batch_size"],
                 checkpoint=checkpoint, model_settings=s, seed=seed, print_every=100)


# ------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["two-layer"])
    parser.add_argument("--data", default=None, help="CIFAR-10 folder (default: $CIFAR10_DIR)")
    args = parser.parse_args(argv)
    data = get_CIFAR10_data(root=args.data)
    solver = train_two_layer(data, **TWO_LAYER)
    test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
    print(f"TwoLayerNet {TWO_LAYER}")
    print(f"validation accuracy: {solver.best_val_acc:.3f}  test accuracy: {test_acc:.3f}  "
          f"({solver.wall_time_s:.0f}s)")


if __name__ == "__main__":
    main()
