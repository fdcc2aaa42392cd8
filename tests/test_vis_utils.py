"""vis_utils.py: the grid layout and that every plot draws headlessly."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fc_net import TwoLayerNet  # noqa: E402
from solver import Solver  # noqa: E402
from vis_utils import (plot_training, show_conv_filters, show_net_weights,  # noqa: E402
                       visualize_grid, wants_log_scale)


def test_grid_places_and_rescales_each_image():
    images = np.stack([np.full((2, 3, 1), v, dtype=float) for v in range(5)])
    images[:, 0, 0, 0] = -1  # give each image a range so rescaling is visible
    grid = visualize_grid(images, ubound=10.0, padding=1)
    assert grid.shape == (3 * 3 - 1, 3 * 4 - 1, 1)  # ceil(sqrt(5)) = 3 cells a side
    # image 4 sits in row 1, column 1: its constant part maps to the top of the range
    assert grid[3 + 1, 4 + 1, 0] == pytest.approx(10.0)
    assert grid[3, 4, 0] == 0.0
    assert grid[2, :, 0].max() == 0 and grid[:, 3, 0].max() == 0  # padding stays empty
    assert grid[6:, 8:].max() == 0  # unused cells stay empty


def test_constant_image_does_not_divide_by_zero():
    assert np.all(visualize_grid(np.ones((1, 2, 2, 3))) == 0)


def test_weight_and_curve_plots_draw():
    net = TwoLayerNet(hidden_dim=4, seed=0)
    assert show_net_weights(net).images
    assert show_conv_filters(np.random.default_rng(0).standard_normal((6, 3, 5, 5))).images
    data = {"X_train": np.random.default_rng(1).standard_normal((20, 3, 32, 32)),
            "y_train": np.arange(20) % 10, "X_val": np.zeros((5, 3, 32, 32)),
            "y_val": np.arange(5)}
    solver = Solver(TwoLayerNet(hidden_dim=4, seed=0), data, num_epochs=2, batch_size=10,
                    verbose=False).train()
    loss_ax, train_ax, val_ax = plot_training({"sgd": solver})
    assert len(loss_ax.lines[0].get_xdata()) == 4
    assert len(val_ax.lines[0].get_ydata()) == 3
    for ax in (loss_ax, train_ax, val_ax):
        assert ax.get_ylabel() and ax.get_xlabel()
    assert all(float(t).is_integer() for t in train_ax.get_xticks())


@pytest.mark.parametrize("losses, expected", [
    ([2.3, 2.2, 2.1, 2.0, 1.9, 1.8], False),
    ([300.0, 40.0, 2.2, 2.1, 2.0, 1.9, 1.9, 1.8], True),
    ([1.0], False),
    ([np.inf, 2.0, 2.0], False),
])
def test_log_scale_only_when_the_first_losses_dwarf_the_rest(losses, expected):
    assert wants_log_scale(losses) is expected
