"""vis_utils.py: the grid layout, tables, the filter demo, and that every plot draws headlessly."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fc_net import TwoLayerNet  # noqa: E402
from solver import Solver  # noqa: E402
from vis_utils import (filter_demo, plot_filter_demo, plot_grid, plot_training,  # noqa: E402
                       print_table, show_conv_filters, show_net_weights, visualize_grid,
                       wants_log_scale)


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


def test_show_net_weights_can_show_the_first_units_only():
    net = TwoLayerNet(hidden_dim=9, seed=0)
    ax = show_net_weights(net, units=4)
    assert ax.images[0].get_array().shape[:2] == (2 * 33 - 1, 2 * 33 - 1)   # 2 x 2 cells
    assert "first 4 units" in ax.get_title()


def test_print_table_aligns_columns(capsys):
    print_table(["name", "value"], [("a", 0.5), ("long name", 12.25)], ["", ".2f"])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["     name  value", "        a   0.50", "long name  12.25"]



def test_print_table_prints_none_as_a_dash_and_strings_as_they_are(capsys):
    print_table(["run", "change", "min"], [("whole", None, "-"), ("no flips", -0.0123, 4.0)],
                ["", "+.4f", ".1f"])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["     run   change  min", "   whole        -    -", "no flips  -0.0123  4.0"]

def test_plot_grid_labels_each_cell_and_marks_divergence():
    acc = np.array([[1.0, np.nan], [0.25, 0.5]])
    ax = plot_grid(acc, (0.1, 0.2), (1e-3, 1e-2), title="grid")
    assert [t.get_text() for t in ax.texts] == ["1.00", "div.", "0.25", "0.50"]
    assert ax.get_title() == "grid"


def test_filter_demo_greys_and_finds_horizontal_edges():
    images = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    images[0, :16] = (200, 100, 50)              # bright top half, black bottom half
    out = filter_demo(images)
    grey = 0.299 * 200 + 0.587 * 100 + 0.114 * 50
    assert out.shape == (1, 2, 32, 32)
    assert out[0, 0, 5, 5] == pytest.approx(grey) and out[0, 0, 25, 5] == 0
    assert out[0, 1, 5, 5] == pytest.approx(128)          # flat: mid-grey
    assert out[0, 1, 15, 5] == pytest.approx(128 + 4 * grey / 8)   # bright above dark
    assert plot_filter_demo(images, out).shape == (1, 3)
