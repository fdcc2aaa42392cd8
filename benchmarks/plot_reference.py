"""Validation accuracy per epoch of our best model beside airbench94's, on the same split.

    .venv/bin/python benchmarks/plot_reference.py \
        --ours results/best_model-36epochs.json \
        --reference results/airbench94_torch-val5000.json --out benchmarks/reference_curves.png

--ours is a record of `python experiments.py best` (its 'best_model' entry, or a results file
that holds one); --reference is the --out record of benchmarks/airbench94_torch.py run with
--val. Both must score the same held-out images (the last 5,000 training images), else the
script refuses. It draws validation accuracy against epochs and against training minutes
(each run's own clock, 2 cores) and prints both curves as a table.
"""
import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_ours(path):
    """(epochs, minutes, val_acc, num_validation, label) of a best-model record at path.

    epochs and minutes start at 0 (the check before training); minutes sum the epoch times."""
    with open(path) as f:
        record = json.load(f)
    entry = record.get("best_model", record)
    missing = [k for k in ("val_acc_history", "epoch_times_s", "data_sizes") if k not in entry]
    if missing:
        raise ValueError(f"--ours {path!r}: no {', '.join(missing)} (not a best-model record)")
    val = np.asarray(entry["val_acc_history"], dtype=float)
    times = np.asarray(entry["epoch_times_s"], dtype=float)
    if len(val) != len(times) + 1:
        raise ValueError(f"--ours {path!r}: {len(val)} validation accuracies for {len(times)} "
                         "epoch times (want one more: the check before training)")
    minutes = np.concatenate([[0.0], np.cumsum(times) / 60])
    widths = entry.get("hyperparameters", {}).get("widths")
    label = f"ours, NumPy ({len(times)} epochs" + (f", widths {tuple(widths)})" if widths else ")")
    return np.arange(len(val)), minutes, val, entry["data_sizes"]["num_validation"], label


def read_reference(path):
    """(epochs, minutes, val_acc, num_validation, label) of an airbench94_torch.py --out record."""
    with open(path) as f:
        record = json.load(f)
    epochs = record.get("per_epoch", [])
    num_val = record.get("args", {}).get("val")
    if not epochs or not num_val or any("val_acc" not in e for e in epochs):
        raise ValueError(f"--reference {path!r}: no per-epoch validation accuracy "
                         "(run benchmarks/airbench94_torch.py with --val 5000 --out PATH)")
    minutes = np.cumsum([e["seconds"] for e in epochs]) / 60
    label = f"airbench94, PyTorch CPU ({record['args']['epochs']} epochs)"
    return (np.array([e["epoch"] for e in epochs], dtype=float), minutes,
            np.array([e["val_acc"] for e in epochs]), int(num_val), label)


def plot(curves, out):
    """Two panels, validation accuracy against epochs and against minutes; saved to out."""
    import matplotlib
    matplotlib.use("Agg")
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
    low = min(v[1] for _, _, v, _, _ in curves if len(v) > 1)
    for ax in axes:
        ax.set_ylim(max(0.0, low - 0.05), 1.0)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def table(curves):
    """Lines of the table: each curve's epochs, minutes and validation accuracy."""
    lines = []
    for epochs, minutes, val, _, label in curves:
        lines.append(label)
        lines.append("  epoch  minutes  val acc")
        lines += [f"  {e:5g}  {m:7.1f}  {v:7.4f}" for e, m, v in zip(epochs, minutes, val)]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", default=os.path.join(REPO, "results", "results.json"))
    parser.add_argument("--reference", required=True)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "reference_curves.png"))
    args = parser.parse_args(argv)
    curves = [read_ours(args.ours), read_reference(args.reference)]
    if curves[0][3] != curves[1][3]:
        sys.exit(f"the runs score different validation sets: ours {curves[0][3]:,} images, "
                 f"the reference {curves[1][3]:,}")
    print("\n".join(table(curves)))
    plot(curves, args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
