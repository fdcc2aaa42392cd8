"""fc_net.py: TwoLayerNet and FullyConnectedNet against an independent forward pass and
numerical gradients, plus the handout's sanity checks."""
import numpy as np
import pytest

import fc_net
from fc_net import FullyConnectedNet, TwoLayerNet
from model_checks import assert_gradients_exact
from solver import Solver


def reference_loss(params, X, y, num_layers, reg):
    """Softmax loss of an affine-ReLU stack, written independently with einsum."""
    h = X.reshape(X.shape[0], -1)
    for l in range(1, num_layers + 1):
        h = np.einsum("nd,dh->nh", h, params[f"theta{l}"]) + params[f"theta{l}_0"]
        if l < num_layers:
            h = np.where(h > 0, h, 0)
    log_z = np.log(np.sum(np.exp(h - h.max(1, keepdims=True)), axis=1)) + h.max(1)
    data_loss = np.mean(log_z - h[np.arange(len(y)), y])
    penalty = sum(np.sum(params[f"theta{l}"] ** 2) for l in range(1, num_layers + 1))
    return data_loss + 0.5 * reg * penalty


def small_problem(seed=0, m=5, d=12, C=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, 3, d // 3)), rng.integers(C, size=m)


# --------------------------------------------------------------- TwoLayerNet

def test_two_layer_net_parameters():
    net = TwoLayerNet(input_dim=12, hidden_dim=7, num_classes=4, weight_scale=0.1, seed=0)
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"theta1": (12, 7), "theta1_0": (7,), "theta2": (7, 4), "theta2_0": (4,)}
    assert not net.params["theta1_0"].any() and not net.params["theta2_0"].any()


def test_weights_are_drawn_with_weight_scale():
    net = TwoLayerNet(input_dim=400, hidden_dim=300, weight_scale=0.05, seed=1)
    assert net.params["theta1"].std() == pytest.approx(0.05, rel=0.02)
    assert abs(net.params["theta1"].mean()) < 0.05 * 0.02


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_two_layer_net_matches_reference_and_gradients(reg):
    X, y = small_problem()
    net = TwoLayerNet(input_dim=12, hidden_dim=8, num_classes=6, weight_scale=0.5, reg=reg,
                      dtype=np.float64, seed=2)
    loss, _ = net.loss(X, y)
    assert loss == pytest.approx(reference_loss(net.params, X, y, 2, reg), rel=1e-12)
    scores = net.loss(X)
    assert scores.shape == (5, 6)
    assert_gradients_exact(net, X, y)


# ---------------------------------------------------------- FullyConnectedNet

@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("reg", [0.0, 3.14])
def test_deep_net_gradients(depth, reg):
    X, y = small_problem()
    net = FullyConnectedNet([10] * (depth - 1), input_dim=12, num_classes=6, reg=reg,
                            weight_scale=0.5, dtype=np.float64, seed=0)
    assert net.loss(X, y)[0] == pytest.approx(
        reference_loss(net.params, X, y, depth, reg), rel=1e-12)
    assert_gradients_exact(net, X, y)


@pytest.mark.parametrize("dropout", [0.25, 0.5, 0.75])
def test_deep_net_gradients_with_dropout(dropout):
    X, y = small_problem()
    net = FullyConnectedNet([15, 10], input_dim=12, num_classes=6, dropout=dropout, reg=0.1,
                            weight_scale=0.5, dtype=np.float64, seed=0)
    assert_gradients_exact(net, X, y)


def test_dropout_changes_training_loss_but_not_scores():
    X, y = small_problem(3)
    plain = FullyConnectedNet([20, 20], input_dim=12, num_classes=6, weight_scale=0.5,
                              dtype=np.float64, seed=5)
    dropped = FullyConnectedNet([20, 20], input_dim=12, num_classes=6, dropout=0.5,
                                weight_scale=0.5, dtype=np.float64, seed=5)
    np.testing.assert_array_equal(plain.loss(X), dropped.loss(X))
    assert plain.loss(X, y)[0] != dropped.loss(X, y)[0]


def masks_seen(net, X, y, steps):
    """The dropout masks of the first hidden layer over `steps` training-mode losses."""
    seen = []
    original = fc_net.dropout_forward

    def spy(h, param):
        out, cache = original(h, param)
        seen.append(cache[1])
        return out, cache
    fc_net.dropout_forward = spy
    try:
        for _ in range(steps):
            net.loss(X, y)
    finally:
        fc_net.dropout_forward = original
    return seen[::net.num_layers - 1]


def test_training_net_draws_a_new_mask_every_step_and_replays_from_rng():
    X, y = small_problem(8)
    masks = masks_seen(FullyConnectedNet([20, 20], input_dim=12, num_classes=6, dropout=0.5,
                                         rng=3), X, y, 3)
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    replay = masks_seen(FullyConnectedNet([20, 20], input_dim=12, num_classes=6, dropout=0.5,
                                          rng=3), X, y, 3)
    for a, b in zip(masks, replay):
        np.testing.assert_array_equal(a, b)


def test_seed_fixes_the_mask_for_gradient_checks_and_excludes_rng():
    X, y = small_problem(8)
    net = FullyConnectedNet([20], input_dim=12, num_classes=6, dropout=0.5, seed=3)
    first, second = masks_seen(net, X, y, 2)
    np.testing.assert_array_equal(first, second)
    with pytest.raises(ValueError, match="not both"):
        FullyConnectedNet([20], input_dim=12, dropout=0.5, seed=1, rng=1)


def test_rng_and_seed_draw_the_same_initial_weights():
    a = FullyConnectedNet([7], input_dim=5, seed=4)
    b = FullyConnectedNet([7], input_dim=5, rng=4)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])


def test_parameter_names_follow_depth():
    net = FullyConnectedNet([4, 5, 6], input_dim=3, num_classes=2)
    assert sorted(net.params) == sorted(f"theta{l}{s}" for l in range(1, 5) for s in ("", "_0"))
    assert net.params["theta2"].shape == (4, 5) and net.params["theta4_0"].shape == (2,)


def test_initial_loss_is_log_classes_for_small_weights():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((200, 3072)), rng.integers(10, size=200)
    net = FullyConnectedNet([100, 100], weight_scale=1e-3, dtype=np.float64, seed=0)
    assert net.loss(X, y)[0] == pytest.approx(np.log(10), abs=1e-3)
    with_reg = FullyConnectedNet([100, 100], weight_scale=1e-1, reg=1.0, dtype=np.float64, seed=0)
    assert with_reg.loss(X, y)[0] > np.log(10) + 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_end_to_end(dtype):
    X, y = small_problem()
    net = FullyConnectedNet([8, 8], input_dim=12, num_classes=6, dropout=0.3, dtype=dtype)
    assert net.loss(X).dtype == dtype
    loss, grads = net.loss(X, y)
    assert np.asarray(loss).dtype == dtype
    assert all(g.dtype == dtype for g in grads.values())


def test_bad_input_is_named():
    net = FullyConnectedNet([8], input_dim=12, num_classes=6)
    with pytest.raises(ValueError, match="input_dim"):
        net.loss(np.ones((2, 13)))
    with pytest.raises(ValueError, match=r"labels in \[0, 6\)"):
        net.loss(np.ones((2, 12)), np.array([0, 6]))
    with pytest.raises(ValueError, match="dropout"):
        FullyConnectedNet([8], dropout=1.0)
    with pytest.raises(ValueError, match="reg must be a finite number >= 0"):
        FullyConnectedNet([8], reg=-1.0)


@pytest.mark.parametrize("make, words", [
    (lambda: TwoLayerNet(hidden_dim=0), "hidden_dim must be a positive integer, got 0"),
    (lambda: TwoLayerNet(input_dim=0), "input_dim must be a positive integer, got 0"),
    (lambda: FullyConnectedNet([8, 0]), r"hidden_dims must hold positive integers, got \(8, 0\)"),
    (lambda: FullyConnectedNet([8], num_classes=0), "num_classes"),
    (lambda: FullyConnectedNet([8], weight_scale=float("nan")), "weight_scale must be a finite number > 0"),
    (lambda: FullyConnectedNet([8], weight_scale=0.0), "weight_scale"),
    (lambda: FullyConnectedNet([8], reg=float("inf")), "reg"),
    (lambda: FullyConnectedNet([8], dtype=np.int64), "dtype must be a real floating dtype"),
    (lambda: FullyConnectedNet([8], dropout=float("nan")), "dropout"),
])
def test_sizes_scales_and_dtypes_that_would_train_a_broken_net_are_refused(make, words):
    with pytest.raises(ValueError, match=words):
        make()


# ------------------------------------------------- the handout's overfit checks

@pytest.mark.slow
@pytest.mark.parametrize("hidden_dims, learning_rate, weight_scale", [
    ([100, 100], 1e-2, 1e-2),            # Problem 4.1.8: three layers
    ([100, 100, 100, 100], 2e-2, 5e-2),  # Problem 4.1.9: five layers
])
def test_overfits_50_images(cifar10, hidden_dims, learning_rate, weight_scale):
    small = {"X_train": cifar10["X_train"][:50], "y_train": cifar10["y_train"][:50],
             "X_val": cifar10["X_val"], "y_val": cifar10["y_val"]}
    net = FullyConnectedNet(hidden_dims, weight_scale=weight_scale, dtype=np.float64, seed=0)
    solver = Solver(net, small, update_rule="sgd", optim_config={"learning_rate": learning_rate},
                    num_epochs=20, batch_size=25, print_every=1000, verbose=False, seed=0)
    solver.train()
    assert max(solver.train_acc_history) == 1.0


@pytest.mark.parametrize("dropout", [0, 0.3])
def test_batchnorm_net_gradients(dropout):
    X, y = small_problem()
    net = FullyConnectedNet([15, 10], input_dim=12, num_classes=6, dropout=dropout,
                            normalization="batchnorm", reg=0.1, weight_scale=0.5,
                            dtype=np.float64, seed=0)
    for name in net.params:                 # gamma 1 / beta 0 make every BN output alike
        if name.startswith(("gamma", "beta")):
            net.params[name] = net.params[name] + 0.3 * np.random.default_rng(1).standard_normal(
                net.params[name].shape)
    assert {"gamma1", "beta1", "gamma2", "beta2"} <= set(net.params) and "gamma3" not in net.params
    assert_gradients_exact(net, X, y)


def test_batchnorm_net_keeps_running_statistics_as_buffers_and_uses_them_at_test_time():
    X, y = small_problem(8)
    net = FullyConnectedNet([7], input_dim=12, num_classes=6, normalization="batchnorm", seed=0)
    before = net.loss(X)
    net.loss(X * 5 + 3, y)                  # a training step moves the running statistics
    assert not np.allclose(net.buffers["running_mean1"], 0)
    assert not np.allclose(net.loss(X), before)
    saved = {k: v.copy() for k, v in net.buffers.items()}
    net.loss(X, y)
    net.load_buffers(saved)
    np.testing.assert_array_equal(net.buffers["running_var1"], saved["running_var1"])
    assert net.loss(X).dtype == np.float32


def test_unknown_normalization_is_refused():
    with pytest.raises(ValueError, match="normalization must be None or 'batchnorm'"):
        FullyConnectedNet([3], input_dim=4, normalization="layernorm")
