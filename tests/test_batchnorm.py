"""Batch normalization (layers.batchnorm_*, layers.spatial_batchnorm_*) and the label-smoothed
softmax loss: values against hand-computed statistics, exact gradients, dtypes, errors."""
import numpy as np
import pytest

from gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from layers import (batchnorm_backward, batchnorm_forward, softmax_loss,
                    spatial_batchnorm_backward, spatial_batchnorm_forward)

rng = np.random.default_rng(0)
LAYERS = {"batchnorm": (batchnorm_forward, batchnorm_backward, (7, 4)),
          "spatial": (spatial_batchnorm_forward, spatial_batchnorm_backward, (3, 4, 5, 2))}


def test_train_mode_uses_the_batch_statistics_computed_by_hand():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 16.0]])
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, -1.0])
    param = {"mode": "train", "eps": 1e-3}
    out, _ = batchnorm_forward(x, gamma, beta, param)
    # feature 0: mean 3, variance (4 + 0 + 4) / 3; feature 1: mean 12, variance (4 + 4 + 16) / 3
    expected0 = 2.0 * (x[:, 0] - 3) / np.sqrt(8 / 3 + 1e-3) + 0.5
    expected1 = 1.0 * (x[:, 1] - 12) / np.sqrt(8 + 1e-3) - 1.0
    np.testing.assert_allclose(out, np.stack([expected0, expected1], axis=1), rtol=1e-12)
    np.testing.assert_allclose(param["running_mean"], 0.1 * np.array([3.0, 12.0]), rtol=1e-12)
    np.testing.assert_allclose(param["running_var"], 0.9 + 0.1 * np.array([8 / 3, 8.0]),
                               rtol=1e-12)


def test_spatial_statistics_are_over_batch_and_positions():
    x = rng.standard_normal((4, 3, 5, 6)) * np.array([1.0, 5.0, 0.1])[:, None, None] + 7
    out, _ = spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train", "eps": 1e-12})
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-4)
    flat, _ = batchnorm_forward(x.transpose(0, 2, 3, 1).reshape(-1, 3), np.ones(3), np.zeros(3),
                                {"mode": "train", "eps": 1e-12})
    np.testing.assert_allclose(out, flat.reshape(4, 5, 6, 3).transpose(0, 3, 1, 2), rtol=1e-10)


def test_test_mode_uses_the_running_statistics():
    x = rng.standard_normal((5, 3))
    param = {"mode": "test", "running_mean": np.array([1.0, 2.0, 3.0]),
             "running_var": np.array([4.0, 1.0, 0.25]), "eps": 1e-3}
    out, _ = batchnorm_forward(x, np.full(3, 2.0), np.full(3, 1.0), param)
    std = np.sqrt(np.array([4.0, 1.0, 0.25]) + 1e-3)
    np.testing.assert_allclose(out, 2 * (x - [1, 2, 3]) / std + 1, rtol=1e-12)


def test_running_averages_converge_to_the_data_statistics():
    param = {"mode": "train", "momentum": 0.9}
    for _ in range(200):
        x = rng.normal(3.0, 2.0, size=(256, 2))
        batchnorm_forward(x, np.ones(2), np.zeros(2), param)
    np.testing.assert_allclose(param["running_mean"], 3.0, atol=0.15)
    np.testing.assert_allclose(param["running_var"], 4.0, rtol=0.1)


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_gradients_match_centred_differences(layer, mode):
    forward, backward, shape = LAYERS[layer]
    D = shape[1]
    x = 3 * rng.standard_normal(shape) + 1
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    dout = rng.standard_normal(shape)
    stats = {"running_mean": rng.standard_normal(D), "running_var": rng.random(D) + 0.5}

    def f(x, gamma, beta):
        return forward(x, gamma, beta, {"mode": mode, **stats})[0]
    _, cache = forward(x, gamma, beta, {"mode": mode, **stats})
    dx, dgamma, dbeta = backward(dout, cache)
    assert rel_error(eval_numerical_gradient_array(lambda v: f(v, gamma, beta), x, dout), dx) < 1e-7
    assert rel_error(eval_numerical_gradient_array(lambda v: f(x, v, beta), gamma, dout),
                     dgamma) < 1e-7
    assert rel_error(eval_numerical_gradient_array(lambda v: f(x, gamma, v), beta, dout),
                     dbeta) < 1e-7


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_float32_in_float32_out(layer):
    forward, backward, shape = LAYERS[layer]
    x = rng.standard_normal(shape).astype(np.float32)
    param = {"mode": "train"}
    out, cache = forward(x, np.ones(shape[1], np.float32), np.zeros(shape[1], np.float32), param)
    grads = backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    assert param["running_mean"].dtype == param["running_var"].dtype == np.float32


@pytest.mark.parametrize("change, words", [
    ({"gamma": np.ones(3)}, "gamma .*must have shape \\(4,\\)"),
    ({"beta": np.ones(5)}, "beta .*must have shape \\(4,\\)"),
    ({"bn_param": {"mode": "eval"}}, "'train' or 'test'"),
    ({"bn_param": {}}, "'train' or 'test'"),
    ({"bn_param": {"mode": "train", "epsilon": 1e-3}}, "epsilon.*valid keys"),
    ({"bn_param": {"mode": "train", "momentum": 1.5}}, "momentum"),
    ({"x": np.ones((2, 4), dtype=int)}, "floats"),
])
def test_bad_arguments_are_named(change, words):
    args = {"x": rng.standard_normal((2, 4)), "gamma": np.ones(4), "beta": np.zeros(4),
            "bn_param": {"mode": "train"}, **change}
    with pytest.raises(ValueError, match=words):
        batchnorm_forward(args["x"], args["gamma"], args["beta"], args["bn_param"])


def test_spatial_needs_images():
    with pytest.raises(ValueError, match="\\(m, C, H, W\\)"):
        spatial_batchnorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), {"mode": "train"})


# ------------------------------------------------------------ label smoothing

def test_label_smoothing_is_cross_entropy_with_soft_targets():
    x, y = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    s = 0.2
    q = np.full((5, 4), s / 4)
    q[np.arange(5), y] += 1 - s
    log_p = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    loss, _ = softmax_loss(x, y, smoothing=s)
    assert loss == pytest.approx(-(q * log_p).sum(axis=1).mean(), rel=1e-12)
    assert softmax_loss(x, y, smoothing=0.0)[0] == softmax_loss(x, y)[0]


def test_label_smoothing_gradient():
    x, y = rng.standard_normal((6, 5)), rng.integers(5, size=6)
    _, dx = softmax_loss(x, y, smoothing=0.3)
    numeric = eval_numerical_gradient(lambda v: softmax_loss(v, y, smoothing=0.3)[0], x.copy(),
                                      verbose=False)
    assert rel_error(numeric, dx) < 1e-7


def test_label_smoothing_refuses_bad_values():
    with pytest.raises(ValueError, match="smoothing"):
        softmax_loss(np.zeros((2, 3)), np.array([0, 1]), smoothing=1.0)
