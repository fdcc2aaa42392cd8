"""airbench94's recorded run beside ours: validation accuracy per epoch and per minute.

A curve is a tuple (epochs, minutes, val_acc, num_validation, label): arrays of equal length,
one point per validation check; minutes are the run's own training clock (2 cores). Curves
are only comparable when they score the same held-out images (the last 5,000 training
images of `best_model`'s split), which `check_same_validation` enforces.

    curves = [ours_curve("results/results.json"),
              reference_curve("results/airbench94_torch-val5000.json")]
    check_same_validation(curves)
    plot_curves(curves)
"""
import json

import numpy as np


def run_curve(val_acc_history, epoch_times, num_validation, label):
    """The curve of a run of ours (a Solver's val_acc_history and epoch_times): epoch 0 is the
    check before training, at minute 0; minutes sum the epoch times."""
    val = np.asarray(val_acc_history, dtype=float)
    times = np.asarray(epoch_times, dtype=float)
    if len(val) != len(times) + 1:
        raise ValueError(f"{len(val)} validation accuracies for {len(times)} epoch times "
                         "(want one more: the check before training)")
    minutes = np.concatenate([[0.0], np.cumsum(times) / 60])
    return np.arange(len(val)), minutes, val, int(num_validation), label


def ours_curve(path):
    """The curve of a best-model record at path (`experiments.py best`: the file's 'best_model'
    entry, or the entry itself), labelled with its epochs and widths."""
    with open(path) as f:
        record = json.load(f)
    entry = record.get("best_model", record)
    missing = [k for k in ("val_acc_history", "epoch_times_s", "data_sizes") if k not in entry]
    if missing:
        raise ValueError(f"ours: {path!r} has no {', '.join(missing)} (not a best-model record)")
    times = entry["epoch_times_s"]
    widths = entry.get("hyperparameters", {}).get("widths")
    label = f"ours, NumPy ({len(times)} epochs" + (f", widths {tuple(widths)})" if widths else ")")
    try:
        return run_curve(entry["val_acc_history"], times,
                         entry["data_sizes"]["num_validation"], label)
    except ValueError as error:
        raise ValueError(f"ours: {path!r} holds {error}") from None


def reference_curve(path):
    """The curve of a `benchmarks/airbench94_torch.py --val N --out path` record: one point
    per epoch (the last may be fractional, as airbench94's 9.9)."""
    with open(path) as f:
        record = json.load(f)
    epochs = record.get("per_epoch", [])
    num_val = record.get("args", {}).get("val")
    if not epochs or not num_val or any("val_acc" not in e for e in epochs):
        raise ValueError(f"reference: {path!r} has no per-epoch validation accuracy (run "
                         "benchmarks/airbench94_torch.py with --val 5000 --out PATH)")
    minutes = np.cumsum([e["seconds"] for e in epochs]) / 60
    label = f"airbench94, PyTorch CPU ({record['args']['epochs']} epochs)"
    return (np.array([e["epoch"] for e in epochs], dtype=float), minutes,
            np.array([e["val_acc"] for e in epochs]), int(num_val), label)


def check_same_validation(curves):
    """Raise ValueError unless every curve scores as many validation images as the first."""
    sizes = [num_val for _, _, _, num_val, _ in curves]
    if len(set(sizes)) > 1:
        raise ValueError("the runs score different validation sets: "
                         + ", ".join(f"{label}: {n:,} images"
                                     for (*_, label), n in zip(curves, sizes)))


def plot_curves(curves):
    """Two panels sharing the accuracy axis: against epochs, and against training minutes.
    Returns the matplotlib figure."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for epochs, minutes, val, _, label in curves:
        axes[0].plot(epochs, val, "-o", markersize=3, label=label)
        axes[1].plot(minutes, val, "-o", markersize=3, label=label)
    axes[0].set_xlabel("epoch")
    axes[1].set_xlabel("training minutes (2 cores)")
    axes[0].set_ylabel(f"validation accuracy ({curves[0][3]:,} held-out images)")
    axes[0].set_title("validation accuracy per epoch")
    axes[1].set_title("validation accuracy against training time")
    low = min(val[1] for _, _, val, _, _ in curves if len(val) > 1)
    for ax in axes:
        ax.set_ylim(max(0.0, low - 0.05), 1.0)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def curve_table(curves):
    """The lines of a table: for each curve its label, then epoch, minutes, accuracy rows."""
    lines = []
    for epochs, minutes, val, _, label in curves:
        lines.append(label)
        lines.append("  epoch  minutes  val acc")
        lines += [f"  {e:5g}  {m:7.1f}  {v:7.4f}" for e, m, v in zip(epochs, minutes, val)]
    return lines


def first_epoch_reaching(curve, accuracy):
    """The first epoch (and its minute) at which curve's validation accuracy is at least
    accuracy; None when it never is."""
    epochs, minutes, val, _, _ = curve
    reached = np.flatnonzero(val >= accuracy)
    return None if reached.size == 0 else (float(epochs[reached[0]]), float(minutes[reached[0]]))


def summary(curve, accuracy=0.90):
    """One line: the curve's label, its last validation accuracy with its epoch and minute, and
    where it first reached accuracy (or that it never did)."""
    epochs, minutes, val, _, label = curve
    first = first_epoch_reaching(curve, accuracy)
    reached = ("never reached" if first is None
               else f"first reached at epoch {first[0]:g} ({first[1]:.1f} min)")
    return (f"{label}: {val[-1]:.4f} after epoch {epochs[-1]:g} ({minutes[-1]:.1f} min); "
            f"{accuracy:.2f} {reached}")
