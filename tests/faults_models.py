"""Bad inputs and faults of the models: each case is tried by tests/test_fault_table.py and listed in tests/FAULTS.md."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cnn import ThreeLayerConvNet  # noqa: E402
from convnet import WhitenedConvNet  # noqa: E402
from fc_net import FullyConnectedNet, TwoLayerNet  # noqa: E402

NAN, INF = float("nan"), float("inf")


def _fc(**kwargs):
    """A FullyConnectedNet on 12 inputs with kwargs, and its loss on a batch of 4."""
    settings = dict(hidden_dims=[8], input_dim=12, num_classes=6, dtype=np.float64, seed=0)
    settings.update(kwargs)
    net = FullyConnectedNet(**settings)
    X = np.random.default_rng(0).standard_normal((4, settings["input_dim"]))
    loss, _ = net.loss(X, np.arange(4) % max(settings["num_classes"], 1))
    return f"built and gave loss {loss}"


def _two_layer(**kwargs):
    net = TwoLayerNet(**dict(dict(input_dim=12, hidden_dim=8, num_classes=6, seed=0), **kwargs))
    X = np.random.default_rng(0).standard_normal((4, net.input_dim))
    return f"built and gave loss {net.loss(X, np.arange(4) % 6)[0]}"


def _three_layer(**kwargs):
    settings = dict(input_dim=(3, 8, 8), num_filters=2, filter_size=3, hidden_dim=5, seed=0)
    net = ThreeLayerConvNet(**dict(settings, **kwargs))
    X = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    return f"built and gave loss {net.loss(X, np.array([0, 1]))[0]}"


def _whitened(whiten=None, X=None, **kwargs):
    whiten = np.random.default_rng(1).standard_normal((24, 3, 2, 2)) if whiten is None else whiten
    settings = dict(input_dim=(3, 12, 12), widths=(4, 4, 4), augment=False, tta="none", seed=0)
    net = WhitenedConvNet(whiten, **dict(settings, **kwargs))
    X = np.random.default_rng(0).standard_normal((4, 3, 12, 12)) if X is None else X
    return f"built and gave loss {net.loss(X, np.arange(len(X)) % 10)[0]}"


def _case(kind, what, trial, words):
    return (kind, what, lambda tmp: trial(), words)


def _nan_weight_in_training():
    """A NaN weight set by hand in ThreeLayerConvNet, then a Solver trains it."""
    from solver import Solver
    X = np.random.default_rng(3).standard_normal((20, 3, 8, 8))
    data = {"X_train": X, "y_train": np.arange(20) % 10, "X_val": X[:5], "y_val": np.arange(5)}
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=5,
                              dtype=np.float64, seed=0)
    model.params["theta1"][0, 0, 0, 0] = np.nan
    Solver(model, data, batch_size=10, num_epochs=1, verbose=False, seed=0).train()


CASES = [  # (class, what is tried, trial, words the outcome must contain)
    _case("silent wrong answer", "FullyConnectedNet with hidden_dims=[0]",
          lambda: _fc(hidden_dims=[0]), r"hidden_dims must hold positive integers, got \(0,\)"),
    _case("obscure error", "FullyConnectedNet with a negative width, hidden_dims=[8, -3]",
          lambda: _fc(hidden_dims=[8, -3]), "hidden_dims must hold positive integers"),
    _case("obscure error", "FullyConnectedNet with a fractional width, hidden_dims=[8.5]",
          lambda: _fc(hidden_dims=[8.5]), "hidden_dims must hold positive integers"),
    _case("obscure error", "FullyConnectedNet with a bool as width, hidden_dims=[True]",
          lambda: _fc(hidden_dims=[True]), "hidden_dims must hold positive integers"),
    _case("silent wrong answer", "FullyConnectedNet with input_dim=0",
          lambda: _fc(input_dim=0), "input_dim must be a positive integer, got 0"),
    _case("obscure error", "FullyConnectedNet with num_classes=0",
          lambda: _fc(num_classes=0), "num_classes must be a positive integer, got 0"),
    _case("silent wrong answer", "FullyConnectedNet with weight_scale=NaN",
          lambda: _fc(weight_scale=NAN), "weight_scale must be a finite number > 0, got nan"),
    _case("silent wrong answer", "FullyConnectedNet with weight_scale=inf",
          lambda: _fc(weight_scale=INF), "weight_scale must be a finite number > 0, got inf"),
    _case("silent wrong answer", "FullyConnectedNet with weight_scale=0 (every weight zero)",
          lambda: _fc(weight_scale=0.0), "weight_scale must be a finite number > 0, got 0.0"),
    _case("silent wrong answer", "FullyConnectedNet with weight_scale=-0.01",
          lambda: _fc(weight_scale=-0.01), "weight_scale must be a finite number > 0"),
    _case("silent wrong answer", "FullyConnectedNet with reg=inf",
          lambda: _fc(reg=INF), "reg must be a finite number >= 0, got inf"),
    _case("silent wrong answer", "TwoLayerNet with hidden_dim=0",
          lambda: _two_layer(hidden_dim=0), "hidden_dim must be a positive integer, got 0"),
    _case("silent wrong answer", "TwoLayerNet with input_dim=0",
          lambda: _two_layer(input_dim=0), "input_dim must be a positive integer, got 0"),
    _case("silent wrong answer", "TwoLayerNet with weight_scale=NaN",
          lambda: _two_layer(weight_scale=NAN), "weight_scale must be a finite number > 0"),
    _case("silent wrong answer", "ThreeLayerConvNet with weight_scale=inf",
          lambda: _three_layer(weight_scale=INF), "weight_scale must be a finite number > 0, got inf"),
    _case("silent wrong answer", "ThreeLayerConvNet with reg=inf",
          lambda: _three_layer(reg=INF), "reg must be a finite number >= 0, got inf"),
    _case("silent wrong answer", "WhitenedConvNet with head_scale=NaN",
          lambda: _whitened(head_scale=NAN), "head_scale must be a finite number > 0, got nan"),
    _case("silent wrong answer", "WhitenedConvNet with head_scale=0 (every score zero)",
          lambda: _whitened(head_scale=0.0), "head_scale must be a finite number > 0, got 0.0"),
    _case("silent wrong answer", "WhitenedConvNet with head_scale=-1/9 (scores reversed)",
          lambda: _whitened(head_scale=-1 / 9), "head_scale must be a finite number > 0"),
    _case("obscure error", "WhitenedConvNet with bn_momentum=1.5 (refused only at the first loss)",
          lambda: _whitened(bn_momentum=1.5), r"bn_momentum must be a number in \[0, 1\), got 1.5"),
    _case("obscure error", "WhitenedConvNet with bn_momentum=NaN (refused only at the first loss)",
          lambda: _whitened(bn_momentum=NAN), r"bn_momentum must be a number in \[0, 1\), got nan"),
    _case("obscure error", "WhitenedConvNet with num_classes=0",
          lambda: _whitened(num_classes=0), "num_classes must be a positive integer, got 0"),
    _case("obscure error", "WhitenedConvNet with dtype=np.int32 (refused only at the first loss)",
          lambda: _whitened(dtype=np.int32), "dtype must be a real floating dtype, got int32"),
    _case("obscure error", "WhitenedConvNet with whitening filters given as a list",
          lambda: _whitened(whiten=np.zeros((24, 3, 2, 2)).tolist()),
          r"whiten must be \(2K, 3, 2, 2\) filters, got shape \(24, 3, 2, 2\)"),
    _case("obscure error", "FullyConnectedNet with a fractional input_dim=12.0",
          lambda: _fc(input_dim=12.0), "input_dim must be a positive integer, got 12.0"),
    _case("obscure error", "FullyConnectedNet with input_dim=-5",
          lambda: _fc(input_dim=-5), "input_dim must be a positive integer, got -5"),
    _case("obscure error", "FullyConnectedNet with num_classes=2.5",
          lambda: _fc(num_classes=2.5), "num_classes must be a positive integer, got 2.5"),
    _case("obscure error", "FullyConnectedNet with weight_scale given as the string '1e-2'",
          lambda: _fc(weight_scale="1e-2"), "weight_scale must be a finite number > 0, got '1e-2'"),
    _case("silent wrong answer", "FullyConnectedNet with reg=True (trained with reg 1)",
          lambda: _fc(reg=True), "reg must be a finite number >= 0, got True"),
    _case("obscure error", "TwoLayerNet with hidden_dim=2.5",
          lambda: _two_layer(hidden_dim=2.5), "hidden_dim must be a positive integer, got 2.5"),
    _case("obscure error", "TwoLayerNet with num_classes=0",
          lambda: _two_layer(num_classes=0), "num_classes must be a positive integer, got 0"),
    _case("silent wrong answer", "WhitenedConvNet with head_scale=inf",
          lambda: _whitened(head_scale=INF), "head_scale must be a finite number > 0, got inf"),
    _case("obscure error", "WhitenedConvNet with num_classes=2.5",
          lambda: _whitened(num_classes=2.5), "num_classes must be a positive integer, got 2.5"),
    _case("silent wrong answer", "FullyConnectedNet(dtype=np.int64)",
          lambda: FullyConnectedNet([3], input_dim=4, dtype=np.int64), "floating dtype"),
    _case("silent wrong answer", "TwoLayerNet(dtype=np.int32)",
          lambda: TwoLayerNet(input_dim=4, dtype=np.int32), "floating dtype"),
    _case("obscure error", "FullyConnectedNet.loss of an empty batch",
          lambda: FullyConnectedNet([3], input_dim=4).loss(np.zeros((0, 4))),
          "at least one example"),
    _case("silent wrong answer", "FullyConnectedNet.loss of 5 images with 4 labels",
          lambda: FullyConnectedNet([3], input_dim=4).loss(np.zeros((5, 4)), np.zeros(4, int)),
          r"y must be \(5,\)"),
    _case("silent wrong answer", "ThreeLayerConvNet.loss of 2 images with 3 labels",
          lambda: ThreeLayerConvNet(input_dim=(3, 8, 8), filter_size=3, hidden_dim=4).loss(
              np.zeros((2, 3, 8, 8)), np.zeros(3, int)), r"y must be \(2,\)"),
    _case("silent wrong answer", "a NaN weight in ThreeLayerConvNet during training",
          _nan_weight_in_training,
          r"loss became nan at iteration 1 .*\['theta1'\] hold NaN or Inf"),
]
