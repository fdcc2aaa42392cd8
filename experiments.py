"""What the notebooks would otherwise repeat: data, quick mode, results, plots, search helpers.

The notebooks build their models and Solvers in their own cells; this module
holds the plumbing around them. `python experiments.py two-layer` (the main
job's short run) trains the two-layer net of 4.1.6 on CIFAR-10 and prints its
validation and test accuracy.

Quick mode (environment variable HW5_QUICK=1) shrinks the data to a small subset
(and the notebooks shrink their epoch counts with pick), so that the notebooks
run top to bottom in minutes; it never writes checkpoints, and its results go
to runs/quick/. Everything is seeded: a rerun reproduces its numbers.
"""
import argparse
import json
import os
import platform
import subprocess
import time

import matplotlib.pyplot as plt
import numpy as np
from filelock import FileLock

from data_utils import BATCH_FILES, cifar10_dir, get_CIFAR10_data, load_CIFAR_batch, md5sum
from convnet import AlternatingFlips, resume_mirrored
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


def shown_path(path):
    """path relative to the repository, so that outputs never show the machine's folders."""
    return os.path.relpath(os.path.abspath(path), ROOT)


def describe_dataset(root=None):
    """One line naming the CIFAR-10 folder and whether its files are the official ones."""
    root = os.path.abspath(cifar10_dir(root))
    official = all(md5sum(os.path.join(root, name)) == OFFICIAL_MD5[name] for name in BATCH_FILES)
    if official:
        return f"{shown_path(root)}: the official CIFAR-10 files (MD5 checked)"
    note = ""
    readme = os.path.join(os.path.dirname(root), "README.md")
    if os.path.isfile(readme) and "JPEG" in open(readme, encoding="utf-8").read():
        note = (" It is the course copy re-encoded as JPEG (quality 75, see "
                f"{shown_path(readme)}); accuracies can run a little below the official data's.")
    return f"{shown_path(root)}: NOT the official CIFAR-10 files (MD5 differs).{note}"


def subset(data, num_train):
    """data with only its first num_train training images (validation and test unchanged)."""
    return dict(data, X_train=data["X_train"][:num_train], y_train=data["y_train"][:num_train])


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
    """Seed NumPy's global generator (used only by code given no generator of its own)."""
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


def record_result(key, entry, path=None):
    """Store entry under key in the results JSON (keeping the other keys)."""
    path = path or results_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Notebooks running at once each add their key: the lock keeps one from overwriting
    # another's between its read and its write (filelock works on every OS).
    with FileLock(path + ".lock"):
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


def result_entry(solver, data, model_settings, splits=("train", "val", "test")):
    """A results.json entry: accuracies on the splits, the settings, training time
    (training_seconds).

    model_settings: the model's hyperparameters (the Solver's are added).
    """
    entry = evaluate(solver, data, splits)
    entry["wall_time_s"] = training_seconds(solver)
    hyper = {**model_settings, **solver_settings(solver)}
    entry["hyperparameters"] = {k: (list(v) if isinstance(v, tuple) else v)
                                for k, v in hyper.items()}
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

def checkpoint_path(tag):
    """checkpoints/<tag> for a Solver's checkpoint_name; None (no checkpoints) in quick mode."""
    return None if quick_mode() else os.path.join(CHECKPOINT_DIR, tag)


# The best setting of 4.1.6's search (`python search.py two-layer --stage fine`, 0.562 on
# validation), to full precision so that `make two-layer` retrains exactly that trial.
TWO_LAYER = dict(hidden_dim=506, reg=0.0006224889766379951, weight_scale=0.0007157954130100262,
                 learning_rate=0.0001450956957255139, lr_decay=0.8609018474476843,
                 num_epochs=10, batch_size=200)


def train_two_layer(data, hidden_dim, reg, weight_scale, learning_rate, lr_decay,
                    num_epochs, batch_size, seed=0, verbose=True, after_epoch=None):
    """Train TwoLayerNet (float32) with Adam, as 4.1.6 does; returns the trained Solver."""
    model = TwoLayerNet(hidden_dim=hidden_dim, reg=reg, weight_scale=weight_scale,
                        dtype=np.float32, rng=seed)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": learning_rate},
                    lr_decay=lr_decay, num_epochs=num_epochs, batch_size=batch_size,
                    print_every=100, verbose=verbose, seed=seed, after_epoch=after_epoch)
    return solver.train()


# ------------------------------------------ 4.1.8-4.1.9: overfit 50 images

def fastest_to_memorize(runs):
    """Of {(weight_scale, learning_rate): Solver or None (diverged)}, the key whose run
    reached 100% training accuracy in the fewest epochs (ties: lower final loss), or None."""
    done = [(s.train_acc_history.index(1.0), s.loss_history[-1], key)
            for key, s in runs.items() if s is not None and 1.0 in s.train_acc_history]
    return min(done)[2] if done else None


def grid_accuracy(runs, weight_scales, learning_rates):
    """acc[i, j]: final training accuracy of runs[(weight_scales[i], learning_rates[j])],
    NaN where that run diverged (None)."""
    acc = np.full((len(weight_scales), len(learning_rates)), np.nan)
    for i, ws in enumerate(weight_scales):
        for j, lr in enumerate(learning_rates):
            if runs[ws, lr] is not None:
                acc[i, j] = runs[ws, lr].train_acc_history[-1]
    return acc


def plot_grid(acc, weight_scales, learning_rates, ax=None, title=None):
    """Heat map of grid_accuracy's accuracies, each cell labelled ('div.': diverged)."""
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


# ------------------------------------------ 4.3: best fully connected net

FC_HIDDEN = (1024, 1024, 1024)


def train_fc(data, learning_rate, dropout, reg, lr_decay, num_epochs, batch_size=200, seed=0,
             verbose=True, after_epoch=None, checkpoint_name=None):
    """Train 4.3's net as its search does; returns the trained Solver.

    FullyConnectedNet(FC_HIDDEN) with batch norm and dropout (float32), Adam with the
    learning rate times lr_decay after every epoch; the training images (a copy) are
    mirrored in alternate epochs (convnet.AlternatingFlips) before after_epoch runs.
    """
    model = FullyConnectedNet(FC_HIDDEN, normalization="batchnorm", dropout=dropout, reg=reg,
                              weight_scale=1e-2, rng=seed)
    data = dict(data, X_train=data["X_train"].copy())
    flips = AlternatingFlips(data["X_train"], seed=seed, then=after_epoch)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": learning_rate},
                    lr_decay=lr_decay, num_epochs=num_epochs, batch_size=batch_size,
                    print_every=100, verbose=verbose, seed=seed, after_epoch=flips,
                    checkpoint_name=checkpoint_name)
    return resume_mirrored(solver).train()


def show_units(net, n=100, image_shape=(3, 32, 32), ax=None):
    """First-layer weights of the first n hidden units only, large enough to read."""
    images = net.params["theta1"][:, :n].reshape(*image_shape, -1).transpose(3, 1, 2, 0)
    return show_grid(images, ax=ax, title=f"first-layer weights of the first {n} units")


# --------------------------------------------- 4.2.4: reading the curves

def first_epoch_at(history, value):
    """The first epoch (index into a per-epoch history) at which it reaches value, or None."""
    return next((epoch for epoch, v in enumerate(history) if v >= value), None)


def compare_histories(a, b):
    """Epochs where history a is above, level with and below history b (lists of epochs)."""
    return {"ahead": [e for e, (u, v) in enumerate(zip(a, b)) if u > v],
            "level": [e for e, (u, v) in enumerate(zip(a, b)) if u == v],
            "behind": [e for e, (u, v) in enumerate(zip(a, b)) if u < v]}


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


# ------------------------------------------------ 4.4.7: augmentation

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


# ------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["two-layer", "best", "ablation"],
                        help="two-layer: the 4.1.6 net (~1 min); best: the 4.4.7 fast net "
                             "(about 85 min; HW5_QUICK=1 for a small version in seconds); "
                             "ablation: its tricks one by one on short runs (~20 min)")
    parser.add_argument("--data", default=None, help="CIFAR-10 folder (default: $CIFAR10_DIR)")
    args = parser.parse_args(argv)
    if args.experiment in ("best", "ablation"):
        import best_model                    # imported here: the FC notebooks need none of it
        if args.experiment == "best":
            best_model.train_best(args.data)
        else:
            best_model.run_ablation(args.data)
        return
    data = get_CIFAR10_data(root=args.data)
    solver = train_two_layer(data, **TWO_LAYER)
    test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
    print(f"TwoLayerNet {TWO_LAYER}")
    print(f"validation accuracy: {solver.best_val_acc:.3f}  test accuracy: {test_acc:.3f}  "
          f"({solver.wall_time_s:.0f}s)")


if __name__ == "__main__":
    main()
