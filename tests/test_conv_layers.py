"""Naive conv and max pool in layers.py: against loop references, gradients, validation."""
import numpy as np
import pytest

from conv_cases import (CONV_CASES, POOL_CASES, conv_backward_reference, conv_case_id,
                        conv_inputs, conv_reference, distinct_pool_input, pool_backward_reference,
                        pool_case_id, pool_reference, tied_pool_input)
from gradient_check import eval_numerical_gradient_array, rel_error
from layers import (conv_backward_naive, conv_forward_naive, max_pool_backward_naive,
                    max_pool_forward_naive)


@pytest.mark.parametrize("case", CONV_CASES, ids=conv_case_id)
def test_conv_naive_matches_loop_reference(case):
    shape, stride, pad = case
    rng = np.random.default_rng(0)
    x, theta, theta0 = conv_inputs(shape, rng)
    out, cache = conv_forward_naive(x, theta, theta0, {"stride": stride, "pad": pad})
    np.testing.assert_allclose(out, conv_reference(x, theta, theta0, stride, pad),
                               rtol=0, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for got, want in zip(conv_backward_naive(dout, cache),
                         conv_backward_reference(dout, x, theta, stride, pad)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", POOL_CASES, ids=pool_case_id)
def test_pool_naive_matches_loop_reference_with_ties(case):
    shape, ph, pw, stride = case
    rng = np.random.default_rng(1)
    x = tied_pool_input(shape, rng)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_naive(x, pool_param)
    np.testing.assert_array_equal(out, pool_reference(x, ph, pw, stride)[0])
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(max_pool_backward_naive(dout, cache),
                               pool_backward_reference(dout, x, ph, pw, stride),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("H, W, stride, pad", [(7, 8, 1, 1), (7, 10, 2, 1), (8, 7, 3, 2)])
def test_conv_naive_gradients(H, W, stride, pad):
    rng = np.random.default_rng(2)
    x, theta, theta0 = conv_inputs((2, 3, H, W, 2, 3, 2), rng)
    conv_param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_naive(x, theta, theta0, conv_param)
    dout = rng.standard_normal(out.shape)
    dx, dtheta, dtheta0 = conv_backward_naive(dout, cache)
    def f(i):
        return lambda v: conv_forward_naive(*(v if j == i else a for j, a in
                                              enumerate((x, theta, theta0))), conv_param)[0]
    numeric = [eval_numerical_gradient_array(f(i), arg, dout)
               for i, arg in enumerate((x, theta, theta0))]
    for analytic, num in zip((dx, dtheta, dtheta0), numeric):
        assert rel_error(analytic, num) <= 1e-7


@pytest.mark.parametrize("shape, ph, pw, stride", [
    ((2, 2, 8, 8), 2, 2, 2), ((2, 2, 7, 9), 3, 2, 1), ((2, 2, 8, 9), 2, 3, 2)])
def test_pool_naive_gradients(shape, ph, pw, stride):
    rng = np.random.default_rng(3)
    x = distinct_pool_input(shape, rng)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_naive(x, pool_param)
    dout = rng.standard_normal(out.shape)
    numeric = eval_numerical_gradient_array(lambda v: max_pool_forward_naive(v, pool_param)[0],
                                            x, dout)
    assert rel_error(max_pool_backward_naive(dout, cache), numeric) <= 1e-7


# ------------------------------------------------------------------ validation

def _conv(x_shape, theta_shape, conv_param, theta0_shape=None):
    theta0 = np.zeros(theta_shape[0] if theta0_shape is None else theta0_shape)
    return conv_forward_naive(np.zeros(x_shape), np.zeros(theta_shape), theta0, conv_param)


def test_conv_rejects_the_handouts_untileable_example():
    # W=10, F=3, P=0, S=2: 1 + (10 - 3 + 0) / 2 = 4.5.
    with pytest.raises(ValueError, match=r"1 \+ \(W - WW \+ 2P\) / S.*W=10, WW=3, P=0, S=2"):
        _conv((1, 1, 9, 10), (1, 1, 3, 3), {"stride": 2, "pad": 0})


@pytest.mark.parametrize("x_shape, theta_shape, conv_param, match", [
    ((1, 1, 10, 9), (1, 1, 3, 3), {"stride": 2, "pad": 0}, r"H=10, HH=3, P=0, S=2"),
    ((1, 3, 8, 8), (2, 2, 3, 3), {"stride": 1, "pad": 1}, "channel mismatch"),
    ((1, 1, 4, 4), (1, 1, 7, 7), {"stride": 1, "pad": 1}, "does not fit"),
    ((1, 1, 8, 8), (1, 1, 3, 3), {"stride": 0, "pad": 1}, "stride"),
    ((1, 1, 8, 8), (1, 1, 3, 3), {"stride": 1.0, "pad": 1}, "stride"),
    ((1, 1, 8, 8), (1, 1, 3, 3), {"stride": 1, "pad": -1}, "pad"),
    ((1, 8, 8), (1, 1, 3, 3), {"stride": 1, "pad": 1}, "4-d"),
])
def test_conv_rejects_invalid_hyperparameters(x_shape, theta_shape, conv_param, match):
    with pytest.raises(ValueError, match=match):
        _conv(x_shape, theta_shape, conv_param)


def test_conv_rejects_wrong_bias_shape():
    with pytest.raises(ValueError, match="theta0"):
        _conv((1, 1, 8, 8), (2, 1, 3, 3), {"stride": 1, "pad": 1}, theta0_shape=3)


@pytest.mark.parametrize("pool_param, match", [
    ({"pool_height": 2, "pool_width": 2, "stride": 2}, r"W=9, pool_width=2, P=0, S=2"),
    ({"pool_height": 9, "pool_width": 2, "stride": 1}, "does not fit"),
    ({"pool_height": 0, "pool_width": 2, "stride": 2}, "pool_height"),
    ({"pool_height": 2, "pool_width": 2.5, "stride": 2}, "pool_width"),
    ({"pool_height": 2, "pool_width": 2, "stride": 0}, "stride"),
])
def test_pool_rejects_invalid_hyperparameters(pool_param, match):
    with pytest.raises(ValueError, match=match):
        max_pool_forward_naive(np.zeros((1, 1, 8, 9)), pool_param)


@pytest.mark.parametrize("call, word", [
    (lambda: conv_forward_naive(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), np.zeros(1),
                                {"padding": 1}), "unknown conv_param key.*padding.*'pad'"),
    (lambda: max_pool_forward_naive(np.zeros((1, 1, 4, 4)), {"pool_size": 4}),
     "unknown pool_param key.*pool_size.*pool_height"),
])
def test_misspelled_settings_raise(call, word):
    with pytest.raises(ValueError, match=word):
        call()


# ------------------------------------------- what the backward passes trust (issue 20)

def _naive_caches():
    rng = np.random.default_rng(5)
    conv_out, conv_cache = conv_forward_naive(rng.standard_normal((2, 3, 6, 6)),
                                              rng.standard_normal((4, 3, 3, 3)), np.zeros(4),
                                              {"stride": 1, "pad": 1})
    pool_out, pool_cache = max_pool_forward_naive(rng.standard_normal((2, 3, 6, 6)),
                                                  {"pool_height": 2, "pool_width": 2, "stride": 2})
    return {"conv": (conv_backward_naive, conv_cache, conv_out.shape),
            "pool": (max_pool_backward_naive, pool_cache, pool_out.shape)}


@pytest.mark.parametrize("layer", ["conv", "pool"])
@pytest.mark.parametrize("change", ["one image more", "one row more", "one row less",
                                    "channel axis", "3-d"])
def test_naive_backward_refuses_a_dout_of_another_shape(layer, change):
    backward, cache, shape = _naive_caches()[layer]
    m, C, H, W = shape
    dout_shape = {"one image more": (m + 1, C, H, W), "one row more": (m, C, H + 1, W),
                  "one row less": (m, C, H - 1, W), "channel axis": (m, 1, H, W),
                  "3-d": (C, H, W)}[change]
    with pytest.raises(ValueError, match=r"shape mismatch: dout must have shape"):
        backward(np.ones(dout_shape), cache)


def test_the_reported_oversized_conv_dout_is_refused():
    _, cache = conv_forward_naive(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1), {})
    with pytest.raises(ValueError, match=r"shape mismatch: dout must have shape \(1, 1, 1, 1\)"):
        conv_backward_naive(np.ones((1, 1, 2, 2)), cache)


@pytest.mark.parametrize("layer", ["conv", "pool"])
def test_naive_backward_refuses_integer_dout_and_caches(layer):
    backward, cache, shape = _naive_caches()[layer]
    with pytest.raises(ValueError, match="dout must hold floats"):
        backward(np.ones(shape, dtype=int), cache)
    with pytest.raises(ValueError, match="x must hold floats"):
        backward(np.ones(shape), (cache[0].astype(int),) + cache[1:])
    with pytest.raises(ValueError, match="cache must be the tuple"):
        backward(np.ones(shape), cache + (None,))


def test_naive_conv_refuses_a_cache_of_another_image_size():
    backward, (x, theta, conv_param), shape = _naive_caches()["conv"]
    with pytest.raises(ValueError, match="shape mismatch: dout"):
        backward(np.ones(shape), (np.zeros((2, 3, 4, 4)), theta, conv_param))
    with pytest.raises(ValueError, match="channel mismatch"):
        backward(np.ones(shape), (x, theta[:, :2], conv_param))


@pytest.mark.parametrize("dtype", [np.int64, bool, complex])
def test_naive_layers_refuse_arrays_that_are_not_floats(dtype):
    x = np.ones((1, 1, 4, 4), dtype=dtype)
    with pytest.raises(ValueError, match="x must hold floats"):
        max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    with pytest.raises(ValueError, match="x must hold floats"):
        conv_forward_naive(x, np.ones((1, 1, 3, 3)), np.zeros(1), {})
    with pytest.raises(ValueError, match="theta0 must hold floats"):
        conv_forward_naive(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), np.zeros(1, dtype), {})


def test_naive_pool_keeps_half_gradients():
    # Integers used to be accepted, and dx (of x's dtype) truncated a 0.5 to 0.
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, cache = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = max_pool_backward_naive(np.full(out.shape, 0.5), cache)
    assert dx.sum() == 2.0 and dx[0, 0, 1, 1] == 0.5


def test_naive_layers_propagate_nan():
    x = np.ones((1, 1, 4, 4))
    x[0, 0, 1, 2] = np.nan
    out, _ = conv_forward_naive(x, np.ones((1, 1, 3, 3)), np.zeros(1), {"stride": 1, "pad": 0})
    assert np.isnan(out).all()
    out, cache = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert np.isnan(out[0, 0, 0, 1]) and np.isfinite(np.delete(out.ravel(), 1)).all()
