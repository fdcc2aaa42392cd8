"""The channels-last engine (fast_nhwc) equals the naive NCHW layers, transposed, and its
backward passes are the gradients of its forward passes."""
import numpy as np
import pytest

import fast_nhwc
from fast_nhwc import (conv_backward_nhwc, conv_forward_nhwc, max_pool_floor_backward_nhwc,
                       max_pool_floor_forward_nhwc, pool_bn_act_backward, pool_bn_act_forward)
from gradient_check import eval_numerical_gradient_array
from layers import (conv_backward_naive, conv_forward_naive, max_pool_backward_naive,
                    max_pool_forward_naive, spatial_batchnorm_backward, spatial_batchnorm_forward)

# float64: rounding only; float32 against a float64 reference: a few ulps of float32
# summed over the reductions (relative to the output's largest entry).
TOLERANCE = {np.float64: 1e-11, np.float32: 2e-5}
POOL2 = {"pool_height": 2, "pool_width": 2, "stride": 2}


def nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def close(reference, got, dtype):
    """max |reference - got| / max |reference| within the dtype's tolerance."""
    assert got.shape == reference.shape
    err = np.abs(reference - got).max() / max(np.abs(reference).max(), 1e-300)
    assert err < TOLERANCE[dtype], err


# (m, C, H, W, F, HH, WW, stride, pad): odd sizes, stride 2 and 3, pad 0/1/2, 1x1 and
# non-square kernels, C above the loop's memcpy threshold (8).
CONV_CASES = [(2, 3, 7, 9, 4, 3, 3, 1, 1), (3, 5, 9, 7, 2, 3, 3, 2, 1), (2, 4, 6, 6, 3, 2, 2, 1, 0),
              (2, 3, 9, 9, 5, 3, 3, 2, 2), (1, 2, 5, 5, 3, 1, 1, 1, 0), (2, 3, 4, 4, 2, 3, 3, 1, 2),
              (2, 16, 5, 5, 4, 3, 3, 1, 1), (1, 9, 7, 5, 3, 3, 1, 1, 0), (2, 10, 11, 11, 6, 4, 4, 3, 1)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CONV_CASES, ids=[str(c) for c in CONV_CASES])
def test_conv_forward_and_backward_equal_the_naive_layers(case, dtype):
    m, C, H, W, F, HH, WW, stride, pad = case
    rng = np.random.default_rng(0)
    x, theta, theta0 = rng.standard_normal((m, C, H, W)), rng.standard_normal((F, C, HH, WW)), rng.standard_normal(F)
    param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_naive(x, theta, theta0, param)
    dout = rng.standard_normal(out.shape)
    dx, dtheta, dtheta0 = conv_backward_naive(dout, cache)
    out_f, cache_f = conv_forward_nhwc(nhwc(x).astype(dtype), theta.astype(dtype), theta0.astype(dtype), param)
    dx_f, dtheta_f, dtheta0_f = conv_backward_nhwc(nhwc(dout).astype(dtype), cache_f)
    assert out_f.dtype == dx_f.dtype == dtheta_f.dtype == dtype
    for reference, got in ((out, nchw(out_f)), (dx, nchw(dx_f)), (dtheta, dtheta_f), (dtheta0, dtheta0_f)):
        close(reference, got, dtype)


@pytest.mark.parametrize("lo, hi, most", [(0, 256, 113), (128, 256, 113), (0, 5, 1), (0, 7, 100),
                                         (3, 10, 3), (0, 1024, 256), (5, 6, 2)])
def test_chunks_cover_the_range_in_even_pieces_largest_first(lo, hi, most):
    ranges = fast_nhwc._even_ranges(lo, hi, most)
    sizes = [b - a for a, b in ranges]
    assert [a for a, _ in ranges] == [lo] + [b for _, b in ranges[:-1]] and ranges[-1][1] == hi
    assert len(ranges) == -(-(hi - lo) // most) and max(sizes) <= most
    assert max(sizes) - min(sizes) <= 1 and sizes[0] == max(sizes)


def test_conv_chunks_of_one_image_give_the_same_result(monkeypatch):
    rng = np.random.default_rng(1)
    x, theta = rng.standard_normal((5, 6, 6, 3)), rng.standard_normal((4, 3, 3, 3))
    whole = conv_forward_nhwc(x, theta, None, {"pad": 1})[0]
    monkeypatch.setattr(fast_nhwc, "CHUNK_BYTES", 1)
    monkeypatch.setattr(fast_nhwc, "MIN_ROWS", 1)
    out, cache = conv_forward_nhwc(x, theta, None, {"pad": 1})
    np.testing.assert_allclose(out, whole, rtol=1e-13, atol=1e-13)
    dx, dtheta, dtheta0 = conv_backward_nhwc(np.ones_like(out), cache, compute_dx=False)
    assert dx is None and dtheta.shape == theta.shape
    np.testing.assert_allclose(dtheta0, np.full(4, out[..., 0].size))


def test_conv_gradients_match_centred_differences():
    rng = np.random.default_rng(2)
    x, theta, theta0 = rng.standard_normal((2, 5, 5, 3)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    param = {"stride": 2, "pad": 1}
    out, cache = conv_forward_nhwc(x, theta, theta0, param)
    dout = rng.standard_normal(out.shape)
    dx, dtheta, dtheta0 = conv_backward_nhwc(dout, cache)
    for value, grad in ((x, dx), (theta, dtheta), (theta0, dtheta0)):
        numeric = eval_numerical_gradient_array(lambda _: conv_forward_nhwc(x, theta, theta0, param)[0], value, dout)
        np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-8)


# ------------------------------------------------------------------ Winograd

SAME = {"stride": 1, "pad": 1}


def naive_conv(x, theta, theta0, dout):
    """(out, dx, dtheta, dtheta0) of the naive NCHW conv, SAME padding, in NHWC."""
    out, cache = conv_forward_naive(nchw(x), theta, theta0, SAME)
    dx, dtheta, dtheta0 = conv_backward_naive(nchw(dout), cache)
    return nhwc(out), nhwc(dx), dtheta, dtheta0


def allow_any_winograd(monkeypatch):
    """Winograd for every 3x3, stride-1, pad-1 conv, whatever its channels and size."""
    monkeypatch.setattr(fast_nhwc, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(fast_nhwc, "WINOGRAD_MIN_SIDE", 1)


# (m, H, W, C, F): the net's sides 15, 7, 3, a 5x5, non-square, batch 1; channel counts
# off the compiled loops' vector width (Winograd allowed for any channel count here).
WINOGRAD_CASES = [(2, 15, 15, 3, 4), (1, 7, 7, 5, 2), (2, 5, 5, 9, 3), (3, 3, 3, 4, 4),
                  (1, 6, 9, 17, 5), (2, 4, 4, 2, 3), (1, 1, 2, 3, 2)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", WINOGRAD_CASES, ids=[str(c) for c in WINOGRAD_CASES])
def test_winograd_equals_the_naive_conv(case, dtype, monkeypatch):
    allow_any_winograd(monkeypatch)
    m, H, W, C, F = case
    rng = np.random.default_rng(10)
    x, theta, theta0 = rng.standard_normal((m, H, W, C)), rng.standard_normal((F, C, 3, 3)), rng.standard_normal(F)
    dout = rng.standard_normal((m, H, W, F))
    out_f, cache = conv_forward_nhwc(x.astype(dtype), theta.astype(dtype), theta0.astype(dtype), SAME)
    assert cache[3] == "winograd"
    grads = conv_backward_nhwc(dout.astype(dtype), cache)
    assert out_f.dtype == grads[0].dtype == grads[1].dtype == grads[2].dtype == dtype
    assert grads[1].flags.c_contiguous
    for reference, got in zip(naive_conv(x, theta, theta0, dout), (out_f,) + grads):
        close(reference, got, dtype)


def test_winograd_runs_the_net_shapes_and_equals_the_naive_conv():
    rng = np.random.default_rng(11)
    x, theta = rng.standard_normal((1, 7, 7, 64)), rng.standard_normal((64, 64, 3, 3))
    dout = rng.standard_normal((1, 7, 7, 64))
    out, cache = conv_forward_nhwc(x, theta, None, SAME)
    assert cache[3] == "winograd"
    dx, dtheta, dtheta0 = conv_backward_nhwc(dout, cache)
    for reference, got in zip(naive_conv(x, theta, np.zeros(64), dout), (out, dx, dtheta, dtheta0)):
        close(reference, got, np.float64)


@pytest.mark.parametrize("shape, theta_shape, param", [
    ((1, 7, 7, 64), (64, 64, 3, 3), {"stride": 2, "pad": 1}), ((1, 7, 7, 64), (64, 64, 3, 3), {"pad": 0}),
    ((1, 7, 7, 8), (64, 8, 3, 3), SAME), ((1, 7, 7, 64), (8, 64, 3, 3), SAME),
    ((1, 7, 7, 64), (64, 64, 1, 1), {"pad": 0}), ((1, 5, 7, 64), (64, 64, 3, 3), SAME),
    ((1, 3, 3, 256), (256, 256, 3, 3), SAME)])
def test_winograd_only_where_it_applies_and_pays(shape, theta_shape, param, monkeypatch):
    rng = np.random.default_rng(12)
    x, theta = rng.standard_normal(shape), rng.standard_normal(theta_shape)
    assert conv_forward_nhwc(x, theta, None, param)[1][3] == "direct"
    for full in [((1, 7, 7, 64), (64, 64, 3, 3)), ((1, 31, 31, 24), (16, 24, 3, 3))]:
        x, theta = rng.standard_normal(full[0]), rng.standard_normal(full[1])
        assert conv_forward_nhwc(x, theta, None, SAME)[1][3] == "winograd"
    monkeypatch.setattr(fast_nhwc, "WINOGRAD", False)
    assert conv_forward_nhwc(x, theta, None, SAME)[1][3] == "direct"


def test_winograd_float32_error_against_float64_direct():
    """rms relative error of float32 Winograd (C = F = 256, 7x7, the b2c2 shape) against the
    float64 direct conv: about 10x the direct float32 conv's (F(4x4, 3x3)'s transforms hold
    entries up to 8 and 1/24), ~3e-6, forward and both gradients."""
    rng = np.random.default_rng(13)
    x, theta = rng.standard_normal((2, 7, 7, 256)), rng.standard_normal((256, 256, 3, 3)) / 48
    dout = rng.standard_normal((2, 7, 7, 256))
    fast_nhwc.WINOGRAD = False
    try:
        out, cache = conv_forward_nhwc(x, theta, None, SAME)
        reference = (out,) + conv_backward_nhwc(dout, cache)[:2]
    finally:
        fast_nhwc.WINOGRAD = True
    out32, cache32 = conv_forward_nhwc(x.astype(np.float32), theta.astype(np.float32), None, SAME)
    assert cache32[3] == "winograd"
    got = (out32,) + conv_backward_nhwc(dout.astype(np.float32), cache32)[:2]
    for r, g in zip(reference, got):
        rms = np.sqrt(np.mean((g - r) ** 2) / np.mean(r ** 2))
        assert rms < 6e-6, rms


def test_winograd_gradients_match_centred_differences(monkeypatch):
    allow_any_winograd(monkeypatch)
    rng = np.random.default_rng(14)
    x, theta, theta0 = rng.standard_normal((2, 5, 7, 3)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    out, cache = conv_forward_nhwc(x, theta, theta0, SAME)
    assert cache[3] == "winograd"
    dout = rng.standard_normal(out.shape)
    dx, dtheta, dtheta0 = conv_backward_nhwc(dout, cache)
    for value, grad in ((x, dx), (theta, dtheta), (theta0, dtheta0)):
        numeric = eval_numerical_gradient_array(lambda _: conv_forward_nhwc(x, theta, theta0, SAME)[0], value, dout)
        np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-8)


def test_winograd_chunks_of_one_image_give_the_same_result(monkeypatch):
    allow_any_winograd(monkeypatch)
    rng = np.random.default_rng(15)
    x, theta = rng.standard_normal((5, 7, 6, 3)), rng.standard_normal((4, 3, 3, 3))
    dout = rng.standard_normal((5, 7, 6, 4))
    out, cache = conv_forward_nhwc(x, theta, None, SAME)
    whole = (out,) + conv_backward_nhwc(dout, cache)
    monkeypatch.setattr(fast_nhwc, "WINOGRAD_CHUNK_BYTES", 1)
    monkeypatch.setattr(fast_nhwc, "WINOGRAD_MIN_TILES", 1)
    out, cache = conv_forward_nhwc(x, theta, None, SAME)
    chunked = (out,) + conv_backward_nhwc(dout, cache)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    dx, dtheta, _ = conv_backward_nhwc(dout, cache, compute_dx=False)
    assert dx is None
    np.testing.assert_allclose(dtheta, whole[2], rtol=1e-12, atol=1e-12)


def test_winograd_caches_are_checked_before_the_loops():
    rng = np.random.default_rng(16)
    x, theta = rng.standard_normal((2, 7, 7, 64)), rng.standard_normal((64, 64, 3, 3))
    out, cache = conv_forward_nhwc(x, theta, None, SAME)
    x_, theta_, param, path = cache
    cases = [
        ((x_, theta_, param, "fft"), "path must be 'direct' or 'winograd'"),
        ((x_, theta_, {"stride": 2, "pad": 1}, path), "shape mismatch"),
        ((x_, theta_, {"stride": 1, "pad": 2}, path), "shape mismatch"),
        ((np.ones((2, 5, 5, 64)), theta_, param, path), "shape mismatch"),
        ((x_, rng.standard_normal((64, 32, 3, 3)), param, path), "channel mismatch"),
        ((x_, rng.standard_normal((64, 64, 1, 1)), {"pad": 0}, path), "needs 3x3 filters"),
        ((np.asfortranarray(x_), theta_, param, path), "C-contiguous"),
        ((x_.astype(np.float16), theta_, param, path), "float32 or float64"),
        (cache[:3], "4-tuple"),
    ]
    for bad, words in cases:
        with pytest.raises(ValueError, match=words):
            conv_backward_nhwc(out, bad)


# (m, H, W, C, pool_param): floor mode drops odd rows; overlapping 3x3 windows of stride 2.
POOL_CASES = [(2, 7, 9, 3, POOL2), (3, 6, 6, 10, POOL2), (2, 7, 7, 2, {"pool_height": 3, "pool_width": 3, "stride": 2}),
              (2, 3, 3, 4, {"pool_height": 3, "pool_width": 3, "stride": 3}),
              (1, 5, 8, 3, {"pool_height": 1, "pool_width": 2, "stride": 1})]


def naive_floor_pool(x, pool_param):
    """The naive NCHW pool of x (NHWC) cropped to the rows and columns its windows cover."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H, W = x.shape[1:3]
    used_h, used_w = (H - ph) // s * s + ph, (W - pw) // s * s + pw
    cropped = nchw(x)[:, :, :used_h, :used_w].copy()
    return max_pool_forward_naive(cropped, pool_param), used_h, used_w


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", POOL_CASES, ids=[str(c[:4]) for c in POOL_CASES])
def test_max_pool_equals_the_naive_pool(case, dtype):
    *shape, pool_param = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    (out, cache), used_h, used_w = naive_floor_pool(x, pool_param)
    dout = rng.standard_normal(out.shape)
    dx = np.zeros(nchw(x).shape)
    dx[:, :, :used_h, :used_w] = max_pool_backward_naive(dout, cache)
    out_f, cache_f = max_pool_floor_forward_nhwc(x.astype(dtype), pool_param)
    dx_f = max_pool_floor_backward_nhwc(nhwc(dout).astype(dtype), cache_f)
    np.testing.assert_array_equal(nchw(out_f), out.astype(dtype))
    close(dx, nchw(dx_f), dtype)


def test_max_pool_ties_go_to_the_first_maximum_and_nan_propagates():
    x = np.zeros((1, 4, 4, 2))
    x[0, 1, 1, 1] = np.nan
    out, cache = max_pool_floor_forward_nhwc(x, POOL2)
    dx = max_pool_floor_backward_nhwc(np.ones(out.shape), cache)
    assert np.isnan(out[0, 0, 0, 1]) and dx[0, 1, 1, 1] == 1 and dx[0, 0, 0, 1] == 0
    assert dx[0, 0, 0, 0] == 1 and dx[..., 0].sum() == 4         # ties: the window's first entry


def naive_pool_bn_act(x, gamma, beta, bn_param, pool_param, activation):
    """The naive chain in NCHW: (out, backward(dout) -> (dx, dgamma, dbeta))."""
    h = nchw(x)
    if pool_param is not None:
        (h, pool_cache), used_h, used_w = naive_floor_pool(x, pool_param)
    z, bn_cache = spatial_batchnorm_forward(h, gamma, beta, bn_param)
    out = np.maximum(z, 0) if activation == "relu" else z

    def backward(dout):
        dz = dout * (z > 0) if activation == "relu" else dout
        dh, dgamma, dbeta = spatial_batchnorm_backward(dz, bn_cache)
        if pool_param is not None:
            dx = np.zeros(nchw(x).shape)
            dx[:, :, :used_h, :used_w] = max_pool_backward_naive(dh, pool_cache)
            dh = dx
        return dh, dgamma, dbeta

    return out, backward


BN_CASES = [(None, "relu", "train"), (POOL2, "relu", "train"), (POOL2, None, "train"), (None, None, "train"),
            (POOL2, "relu", "test"), (None, "relu", "test"),
            ({"pool_height": 3, "pool_width": 3, "stride": 2}, "relu", "train")]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pool_param, activation, mode", BN_CASES, ids=[str(c) for c in BN_CASES])
def test_pool_bn_act_equals_the_naive_chain(pool_param, activation, mode, dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 7, 9, 5)) * 2 + 3          # |mean| > std: checks the shifted sums
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    stats = {"running_mean": rng.standard_normal(5), "running_var": rng.uniform(0.5, 2, 5)}
    bn_ref = {"mode": mode, "momentum": 0.7, **stats}
    bn_got = {"mode": mode, "momentum": 0.7, **{k: v.astype(dtype) for k, v in stats.items()}}
    out, backward = naive_pool_bn_act(x, gamma, beta, bn_ref, pool_param, activation)
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = backward(dout)
    out_f, cache = pool_bn_act_forward(x.astype(dtype), gamma.astype(dtype), beta.astype(dtype), bn_got,
                                       pool_param, activation)
    dx_f, dgamma_f, dbeta_f = pool_bn_act_backward(nhwc(dout).astype(dtype), cache)
    assert out_f.dtype == dx_f.dtype == dgamma_f.dtype == dtype
    for reference, got in ((out, nchw(out_f)), (dx, nchw(dx_f)), (dgamma, dgamma_f), (dbeta, dbeta_f),
                           (bn_ref["running_mean"], bn_got["running_mean"]),
                           (bn_ref["running_var"], bn_got["running_var"])):
        close(reference, got, dtype)


def gelu(z):
    return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3)))


def test_gelu_forward_is_the_tanh_form():
    x = np.random.default_rng(5).standard_normal((2, 3, 3, 4))
    out, _ = pool_bn_act_forward(x, np.ones(4), np.zeros(4), {"mode": "test"}, None, "gelu")
    np.testing.assert_allclose(out, gelu(x / np.sqrt(1 + 1e-5)), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("pool_param, activation, mode",
                         [(POOL2, "relu", "train"), (None, "gelu", "train"), (POOL2, "gelu", "test"),
                          (None, None, "train")])
def test_pool_bn_act_gradients_match_centred_differences(pool_param, activation, mode):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 4, 3))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    bn = {"mode": mode, "running_mean": rng.standard_normal(3), "running_var": rng.uniform(0.5, 2, 3)}

    def forward(_):
        return pool_bn_act_forward(x, gamma, beta, dict(bn), pool_param, activation)[0]

    out, cache = pool_bn_act_forward(x, gamma, beta, dict(bn), pool_param, activation)
    dout = rng.standard_normal(out.shape)
    grads = pool_bn_act_backward(dout, cache)
    for value, grad in zip((x, gamma, beta), grads):
        np.testing.assert_allclose(grad, eval_numerical_gradient_array(forward, value, dout),
                                   rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ bad inputs

def _conv():
    rng = np.random.default_rng(7)
    x, theta = rng.standard_normal((2, 5, 5, 3)), rng.standard_normal((4, 3, 3, 3))
    return x, theta, conv_forward_nhwc(x, theta, None, {"pad": 1})


def test_bad_inputs_give_clear_errors():
    x, theta, (out, cache) = _conv()
    cases = [
        (lambda: conv_forward_nhwc(x.astype(np.int64), theta, None, {"pad": 1}), "must hold floats"),
        (lambda: conv_forward_nhwc(x.astype(np.float16), theta, None, {"pad": 1}), "float32 or float64"),
        (lambda: conv_forward_nhwc(x[:, ::-1], theta, None, {"pad": 1}), "C-contiguous"),
        (lambda: conv_forward_nhwc(nchw(x), theta, None, {"pad": 1}), "channel mismatch"),
        (lambda: conv_forward_nhwc(x, theta, np.zeros(3), {"pad": 1}), r"theta0 must have shape \(4,\)"),
        (lambda: conv_forward_nhwc(x, theta, None, {"padding": 1}), "unknown conv_param"),
        (lambda: conv_backward_nhwc(out[:1], cache), "shape mismatch"),
        (lambda: conv_backward_nhwc(out.astype(int), cache), "must hold floats"),
        (lambda: conv_backward_nhwc(out, cache[:2]), "4-tuple"),
        (lambda: pool_bn_act_forward(x, np.ones(2), np.zeros(3), {"mode": "train"}), r"gamma must be \(3,\)"),
        (lambda: pool_bn_act_forward(x, np.ones(3), np.zeros(3), {"mode": "train"}, None, "swish"), "activation"),
        (lambda: pool_bn_act_forward(x, np.ones(3), np.zeros(3), {"mode": "fit"}), "mode"),
        (lambda: max_pool_floor_forward_nhwc(x, {"pool_height": 16, "pool_width": 16, "stride": 1}), "does not fit"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError, match=words):
            call()


def test_caches_from_other_calls_are_refused():
    x = np.random.default_rng(8).standard_normal((2, 6, 6, 3))
    small = x[:, :4, :4].copy()
    out, cache = pool_bn_act_forward(x, np.ones(3), np.zeros(3), {"mode": "train"}, POOL2)
    _, other = pool_bn_act_forward(small, np.ones(3), np.zeros(3), {"mode": "train"}, POOL2)
    mixed = (cache[0], other[1]) + cache[2:]
    with pytest.raises(ValueError, match="shape mismatch"):
        pool_bn_act_backward(out, mixed)
    _, pool_cache = max_pool_floor_forward_nhwc(x, POOL2)
    wrong_param = pool_cache[:3] + ({"pool_height": 3, "pool_width": 3, "stride": 3},)
    with pytest.raises(ValueError, match="shape mismatch"):
        max_pool_floor_backward_nhwc(np.ones((2, 3, 3, 3)), wrong_param)
    corrupt = pool_cache[0].copy()
    corrupt[0, 0, 0, 0] = 200
    with pytest.raises(ValueError, match="corrupt cache"):
        max_pool_floor_backward_nhwc(np.ones((2, 3, 3, 3)), (corrupt,) + pool_cache[1:])
    with pytest.raises(ValueError, match="8-tuple"):
        pool_bn_act_backward(out, pool_cache)


@pytest.mark.parametrize("pool_param", [None, {"pool_height": 2, "pool_width": 2, "stride": 2}])
def test_nan_passes_the_fused_relu_as_through_the_naive_layers(pool_param):
    """ReLU(NaN) is NaN in layers.relu_forward (np.maximum); the fused pass must not map it
    to 0, or a NaN input or weight gives a finite loss."""
    x = np.random.default_rng(5).standard_normal((2, 4, 4, 3))
    x[0, 0, 0, 1] = np.nan
    bn_param = {"mode": "train"}
    out, _ = pool_bn_act_forward(x, np.ones(3), np.zeros(3), bn_param, pool_param)
    assert np.isnan(out[..., 1]).all()                    # the batch mean of channel 1 is NaN
    assert not np.isnan(out[..., [0, 2]]).any()


def test_the_winograd_filter_transforms_run_on_one_blas_thread(monkeypatch):
    """A threaded product beside the slices leaves OpenBLAS's threads spinning on the cores
    the slices need (batch_slices.one_blas_thread): both float64 transforms of the filters
    run on one BLAS thread."""
    from threadpoolctl import threadpool_limits
    from batch_slices import blas_threads
    seen = []
    real_matmul = np.matmul

    class RecordingGG(np.ndarray):
        def __matmul__(self, other):
            seen.append(blas_threads())
            return real_matmul(np.asarray(self), other)
    monkeypatch.setattr(fast_nhwc, "_GG", fast_nhwc._GG.view(RecordingGG))
    theta = np.random.default_rng(0).standard_normal((8, 4, 3, 3))
    with threadpool_limits(2):
        U = fast_nhwc._winograd_filters(theta, np.float64)
        fast_nhwc._winograd_filters_adjoint(np.asarray(U), theta.shape)
    assert seen == [1, 1]
