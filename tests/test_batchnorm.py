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


# ----------------------------------------- batches, settings and caches it refuses

@pytest.mark.parametrize("layer, shape", [("batchnorm", (0, 3)), ("batchnorm", (4, 0)),
                                          ("spatial", (0, 3, 2, 2)), ("spatial", (2, 3, 0, 2))])
@pytest.mark.parametrize("mode", ["train", "test"])
def test_empty_batches_are_refused_and_leave_the_statistics_alone(layer, shape, mode):
    forward = LAYERS[layer][0]
    D = shape[1]
    param = {"mode": mode, "running_mean": np.zeros(D), "running_var": np.ones(D)}
    with pytest.raises(ValueError, match="at least one example"):
        forward(np.zeros(shape), np.ones(D), np.zeros(D), param)
    assert not np.isnan(param["running_mean"]).any() and not np.isnan(param["running_var"]).any()


@pytest.mark.parametrize("layer, shape, words", [
    ("batchnorm", (1, 3), r"\(m >= 2\)"),
    ("spatial", (1, 3, 1, 1), r"\(m \* H \* W >= 2\)"),
])
def test_one_value_per_statistic_is_refused_in_train_mode_only(layer, shape, words):
    forward = LAYERS[layer][0]
    x = rng.standard_normal(shape)
    with pytest.raises(ValueError, match="at least 2 values per statistic " + words):
        forward(x, np.ones(3), np.zeros(3), {"mode": "train"})
    out, _ = forward(x, np.ones(3), np.zeros(3), {"mode": "test"})
    assert out.shape == shape


def test_one_image_of_several_pixels_is_a_batch_for_spatial_batchnorm():
    x = rng.standard_normal((1, 3, 2, 2))
    out, cache = spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    assert spatial_batchnorm_backward(np.ones_like(out), cache)[0].shape == x.shape


@pytest.mark.parametrize("change, words", [
    ({"eps": 0.0}, r"bn_param\['eps'\] must be a finite number > 0, got 0.0"),
    ({"eps": -1e-5}, r"bn_param\['eps'\] must be a finite number > 0"),
    ({"eps": np.nan}, r"bn_param\['eps'\]"),
    ({"running_var": np.array([1.0, -0.5, 1.0, 1.0])}, r"running_var'\] must be >= 0 .*-0.5"),
    ({"running_var": np.ones(3)}, r"shape mismatch: bn_param\['running_var'\]"),
    ({"running_mean": np.zeros((1, 4))}, r"shape mismatch: bn_param\['running_mean'\]"),
    ({"running_mean": np.zeros(4, int)}, r"running_mean'\] must hold floats"),
    ({"momentum": "0.9"}, r"bn_param\['momentum'\] must be a number in \[0, 1\]"),
    ({"momentum": -0.1}, r"bn_param\['momentum'\]"),
])
@pytest.mark.parametrize("mode", ["train", "test"])
def test_bad_settings_are_refused_in_both_modes(change, words, mode):
    param = {"mode": mode, **change}
    with pytest.raises(ValueError, match=words):
        batchnorm_forward(rng.standard_normal((5, 4)), np.ones(4), np.zeros(4), param)


def test_momentum_one_keeps_the_running_statistics():
    param = {"mode": "train", "momentum": 1.0, "running_mean": np.full(2, 7.0),
             "running_var": np.full(2, 3.0)}
    batchnorm_forward(rng.standard_normal((5, 2)), np.ones(2), np.zeros(2), param)
    np.testing.assert_array_equal(param["running_mean"], 7.0)
    np.testing.assert_array_equal(param["running_var"], 3.0)


@pytest.mark.parametrize("layer, shape", [("batchnorm", (70000, 2)), ("spatial", (70, 2, 40, 25))])
def test_float16_accumulates_in_float32_and_stays_float16(layer, shape):
    forward, backward, _ = LAYERS[layer]
    x64 = 3 + 2 * rng.standard_normal(shape)
    x16 = x64.astype(np.float16)
    param16, param64 = {"mode": "train"}, {"mode": "train"}
    gamma, beta = np.ones(2, np.float16), np.zeros(2, np.float16)
    out16, cache16 = forward(x16, gamma, beta, param16)
    out64, cache64 = forward(x16.astype(np.float64), gamma.astype(float), beta.astype(float),
                             param64)
    assert out16.dtype == np.float16 and param16["running_var"].dtype == np.float16
    np.testing.assert_allclose(out16, out64, atol=1e-2)
    np.testing.assert_allclose(param16["running_mean"], param64["running_mean"], rtol=1e-3)
    np.testing.assert_allclose(param16["running_var"], param64["running_var"], rtol=1e-3)
    dout = (0.01 * rng.standard_normal(shape)).astype(np.float16)
    grads16 = backward(dout, cache16)
    grads64 = backward(dout.astype(np.float64), cache64)
    for g16, g64 in zip(grads16, grads64):
        assert g16.dtype == np.float16
        np.testing.assert_allclose(g16, g64, atol=1e-2 * np.abs(g64).max() + 1e-4)


def _bn_cache():
    x = rng.standard_normal((5, 4))
    out, cache = batchnorm_forward(x, np.ones(4), np.zeros(4), {"mode": "train"})
    return out, cache


@pytest.mark.parametrize("dout_shape", [(1, 4), (4,), (5, 1), (4, 5), (10, 4)])
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_backward_refuses_a_dout_of_another_shape(layer, dout_shape):
    forward, backward, shape = LAYERS[layer]
    out, cache = forward(rng.standard_normal(shape), np.ones(4), np.zeros(4), {"mode": "train"})
    if layer == "spatial":
        dout_shape = dout_shape + (1, 1)
    with pytest.raises(ValueError, match="shape mismatch: dout"):
        backward(np.ones(dout_shape), cache)
    with pytest.raises(ValueError, match="dout must hold floats"):
        backward(np.ones(out.shape, int), cache)


@pytest.mark.parametrize("part, value, words", [
    (0, np.ones((5, 4), int), "cache's xhat must hold floats"),
    (0, np.ones((5, 4, 2)), r"\(m, D\) or \(m, C, H, W\)"),
    (1, np.ones(3), "shape mismatch: cache's inv_std"),
    (2, np.ones(5), "shape mismatch: cache's gamma"),
    (3, "eval", "cache's mode must be"),
    (4, (1, 4, 1, 1), "cache's shape must be"),
])
def test_backward_refuses_a_cache_whose_parts_disagree(part, value, words):
    out, cache = _bn_cache()
    cache = cache[:part] + (value,) + cache[part + 1:]
    with pytest.raises(ValueError, match=words):
        batchnorm_backward(np.ones(out.shape), cache)


def test_nan_in_one_feature_stays_in_that_feature():
    x = rng.standard_normal((6, 3))
    x[2, 1] = np.nan
    param = {"mode": "train"}
    out, cache = batchnorm_forward(x, np.ones(3), np.zeros(3), param)
    assert np.isnan(out[:, 1]).all() and not np.isnan(out[:, [0, 2]]).any()
    assert np.isnan(param["running_var"][1]) and not np.isnan(param["running_var"][[0, 2]]).any()
    dx, _, _ = batchnorm_backward(np.ones_like(out), cache)
    assert np.isnan(dx[:, 1]).all() and not np.isnan(dx[:, [0, 2]]).any()
