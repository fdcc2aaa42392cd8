"""convnet.py: the Problem 4.4.7 ConvNet's shapes, initialisation, gradients and refusals."""
import numpy as np
import pytest

from convnet import ConvNet
from gradient_check import rel_error
from layers import conv_forward_naive, max_pool_forward_naive
from model_checks import assert_gradients_exact


def tiny_problem(seed=0, m=2, shape=(3, 8, 8)):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, *shape)), rng.integers(10, size=m)


def reference_scores(net, X):
    """Scores from the naive layers, written out layer by layer."""
    h = X
    for l in range(1, net.num_conv + 1):
        a, _ = conv_forward_naive(h, net.params[f"theta{l}"], net.params[f"theta{l}_0"],
                                  net.conv_param)
        h, _ = max_pool_forward_naive(np.maximum(a, 0),
                                      {"pool_height": 2, "pool_width": 2, "stride": 2})
    h = h.reshape(len(X), -1)
    last = net.num_conv + net.num_affine
    for l in range(net.num_conv + 1, last + 1):
        h = h @ net.params[f"theta{l}"] + net.params[f"theta{l}_0"]
        if l < last:
            h = np.maximum(h, 0)
    return h


def test_parameters_are_named_by_layer_with_the_documented_shapes():
    net = ConvNet(input_dim=(3, 32, 32), num_filters=(32, 64, 128), filter_size=3,
                  hidden_dims=(256,), seed=0)
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"theta1": (32, 3, 3, 3), "theta1_0": (32,),
                      "theta2": (64, 32, 3, 3), "theta2_0": (64,),
                      "theta3": (128, 64, 3, 3), "theta3_0": (128,),
                      "theta4": (128 * 4 * 4, 256), "theta4_0": (256,),
                      "theta5": (256, 10), "theta5_0": (10,)}
    assert not any(v.any() for k, v in net.params.items() if k.endswith("_0"))


@pytest.mark.parametrize("num_filters, hidden_dims", [((4,), ()), ((3, 5), (6,)),
                                                      ((2, 3, 4), (5, 7))])
def test_scores_match_the_naive_layers(num_filters, hidden_dims):
    X, _ = tiny_problem(1)
    net = ConvNet(input_dim=(3, 8, 8), num_filters=num_filters, hidden_dims=hidden_dims,
                  dtype=np.float64, seed=2)
    for name in net.params:          # nonzero biases, so they are checked too
        if name.endswith("_0"):
            net.params[name] = np.random.default_rng(3).standard_normal(net.params[name].shape)
    assert rel_error(net.loss(X), reference_scores(net, X)) < 1e-12


def test_he_initialisation_and_small_output_layer():
    net = ConvNet(input_dim=(3, 32, 32), num_filters=(32, 64), hidden_dims=(300,), seed=0)
    assert net.params["theta1"].std() == pytest.approx(np.sqrt(2 / 27), rel=0.1)
    assert net.params["theta2"].std() == pytest.approx(np.sqrt(2 / (32 * 9)), rel=0.05)
    assert net.params["theta3"].std() == pytest.approx(np.sqrt(2 / (64 * 8 * 8)), rel=0.05)
    assert net.params["theta4"].std() == pytest.approx(0.01 / np.sqrt(300), rel=0.1)


def test_explicit_weight_scale_is_used_for_every_layer():
    net = ConvNet(input_dim=(3, 16, 16), num_filters=(8, 8), hidden_dims=(50,),
                  weight_scale=0.05, seed=0)
    for name, value in net.params.items():
        if not name.endswith("_0"):
            assert value.std() == pytest.approx(0.05, rel=0.2), name


def test_initial_loss_is_about_ln_10():
    X, y = tiny_problem(4, m=50, shape=(3, 32, 32))
    for seed in range(3):
        loss, _ = ConvNet(seed=seed).loss(X, y)
        assert loss == pytest.approx(np.log(10), abs=0.02)


def test_regularisation_adds_the_l2_penalty():
    X, y = tiny_problem(5)
    plain = ConvNet(input_dim=(3, 8, 8), num_filters=(3, 4), hidden_dims=(6,),
                    dtype=np.float64, seed=0)
    reg = ConvNet(input_dim=(3, 8, 8), num_filters=(3, 4), hidden_dims=(6,), reg=0.7,
                  dtype=np.float64, seed=0)
    penalty = 0.5 * 0.7 * sum(np.sum(v ** 2) for k, v in plain.params.items()
                              if not k.endswith("_0"))
    assert reg.loss(X, y)[0] == pytest.approx(plain.loss(X, y)[0] + penalty, rel=1e-12)


@pytest.mark.parametrize("num_filters, hidden_dims, reg", [((3,), (), 0.0), ((3, 4), (6,), 0.0),
                                                           ((2, 3), (5, 4), 0.3)])
def test_gradients_match_centred_differences(num_filters, hidden_dims, reg):
    """float64, tiny shapes; a scale of 0.3 keeps every gradient entry far above the
    centred difference's round-off, and the biases are made nonzero so no
    pre-activation sits exactly on a ReLU kink."""
    X, y = tiny_problem(6)
    net = ConvNet(input_dim=(3, 8, 8), num_filters=num_filters, hidden_dims=hidden_dims,
                  weight_scale=0.3, reg=reg, dtype=np.float64, seed=7)
    assert_gradients_exact(net, X, y, bias_seed=8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_everywhere(dtype):
    X, y = tiny_problem(9)
    net = ConvNet(input_dim=(3, 8, 8), num_filters=(3, 4), hidden_dims=(6,), dtype=dtype, seed=0)
    assert all(v.dtype == dtype for v in net.params.values())
    assert net.loss(X.astype(np.float64)).dtype == dtype
    loss, grads = net.loss(X.astype(np.float32), y)
    assert all(grads[k].dtype == dtype for k in grads)
    assert np.isfinite(loss)


def test_overfits_a_few_images():
    from solver import Solver
    X, y = tiny_problem(10, m=20, shape=(3, 8, 8))
    net = ConvNet(input_dim=(3, 8, 8), num_filters=(8, 8), hidden_dims=(32,), seed=0)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    solver = Solver(net, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    num_epochs=30, batch_size=10, verbose=False, seed=0)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_dim=(3, 32)), "input_dim"),
    (dict(input_dim=(3, 12, 12), num_filters=(4, 4, 4)), "divisible by 8"),
    (dict(filter_size=4), "odd"),
    (dict(filter_size=0), "filter_size"),
    (dict(num_filters=()), "at least one"),
    (dict(num_filters=(8, 0)), "num_filters"),
    (dict(hidden_dims=(10, -1)), "hidden_dims"),
    (dict(num_filters=(2.5,)), "num_filters"),
    (dict(weight_scale=0), "weight_scale"),
    (dict(reg=-1e-3), "reg"),
    (dict(dtype=np.int32), "floating"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvNet(**kwargs)


def test_bad_inputs_are_refused():
    net = ConvNet(input_dim=(3, 8, 8), num_filters=(2,), hidden_dims=())
    with pytest.raises(ValueError, match="shape mismatch"):
        net.loss(np.zeros((2, 3, 16, 16)))
    with pytest.raises(ValueError, match="shape mismatch"):
        net.loss(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="labels"):
        net.loss(np.zeros((2, 3, 8, 8)), np.array([0, 10]))
