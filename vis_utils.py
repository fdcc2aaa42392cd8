"""Pictures of weights and training curves for the notebooks."""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator


def visualize_grid(Xs, ubound=255.0, padding=1):
    """Tile images into one picture.

    Xs: (N, H, W, C) images; each is rescaled to [0, ubound] on its own.
    Returns an (G*(H+padding)-padding, G*(W+padding)-padding, C) array with
    G = ceil(sqrt(N)); unused cells stay zero.
    """
    N, H, W, C = Xs.shape
    G = int(np.ceil(np.sqrt(N)))
    grid = np.zeros((G * (H + padding) - padding, G * (W + padding) - padding, C))
    for k, image in enumerate(Xs):
        r, c = divmod(k, G)
        lo, hi = image.min(), image.max()
        scaled = ubound * (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
        grid[r * (H + padding):r * (H + padding) + H, c * (W + padding):c * (W + padding) + W] = scaled
    return grid


def show_grid(Xs, ax=None, title=None):
    """Draw visualize_grid(Xs) without axes; returns the matplotlib Axes."""
    ax = ax or plt.gca()
    ax.imshow(visualize_grid(Xs).astype(np.uint8).squeeze())
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def show_net_weights(net, image_shape=(3, 32, 32), ax=None):
    """Show each first-layer weight vector theta1[:, j] of a fully connected net as an image.

    theta1 is (C*H*W, h) with inputs flattened from (C, H, W), as the data loader lays them out.
    """
    theta1 = net.params["theta1"]
    images = theta1.reshape(*image_shape, -1).transpose(3, 1, 2, 0)
    return show_grid(images, ax=ax, title="first-layer weights")


def show_conv_filters(theta, ax=None):
    """Show conv filters theta of shape (F, C, HH, WW) as F small RGB images."""
    return show_grid(theta.transpose(0, 2, 3, 1), ax=ax, title="first-layer filters")


def wants_log_scale(losses, ratio=20.0):
    """True when the largest loss exceeds ratio times the median of the later half,
    so that on a linear axis the first steps would flatten everything after them."""
    losses = np.asarray(losses, dtype=float)
    losses = losses[np.isfinite(losses)]
    if losses.size < 2 or np.any(losses <= 0):
        return False
    return bool(losses.max() > ratio * np.median(losses[losses.size // 2:]))


def plot_training(solvers, axes=None):
    """Loss per iteration and train/val accuracy per epoch for {label: Solver}, on shared axes.

    The loss axis turns logarithmic when the first losses dwarf the rest
    (wants_log_scale); epoch axes have integer ticks. Returns the three Axes
    (loss, training accuracy, validation accuracy).
    """
    if axes is None:
        _, axes = plt.subplots(3, 1, figsize=(10, 11))
    loss_ax, train_ax, val_ax = axes
    all_losses = []
    for label, solver in solvers.items():
        loss_ax.plot(solver.loss_history, "o", markersize=2, alpha=0.5, label=label)
        train_ax.plot(solver.train_acc_history, "-o", label=label)
        val_ax.plot(solver.val_acc_history, "-o", label=label)
        all_losses.extend(solver.loss_history)
    if wants_log_scale(all_losses):
        loss_ax.set_yscale("log")
    for ax, title, xlabel, ylabel in (
            (loss_ax, "Training loss", "Iteration", "loss"),
            (train_ax, "Training accuracy", "Epoch", "accuracy"),
            (val_ax, "Validation accuracy", "Epoch", "accuracy")):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="lower right" if ax is not loss_ax else "upper right")
    plt.tight_layout()
    return axes
