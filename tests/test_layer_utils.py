"""Sandwich layers in layer_utils.py: each backward against centred differences."""
import numpy as np
import pytest

import layer_utils
from gradient_check import eval_numerical_gradient_array, rel_error
from layer_utils import (conv_relu_backward, conv_relu_forward, conv_relu_pool_backward,
                         conv_relu_pool_forward)

# ------------------------------------------------------ convolutional sandwiches

CONV_PARAM = {"stride": 1, "pad": 1}
POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _conv_sandwich_inputs(seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((2, 3, 8, 6)), rng.standard_normal((3, 3, 3, 3)),
            rng.standard_normal(3))


@pytest.mark.parametrize("forward, backward, params", [
    (conv_relu_forward, conv_relu_backward, (CONV_PARAM,)),
    (conv_relu_pool_forward, conv_relu_pool_backward, (CONV_PARAM, POOL_PARAM)),
], ids=["conv_relu", "conv_relu_pool"])
def test_conv_sandwich_gradients(forward, backward, params):
    x, theta, theta0 = _conv_sandwich_inputs(0)
    out, cache = forward(x, theta, theta0, *params)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    analytic = backward(dout, cache)
    args = [x, theta, theta0]
    for i, name in enumerate(("dx", "dtheta", "dtheta0")):
        def f(v, i=i):
            return forward(*(v if j == i else a for j, a in enumerate(args)), *params)[0]
        numeric = eval_numerical_gradient_array(f, args[i], dout)
        assert rel_error(analytic[i], numeric) <= 1e-7, name


def test_conv_relu_pool_matches_its_parts_and_can_skip_dx():
    x, theta, theta0 = _conv_sandwich_inputs(2)
    out, cache = conv_relu_pool_forward(x, theta, theta0, CONV_PARAM, POOL_PARAM)
    relu_out, _ = conv_relu_forward(x, theta, theta0, CONV_PARAM)
    # The fused path and conv_forward_fast may chunk the product differently: round-off apart.
    np.testing.assert_allclose(out, relu_out.reshape(2, 3, 4, 2, 3, 2).max(axis=(3, 5)),
                               rtol=1e-12, atol=1e-12)
    dout = np.ones_like(out)
    dx, dtheta, dtheta0 = conv_relu_pool_backward(dout, cache, compute_dx=False)
    assert dx is None
    _, want_dtheta, want_dtheta0 = conv_relu_pool_backward(dout, cache)
    np.testing.assert_array_equal(dtheta, want_dtheta)
    np.testing.assert_array_equal(dtheta0, want_dtheta0)


def test_affine_bn_relu_gradients_and_parts():
    rng = np.random.default_rng(21)
    x, theta, theta0 = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    args = [x, theta, theta0, gamma, beta]
    out, cache = layer_utils.affine_bn_relu_forward(*args, {"mode": "train"})
    a = x.reshape(6, -1) @ theta + theta0
    want = np.maximum(0, gamma * (a - a.mean(0)) / np.sqrt(a.var(0) + 1e-5) + beta)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    analytic = layer_utils.affine_bn_relu_backward(dout, cache)
    for i, name in enumerate(("dx", "dtheta", "dtheta0", "dgamma", "dbeta")):
        def f(v, i=i):
            parts = [v if j == i else a_ for j, a_ in enumerate(args)]
            return layer_utils.affine_bn_relu_forward(*parts, {"mode": "train"})[0]
        numeric = eval_numerical_gradient_array(f, args[i], dout)
        if name == "dtheta0":       # batch norm subtracts the bias again: exactly zero
            assert np.abs(analytic[i]).max() < 1e-12 and np.abs(numeric).max() < 1e-9
        else:
            assert rel_error(analytic[i], numeric) <= 1e-7, name



# ------------------------------------------ sandwich caches mixed from two calls

def _two_affine_bn_relu_calls():
    rng = np.random.default_rng(30)
    bn = {"mode": "train"}
    a = layer_utils.affine_bn_relu_forward(rng.standard_normal((4, 5)), rng.standard_normal((5, 3)),
                                           np.zeros(3), np.ones(3), np.zeros(3), dict(bn))
    b = layer_utils.affine_bn_relu_forward(rng.standard_normal((6, 5)), rng.standard_normal((5, 3)),
                                           np.zeros(3), np.ones(3), np.zeros(3), dict(bn))
    return a, b


@pytest.mark.parametrize("part", [0, 1, 2], ids=["affine", "bn", "relu"])
def test_affine_bn_relu_refuses_a_part_from_another_call(part):
    (out, cache_a), (_, cache_b) = _two_affine_bn_relu_calls()
    mixed = tuple(cache_b[i] if i == part else cache_a[i] for i in range(3))
    with pytest.raises(ValueError, match="shape mismatch: dout"):
        layer_utils.affine_bn_relu_backward(np.ones(out.shape), mixed)


def test_affine_relu_refuses_a_part_from_another_call():
    x = np.random.default_rng(31).standard_normal((4, 5))
    out, cache_a = layer_utils.affine_relu_forward(x, np.ones((5, 3)), np.zeros(3))
    _, cache_b = layer_utils.affine_relu_forward(x[:2], np.ones((5, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"shape mismatch: dout must have shape \(2, 3\)"):
        layer_utils.affine_relu_backward(np.ones(out.shape), (cache_b[0], cache_a[1]))


@pytest.mark.parametrize("forward, backward, params", [
    (conv_relu_forward, conv_relu_backward, (CONV_PARAM,)),
    (conv_relu_pool_forward, conv_relu_pool_backward, (CONV_PARAM, POOL_PARAM)),
], ids=["conv_relu", "conv_relu_pool"])
def test_conv_sandwiches_refuse_caches_of_another_call(forward, backward, params):
    x, theta, theta0 = _conv_sandwich_inputs(3)
    out, cache_a = forward(x, theta, theta0, *params)
    _, cache_b = forward(x[:, :, :4], theta, theta0, *params)
    mixed = (cache_b[0],) + tuple(cache_a[1:])
    with pytest.raises(ValueError, match="shape mismatch|cache's"):
        backward(np.ones(out.shape), mixed)


@pytest.mark.parametrize("backward, names", [
    (layer_utils.affine_relu_backward, r"\(affine_cache, relu_cache\)"),
    (layer_utils.affine_bn_relu_backward, r"\(affine_cache, bn_cache, relu_cache\)"),
    (conv_relu_backward, r"\(conv_cache, relu_cache\)"),
])
def test_sandwiches_name_the_cache_they_expect(backward, names):
    with pytest.raises(ValueError, match="cache must be the tuple " + names):
        backward(np.ones((2, 3)), (None,))


def test_loading_buffers_without_the_statistics_names_what_is_missing():
    bn_params = {1: {"mode": "train"}, 2: {"mode": "train"}}
    buffers = {"running_mean1": np.zeros(3), "running_var1": np.ones(3),
               "running_mean2": np.zeros(3)}
    with pytest.raises(ValueError, match=r"lack the batch norm statistics \['running_var2'\]"):
        layer_utils.load_bn_running_stats(bn_params, buffers)
    layer_utils.load_bn_running_stats(bn_params, {**buffers, "running_var2": np.ones(3)})
    assert layer_utils.bn_running_stats(bn_params)["running_var2"].shape == (3,)
