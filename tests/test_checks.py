"""checks.py: the notebook checks find right code right and wrong code wrong."""
import numpy as np
import pytest

import checks
import layers
from fc_net import FullyConnectedNet


def test_reference_forwards_on_hand_examples():
    x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    ones = np.ones((1, 1, 2, 2))
    # 2x2 box sums with stride 2: windows [0,1,4,5] -> 10, [2,3,6,7] -> 18, ...
    assert checks.conv_reference(x, ones, np.array([1.0]), stride=2, pad=0)[0, 0].tolist() == \
        [[11.0, 19.0], [43.0, 51.0]]
    # Padding 1 with a centre tap returns the input.
    centre = np.zeros((1, 1, 3, 3))
    centre[0, 0, 1, 1] = 1
    assert np.array_equal(checks.conv_reference(x, centre, np.zeros(1), stride=1, pad=1), x)
    assert checks.max_pool_reference(x, 2, 2, 2)[0, 0].tolist() == [[5, 7], [13, 15]]
    assert checks.affine_reference(np.ones((2, 1, 3)), np.eye(3), np.arange(3.0)).tolist() == \
        [[1, 2, 3], [1, 2, 3]]


def test_layer_gradient_errors_are_tiny_for_a_right_backward_pass():
    a = checks.random_arrays(seed=0, x=(4, 3), theta=(3, 2), theta0=(2,))
    errors = checks.layer_gradient_errors(layers.affine_forward, layers.affine_backward, a)
    assert set(errors) == {"dx", "dtheta", "dtheta0"}
    assert max(errors.values()) < 1e-8


def test_layer_gradient_errors_catch_a_wrong_backward_pass():
    def wrong_backward(dout, cache):
        dx, dtheta, dtheta0 = layers.affine_backward(dout, cache)
        return dx, dtheta, 2 * dtheta0
    a = checks.random_arrays(seed=0, x=(4, 3), theta=(3, 2), theta0=(2,))
    errors = checks.layer_gradient_errors(layers.affine_forward, wrong_backward, a)
    assert errors["dtheta0"] > 0.1 and errors["dx"] < 1e-8


def test_single_input_layers_and_extra_arguments():
    x = checks.random_arrays(seed=1, x=(5, 5))
    assert checks.layer_gradient_errors(layers.relu_forward, layers.relu_backward, x)["dx"] < 1e-8
    errors = checks.layer_gradient_errors(layers.dropout_forward, layers.dropout_backward, x,
                                          {"p": 0.5, "mode": "train", "seed": 3})
    assert errors["dx"] < 1e-8


def test_loss_and_model_gradient_errors():
    rng = np.random.default_rng(2)
    loss, err = checks.loss_gradient_error(layers.softmax_loss, 1e-3 * rng.standard_normal((5, 10)),
                                           rng.integers(10, size=5))
    assert loss == pytest.approx(np.log(10), abs=0.01) and err < 1e-6
    net = FullyConnectedNet([6], input_dim=4, num_classes=3, weight_scale=0.5,
                            dtype=np.float64, seed=0)
    errors = checks.model_gradient_errors(net, rng.standard_normal((3, 4)), np.array([0, 1, 2]))
    assert set(errors) == set(net.params)
    assert all(norm < 1e-7 for _, norm in errors.values())


def test_norm_error_ignores_the_relative_size_of_tiny_entries():
    exact = np.array([1.0, 1e-9])
    noisy = exact + np.array([0.0, 1e-10])
    assert checks.norm_error(exact, noisy) < 1e-10


def test_report_prints_and_returns_the_worst(capsys):
    worst = checks.report({"a": 1e-9, "b": (3e-7, 1e-10)}, "title")
    out = capsys.readouterr().out
    assert worst == 3e-7
    assert "title" in out and "3.00e-07" in out and "norm-wise 1.00e-10" in out


@pytest.mark.parametrize("rule", ["sgd_momentum", "rmsprop", "adam"])
def test_update_rules_match_the_handout_equations(rule):
    errors = checks.update_rule_errors(rule)
    assert errors["next theta"] < 1e-12 and len(errors) >= 2


def test_update_rule_errors_catch_a_wrong_rule(monkeypatch):
    import optim
    right = optim.sgd_momentum

    def no_momentum(theta, dtheta, config=None):
        config = dict(config or {}, momentum=0.0)
        return right(theta, dtheta, config)
    monkeypatch.setattr(optim, "sgd_momentum", no_momentum)
    assert checks.update_rule_errors("sgd_momentum")["next theta"] > 1e-3


def test_dropout_statistics():
    x = np.random.default_rng(0).standard_normal((200, 200)) + 10
    for p, mean_x, mean_train, mean_test, zero_train, zero_test in checks.dropout_statistics(x, [0.3]):
        assert p == 0.3 and mean_test == mean_x and zero_test == 0
        assert mean_train == pytest.approx(mean_x, rel=0.02)
        assert zero_train == pytest.approx(0.3, abs=0.02)


def test_fast_vs_naive_rows():
    rows = checks.fast_vs_naive(x_shape=(2, 3, 8, 8), theta_shape=(4, 3, 3, 3), repeats=1)
    assert [r[0] for r in rows] == ["conv forward", "conv backward", "max pool forward",
                                    "max pool backward"]
    for _, t_naive, t_fast, speedup, error in rows:
        assert t_naive > 0 and t_fast > 0 and speedup == pytest.approx(t_naive / t_fast)
        assert error < 1e-10
