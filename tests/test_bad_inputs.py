"""Bad inputs give clear errors that name the argument, the value and the rule, instead of
truncated numbers, NaN losses or NumPy's internal errors (issue: fail loudly)."""
import numpy as np
import pytest

from cnn import ThreeLayerConvNet
from convnet import ConvNet
from fast_layers import conv_forward_fast
from fc_net import FullyConnectedNet, TwoLayerNet
from layers import (conv_forward_naive, dropout_forward, leaky_relu_forward, softmax_loss,
                    svm_loss)
from solver import Solver

INTS = np.arange(16).reshape(1, 1, 4, 4)
FLOATS = np.ones((1, 1, 4, 4))
THETA = np.ones((1, 1, 3, 3))

# (what, call, words the message must contain)
CASES = [
    ("leaky ReLU of ints", lambda: leaky_relu_forward(np.arange(-3, 3)), "x must hold floats"),
    ("dropout of ints", lambda: dropout_forward(np.arange(4), {"p": 0.5, "mode": "train"}),
     "x must hold floats"),
    ("naive conv of ints", lambda: conv_forward_naive(INTS, THETA, np.zeros(1), {"pad": 1}),
     "x must hold floats"),
    ("fast conv of ints", lambda: conv_forward_fast(INTS, THETA, np.zeros(1), {"pad": 1}),
     "x must hold floats"),
    ("fast conv, int weights", lambda: conv_forward_fast(FLOATS, THETA.astype(int), np.zeros(1),
                                                         {"pad": 1}), "theta must hold floats"),
    ("int FC net", lambda: FullyConnectedNet([3], input_dim=4, dtype=np.int64), "floating type"),
    ("int two-layer net", lambda: TwoLayerNet(input_dim=4, dtype=np.int32), "floating type"),
    ("empty softmax batch", lambda: softmax_loss(np.zeros((0, 3)), np.zeros(0, int)),
     "at least one example"),
    ("empty SVM batch", lambda: svm_loss(np.zeros((0, 3)), np.zeros(0, int)),
     "at least one example"),
    ("empty FC batch", lambda: FullyConnectedNet([3], input_dim=4).loss(np.zeros((0, 4))),
     "at least one example"),
    ("FC labels of another length",
     lambda: FullyConnectedNet([3], input_dim=4).loss(np.zeros((5, 4)), np.zeros(4, int)),
     "y must be \\(5,\\)"),
    ("three-layer net labels of another length",
     lambda: ThreeLayerConvNet(input_dim=(3, 8, 8), filter_size=3, hidden_dim=4).loss(
         np.zeros((2, 3, 8, 8)), np.zeros(3, int)), "y must be \\(2,\\)"),
    ("ConvNet empty batch", lambda: ConvNet(input_dim=(3, 8, 8), num_filters=(2,)).loss(
        np.zeros((0, 3, 8, 8))), "at least one example"),
    ("Solver with no training images",
     lambda: Solver(FullyConnectedNet([3], input_dim=4), {
         "X_train": np.zeros((0, 4)), "y_train": np.zeros(0, int), "X_val": np.zeros((2, 4)),
         "y_val": np.zeros(2, int)}), "data\\['X_train'\\] must hold at least one example"),
    ("Solver with mismatched labels",
     lambda: Solver(FullyConnectedNet([3], input_dim=4), {
         "X_train": np.zeros((4, 4)), "y_train": np.zeros(3, int), "X_val": np.zeros((2, 4)),
         "y_val": np.zeros(2, int)}), "as many as data\\['y_train'\\]"),
    ("negative lr_decay",
     lambda: Solver(FullyConnectedNet([3], input_dim=4), {
         "X_train": np.zeros((4, 4)), "y_train": np.zeros(4, int), "X_val": np.zeros((2, 4)),
         "y_val": np.zeros(2, int)}, lr_decay=-0.5), "lr_decay must be a non-negative"),
]


@pytest.mark.parametrize("what, call, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_error(what, call, words):
    with pytest.raises(ValueError, match=words):
        call()
