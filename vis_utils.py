"""What the notebooks show: weight grids, training curves, heat maps, filter responses, tables."""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from layers import conv_forward_naive


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


def show_net_weights(net, image_shape=(3, 32, 32), ax=None, units=None):
    """Show each first-layer weight vector theta1[:, j] of a fully connected net as an image,
    for the first `units` hidden units only when given (fewer, larger images).

    theta1 is (C*H*W, h) with inputs flattened from (C, H, W), as the data loader lays them out.
    """
    theta1 = net.params["theta1"][:, :units]
    images = theta1.reshape(*image_shape, -1).transpose(3, 1, 2, 0)
    title = "first-layer weights" + (f" of the first {units} units" if units else "")
    return show_grid(images, ax=ax, title=title)


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


def print_table(headers, rows, formats=None):
    """Print rows under headers as aligned text; formats are per-column format specs (strings
    print as they are, None as '-')."""
    formats = formats or [""] * len(headers)
    cells = [["-" if v is None else v if isinstance(v, str) else format(v, f)
              for v, f in zip(row, formats)] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths)))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))


# ------------------------------------------ 4.1.8-4.1.9: overfitting 50 images

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


# ------------------------------------------ 4.4: convolution on real images

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
