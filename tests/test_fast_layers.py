"""fast_layers against the naive layers, with and without the Cython extension."""
import warnings

import numpy as np
import pytest

import fast_layers
from conv_cases import (CONV_CASES, POOL_CASES, conv_case_id, conv_inputs, distinct_pool_input,
                        pool_case_id, tied_pool_input)
from fast_layers import (conv_backward_fast, conv_forward_fast, max_pool_backward_fast,
                         max_pool_forward_fast)
from gradient_check import eval_numerical_gradient_array, rel_error
from layers import (conv_backward_naive, conv_forward_naive, max_pool_backward_naive,
                    max_pool_forward_naive)


@pytest.fixture(params=["extension", "numpy"])
def path(request, monkeypatch):
    """Run a test through the compiled extension and through the NumPy fallback."""
    if request.param == "extension":
        if fast_layers._ext is None:
            pytest.skip("im2col_cython not built (make build)")
    else:
        monkeypatch.setattr(fast_layers, "_ext", None)
        monkeypatch.setattr(fast_layers, "_warned", True)    # warning tested separately
    return request.param


@pytest.fixture
def small_chunks(monkeypatch):
    """Force several image chunks per call, so chunk boundaries get exercised."""
    monkeypatch.setattr(fast_layers, "CHUNK_BYTES", 1)


def _conv_both(shape, stride, pad, rng, dtype=np.float64):
    x, theta, theta0 = conv_inputs(shape, rng, dtype)
    conv_param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_naive(x, theta, theta0, conv_param)
    out_fast, cache_fast = conv_forward_fast(x, theta, theta0, conv_param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    return ((out, *conv_backward_naive(dout, cache)),
            (out_fast, *conv_backward_fast(dout, cache_fast)))


@pytest.mark.parametrize("case", CONV_CASES, ids=conv_case_id)
def test_conv_fast_equals_naive(case, path, small_chunks):
    naive, fast = _conv_both(*case, np.random.default_rng(0))
    for want, got in zip(naive, fast):
        assert got.shape == want.shape
        assert np.max(np.abs(got - want)) <= 1e-10


@pytest.mark.parametrize("case", CONV_CASES[::5], ids=conv_case_id)
def test_conv_fast_keeps_float32(case, path):
    naive, fast = _conv_both(*case, np.random.default_rng(1), dtype=np.float32)
    for want, got in zip(naive, fast):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", POOL_CASES, ids=pool_case_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pool_fast_equals_naive_with_ties(case, dtype, path):
    shape, ph, pw, stride = case
    rng = np.random.default_rng(2)
    x = tied_pool_input(shape, rng, dtype)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_naive(x, pool_param)
    out_fast, cache_fast = max_pool_forward_fast(x, pool_param)
    assert out_fast.dtype == dtype
    np.testing.assert_array_equal(out_fast, out)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dx_fast = max_pool_backward_naive(dout, cache), max_pool_backward_fast(dout, cache_fast)
    assert dx_fast.dtype == dtype
    # Ties go to the same (first) maximum; overlapping windows may add in another order.
    assert np.max(np.abs(dx_fast - dx)) <= (1e-10 if dtype == np.float64 else 1e-6)


def test_conv_backward_can_skip_dx():
    x, theta, theta0 = conv_inputs((2, 3, 7, 7, 2, 3, 3), np.random.default_rng(3))
    out, cache = conv_forward_fast(x, theta, theta0, {"stride": 2, "pad": 1})
    dout = np.ones_like(out)
    dx, dtheta, dtheta0 = conv_backward_fast(dout, cache, compute_dx=False)
    assert dx is None
    _, want_dtheta, want_dtheta0 = conv_backward_fast(dout, cache)
    np.testing.assert_array_equal(dtheta, want_dtheta)
    np.testing.assert_array_equal(dtheta0, want_dtheta0)


def test_fast_layers_accept_non_contiguous_input():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 9, 8)).transpose(0, 1, 3, 2)       # (2, 3, 8, 9) view
    theta, theta0 = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    conv_param = {"stride": 1, "pad": 1}
    np.testing.assert_allclose(conv_forward_fast(x, theta, theta0, conv_param)[0],
                               conv_forward_naive(x, theta, theta0, conv_param)[0], atol=1e-12)
    pool_param = {"pool_height": 2, "pool_width": 3, "stride": 1}
    np.testing.assert_array_equal(max_pool_forward_fast(x, pool_param)[0],
                                  max_pool_forward_naive(x, pool_param)[0])


def test_fast_gradients_by_centred_differences():
    rng = np.random.default_rng(5)
    x, theta, theta0 = conv_inputs((2, 2, 7, 8, 3, 3, 2), rng)
    conv_param = {"stride": 2, "pad": 1}
    out, cache = conv_forward_fast(x, theta, theta0, conv_param)
    dout = rng.standard_normal(out.shape)
    analytic = conv_backward_fast(dout, cache)
    for i, arg in enumerate((x, theta, theta0)):
        def f(v, i=i):
            args = [x, theta, theta0]
            args[i] = v
            return conv_forward_fast(*args, conv_param)[0]
        assert rel_error(analytic[i], eval_numerical_gradient_array(f, arg, dout)) <= 1e-7

    x = distinct_pool_input((2, 2, 8, 7), rng)
    pool_param = {"pool_height": 2, "pool_width": 3, "stride": 2}
    out, cache = max_pool_forward_fast(x, pool_param)
    dout = rng.standard_normal(out.shape)
    numeric = eval_numerical_gradient_array(lambda v: max_pool_forward_fast(v, pool_param)[0],
                                            x, dout)
    assert rel_error(max_pool_backward_fast(dout, cache), numeric) <= 1e-7


def test_fallback_warns_exactly_once_with_build_instructions(monkeypatch):
    monkeypatch.setattr(fast_layers, "_ext", None)
    monkeypatch.setattr(fast_layers, "_warned", False)
    rng = np.random.default_rng(6)
    x, theta, theta0 = conv_inputs((2, 3, 8, 8, 2, 3, 3), rng)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            out, cache = conv_forward_fast(x, theta, theta0, {"stride": 1, "pad": 1})
            conv_backward_fast(out, cache)
            out, cache = max_pool_forward_fast(x, {"pool_height": 3, "pool_width": 3, "stride": 1})
            max_pool_backward_fast(out, cache)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "python setup.py build_ext --inplace" in message and "make build" in message


@pytest.mark.parametrize("call", [
    lambda: conv_forward_fast(np.zeros((1, 1, 9, 10)), np.zeros((1, 1, 3, 3)), np.zeros(1),
                              {"stride": 2, "pad": 0}),
    lambda: conv_forward_fast(np.zeros((1, 2, 8, 8)), np.zeros((1, 3, 3, 3)), np.zeros(1),
                              {"stride": 1, "pad": 1}),
    lambda: conv_forward_fast(np.zeros((1, 1, 8, 8)), np.zeros((2, 1, 3, 3)), np.zeros(3),
                              {"stride": 1, "pad": 1}),
    lambda: max_pool_forward_fast(np.zeros((1, 1, 8, 9)),
                                  {"pool_height": 2, "pool_width": 2, "stride": 2}),
    lambda: max_pool_forward_fast(np.zeros((1, 1, 8, 8)),
                                  {"pool_height": 2, "pool_width": 2, "stride": 0}),
    lambda: fast_layers.conv_relu_pool_forward_fast(
        np.zeros((1, 1, 8, 9)), np.zeros((1, 1, 3, 3)), np.zeros(1), {"stride": 1, "pad": 1},
        {"pool_height": 2, "pool_width": 2, "stride": 2}),
], ids=["untileable-conv", "channel-mismatch", "bias-shape", "untileable-pool", "zero-stride",
        "fused-untileable-pool"])
def test_fast_layers_reject_invalid_hyperparameters(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("conv_param, pool_param", [
    ({"stride": 1, "pad": 1}, {"pool_height": 3, "pool_width": 3, "stride": 3}),
    ({"stride": 1, "pad": 2}, {"pool_height": 3, "pool_width": 2, "stride": 1}),
    ({"stride": 2, "pad": 1}, {"pool_height": 3, "pool_width": 3, "stride": 2}),
], ids=["tiling", "overlapping", "strided-conv"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_conv_relu_pool_equals_naive_layers(conv_param, pool_param, dtype, path,
                                                  small_chunks):
    # Small integers make many exact ties and zeros, where the routing matters.
    rng = np.random.default_rng(7)
    x = rng.integers(-2, 3, size=(3, 2, 9, 9)).astype(dtype)
    theta = rng.integers(-1, 2, size=(3, 2, 3, 3)).astype(dtype)
    theta0 = rng.integers(-1, 2, size=3).astype(dtype)
    a, conv_cache = conv_forward_naive(x, theta, theta0, conv_param)
    r = np.maximum(a, 0)
    out, pool_cache = max_pool_forward_naive(r, pool_param)
    fused_out, fused_cache = fast_layers.conv_relu_pool_forward_fast(x, theta, theta0,
                                                                     conv_param, pool_param)
    assert fused_out.dtype == dtype
    np.testing.assert_array_equal(fused_out, out)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dr = max_pool_backward_naive(dout, pool_cache)
    want = conv_backward_naive(dr * (a > 0), conv_cache)
    got = fast_layers.conv_relu_pool_backward_fast(dout, fused_cache)
    for w, g in zip(want, got):
        assert g.dtype == dtype
        scale = 1e-10 if dtype == np.float64 else 1e-6 * np.max(np.abs(w))
        assert np.max(np.abs(g - w)) <= scale


def test_batch_slices_on_threads_equal_naive(monkeypatch):
    # Force the multi-threaded path on inputs small enough for the naive layers.
    if fast_layers._ext is None:
        pytest.skip("im2col_cython not built (make build)")
    monkeypatch.setattr(fast_layers, "blas_threads", lambda: 3)
    monkeypatch.setattr(fast_layers, "MIN_PARALLEL_BYTES", 1)
    monkeypatch.setattr(fast_layers, "CHUNK_BYTES", 1)
    naive, fast = _conv_both((7, 3, 7, 7, 2, 3, 3), 1, 1, np.random.default_rng(8))
    for want, got in zip(naive, fast):
        assert np.max(np.abs(got - want)) <= 1e-10
    x, theta, theta0 = conv_inputs((5, 2, 8, 8, 3, 3, 3), np.random.default_rng(9))
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = fast_layers.conv_relu_pool_forward_fast(x, theta, theta0, conv_param, pool_param)
    a, conv_cache = conv_forward_naive(x, theta, theta0, conv_param)
    want_out, pool_cache = max_pool_forward_naive(np.maximum(a, 0), pool_param)
    # BLAS and tensordot sum in different orders: equal to round-off, not to the bit.
    np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-12)
    dout = np.random.default_rng(10).standard_normal(out.shape)
    want = conv_backward_naive(max_pool_backward_naive(dout, pool_cache) * (a > 0), conv_cache)
    for w, g in zip(want, fast_layers.conv_relu_pool_backward_fast(dout, cache)):
        assert np.max(np.abs(g - w)) <= 1e-10


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_threads_work_in_a_forked_child(monkeypatch):
    # The worker threads do not survive a fork; the child must not wait on them.
    import multiprocessing
    if fast_layers._ext is None:
        pytest.skip("im2col_cython not built (make build)")
    monkeypatch.setattr(fast_layers, "blas_threads", lambda: 2)
    monkeypatch.setattr(fast_layers, "MIN_PARALLEL_BYTES", 1)
    x, theta, theta0 = conv_inputs((4, 2, 6, 6, 2, 3, 3), np.random.default_rng(11))
    want = conv_forward_fast(x, theta, theta0, {"stride": 1, "pad": 1})[0]   # starts threads
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(conv_forward_fast, (x, theta, theta0, {"stride": 1, "pad": 1}))
        np.testing.assert_array_equal(got.get(timeout=60)[0], want)


def _fast_caches():
    rng = np.random.default_rng(12)
    x, theta, theta0 = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3)), \
        rng.standard_normal(4)
    conv_param, pool_param = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    conv_out, conv_cache = conv_forward_fast(x, theta, theta0, conv_param)
    pool_out, pool_cache = max_pool_forward_fast(x, pool_param)
    fused_out, fused_cache = fast_layers.conv_relu_pool_forward_fast(x, theta, theta0, conv_param,
                                                                     pool_param)
    return [(conv_backward_fast, conv_cache, conv_out.shape),
            (max_pool_backward_fast, pool_cache, pool_out.shape),
            (fast_layers.conv_relu_pool_backward_fast, fused_cache, fused_out.shape)]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["conv", "pool", "fused"])
@pytest.mark.parametrize("change", ["larger", "smaller", "transposed", "ints"])
def test_backward_passes_check_the_upstream_gradient(index, change):
    backward, cache, shape = _fast_caches()[index]
    dout = {"larger": np.ones((shape[0] + 3,) + shape[1:]),
            "smaller": np.ones(shape[:-1] + (shape[-1] - 1,)),
            "transposed": np.ones(shape[::-1]) if shape[::-1] != shape else np.ones(shape[1:] + shape[:1]),
            "ints": np.ones(shape, dtype=int)}[change]
    with pytest.raises(ValueError, match="shape mismatch|dout must hold floats"):
        backward(dout, cache)


def test_nan_propagates_through_the_fused_layer_as_through_the_unfused_ones():
    if fast_layers._ext is None:
        pytest.skip("im2col_cython not built (make build)")
    rng = np.random.default_rng(13)
    x, theta, theta0 = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3)), \
        rng.standard_normal(4)
    x[1, 2, 5, 6] = np.nan
    conv_param, pool_param = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = fast_layers.conv_relu_pool_forward_fast(x, theta, theta0, conv_param, pool_param)
    a, conv_cache = conv_forward_naive(x, theta, theta0, conv_param)
    want, pool_cache = max_pool_forward_naive(np.maximum(a, 0), pool_param)
    assert np.isnan(out).sum() == np.isnan(want).sum() > 0
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)          # NaN where NaN
    dout = rng.standard_normal(out.shape)
    got = fast_layers.conv_relu_pool_backward_fast(dout, cache)
    expected = conv_backward_naive(max_pool_backward_naive(dout, pool_cache) * (a > 0), conv_cache)
    for g, w in zip(got, expected):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)
    theta[0, 0, 0, 0] = np.nan                                           # NaN weights: NaN out
    out, _ = fast_layers.conv_relu_pool_forward_fast(np.ones_like(x), theta, theta0, conv_param,
                                                     pool_param)
    assert np.isnan(out[:, 0]).all() and not np.isnan(out[:, 1:]).any()


def test_fast_max_pool_backward_routes_a_nan_window_like_the_naive_one():
    x = np.random.default_rng(14).standard_normal((1, 2, 4, 4))
    x[0, 1, 1, 0] = np.nan
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = max_pool_forward_fast(x, pool_param)
    want_out, want_cache = max_pool_forward_naive(x, pool_param)
    np.testing.assert_array_equal(out, want_out)
    dout = np.ones_like(out)
    np.testing.assert_array_equal(max_pool_backward_fast(dout, cache),
                                  max_pool_backward_naive(dout, want_cache))
    assert max_pool_backward_fast(dout, cache)[0, 1, 1, 0] == 1


@pytest.mark.parametrize("shape, pool_param, out_hw", [
    ((2, 3, 7, 5), {"pool_height": 2, "pool_width": 2, "stride": 2}, (3, 2)),
    ((2, 3, 6, 6), {"pool_height": 2, "pool_width": 2, "stride": 2}, (3, 3)),
    ((1, 2, 8, 9), {"pool_height": 3, "pool_width": 2, "stride": 2}, (3, 4)),
    ((2, 2, 7, 7), {"pool_height": 3, "pool_width": 3, "stride": 3}, (2, 2)),
])
def test_max_pool_floor_drops_what_no_window_covers(shape, pool_param, out_hw, path):
    """Like PyTorch's floor mode: the windows of the pool over the largest part of x
    that they tile exactly; the ignored rows and columns get no gradient."""
    x = np.random.default_rng(4).standard_normal(shape)
    out, cache = fast_layers.max_pool_floor_forward(x, pool_param)
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    expected = np.array([[[[x[n, c, i * s:i * s + ph, j * s:j * s + pw].max()
                            for j in range(out_hw[1])] for i in range(out_hw[0])]
                          for c in range(shape[1])] for n in range(shape[0])])
    np.testing.assert_array_equal(out, expected)
    dout = np.random.default_rng(5).standard_normal(out.shape)
    dx = fast_layers.max_pool_floor_backward(dout, cache)
    numeric = eval_numerical_gradient_array(
        lambda v: fast_layers.max_pool_floor_forward(v, pool_param)[0], x, dout)
    assert dx.shape == x.shape and rel_error(dx, numeric) < 1e-8
    used_h = (out_hw[0] - 1) * s + ph
    assert not dx[:, :, used_h:].any()


def test_max_pool_floor_agrees_with_the_tiling_pool_and_propagates_nan(path):
    x = np.random.default_rng(6).standard_normal((2, 3, 6, 8)).astype(np.float32)
    x[0, 1, 2, 3] = np.nan
    P = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = fast_layers.max_pool_floor_forward(x, P)
    expected, expected_cache = max_pool_forward_fast(x, P)
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float32 and np.isnan(out[0, 1, 1, 1])
    dout = np.ones_like(out)
    np.testing.assert_array_equal(fast_layers.max_pool_floor_backward(dout, cache),
                                  max_pool_backward_fast(dout, expected_cache))


@pytest.mark.parametrize("shape, pool_param, message", [
    ((1, 1, 1, 4), {}, "does not fit"),
    ((1, 1, 4, 4), {"size": 2}, "size"),
    ((4, 4), {}, "4-d"),
])
def test_max_pool_floor_refuses_bad_input(shape, pool_param, message):
    with pytest.raises(ValueError, match=message):
        fast_layers.max_pool_floor_forward(np.zeros(shape), pool_param)


# ------------------------------------ caches the compiled loops must not trust (issue 20)

REPORTED_CRASHES = {
    "pool": """
o, _ = fl.max_pool_forward_fast(np.zeros((1, 1, 256, 256)), P)
fl.max_pool_backward_fast(np.ones_like(o), (np.zeros((1, 1, 4, 4)), o, P))""",
    "floor": """
o, _ = fl.max_pool_floor_forward(np.zeros((1, 1, 256, 256)), P)
fl.max_pool_floor_backward(np.ones_like(o), (np.zeros((1, 1, 4, 4)), o, P))""",
    "fused": """
r = np.random.default_rng(0)
def fused(size):
    return fl.conv_relu_pool_forward_fast(r.standard_normal((2, 3, size, size)),
        r.standard_normal((4, 3, 3, 3)), np.zeros(4), {"stride": 1, "pad": 1}, P)
(big, a), (_, b) = fused(16), fused(4)
fl.conv_relu_pool_backward_fast(np.ones_like(big), (a[0], b[1], b[2]))""",
}


@pytest.mark.parametrize("name", sorted(REPORTED_CRASHES))
def test_the_reported_crashes_now_raise_in_a_subprocess(name):
    # A subprocess, so that a regression shows as a failed test instead of killing pytest.
    import subprocess
    import sys
    code = ("import numpy as np, fast_layers as fl\n"
            "P = {'pool_height': 2, 'pool_width': 2, 'stride': 2}\n"
            "try:" + REPORTED_CRASHES[name].replace("\n", "\n    ") +
            "\nexcept ValueError as e:\n    print('ValueError:', e)\n")
    root = __import__("os").path.dirname(__import__("os").path.dirname(__file__))
    run = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "ValueError: " in run.stdout and "cache's" in run.stdout, run.stdout


def _pool_pair(pool_param, seed=20, shape=(2, 3, 8, 8)):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    return a, max_pool_forward_fast(b, pool_param)[0]


@pytest.mark.parametrize("pool_param", [{"pool_height": 2, "pool_width": 2, "stride": 2},
                                        {"pool_height": 3, "pool_width": 2, "stride": 1}],
                         ids=["tiling", "overlapping"])
@pytest.mark.parametrize("backward", [max_pool_backward_fast, fast_layers.max_pool_floor_backward],
                         ids=["pool", "floor"])
def test_pool_backward_refuses_out_of_another_input(pool_param, backward, path):
    a, out_b = _pool_pair(pool_param)
    with pytest.raises(ValueError, match="is not the max pool of"):
        backward(np.ones_like(out_b), (a, out_b, pool_param))


@pytest.mark.parametrize("backward", [max_pool_backward_fast, fast_layers.max_pool_floor_backward],
                         ids=["pool", "floor"])
@pytest.mark.parametrize("change, words", [
    (lambda x, out: (x[:, :, :4], out), "shape mismatch: cache's out"),
    (lambda x, out: (x[:1], out), "shape mismatch: cache's out"),
    (lambda x, out: (x, out.astype(np.float32)), "cache's out must have cache's x's dtype"),
    (lambda x, out: (x, out.astype(int)), "cache's out must hold floats"),
    (lambda x, out: (x.astype(np.float16), out), "cache's out must have"),
    (lambda x, out: (x.astype(int), out), "x must hold floats"),
], ids=["x-smaller", "x-fewer-images", "out-float32", "out-int", "x-float16", "x-int"])
def test_pool_backward_refuses_parts_that_disagree(backward, change, words, path):
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    x = np.random.default_rng(21).standard_normal((2, 3, 8, 8))
    out, _ = max_pool_forward_fast(x, pool_param)
    x2, out2 = change(x, out)
    with pytest.raises(ValueError, match=words):
        backward(np.ones(out.shape), (x2, out2, pool_param))


def _fused_pair(seed=22):
    rng = np.random.default_rng(seed)

    def fused(size):
        return fast_layers.conv_relu_pool_forward_fast(
            rng.standard_normal((2, 3, size, size)), rng.standard_normal((4, 3, 3, 3)),
            np.zeros(4), {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2})
    return fused(16), fused(4)


@pytest.mark.parametrize("mix, words", [
    (lambda a, b: (a[0], b[1], a[2]), r"cache's P must be H_out \* W_out = 16"),
    (lambda a, b: (a[0], b[1], b[2]), r"cache's first must be \(m, F, H_pool, W_pool\)"),
    (lambda a, b: (a[0].astype(np.int64), a[1], a[2]), "C-contiguous 4-d int32"),
    (lambda a, b: (np.asfortranarray(a[0]), a[1], a[2]), "C-contiguous 4-d int32"),
    (lambda a, b: (a[0], (a[1][0].astype(np.float16),) + a[1][1:], a[2]), "float32 or float64"),
    (lambda a, b: (a[0], a[1]), "cache must be the tuple"),
    (lambda a, b: (a[0], (a[1][0][:1],) + a[1][1:], a[2]), r"with m=1"),
], ids=["first-and-P", "first", "int64", "fortran", "float16", "short", "fewer-images"])
def test_fused_backward_refuses_caches_mixed_or_altered(mix, words):
    if fast_layers._ext is None:
        pytest.skip("im2col_cython not built (make build)")
    (out, cache_a), (_, cache_b) = _fused_pair()
    with pytest.raises(ValueError, match=words):
        fast_layers.conv_relu_pool_backward_fast(np.ones(out.shape), mix(cache_a, cache_b))


@pytest.mark.parametrize("position", [lambda P: P, lambda P: P + 1000, lambda P: -2,
                                      lambda P: 2 ** 31 - 1],
                         ids=["P", "P+1000", "-2", "int32-max"])
def test_fused_backward_refuses_positions_outside_the_image(position):
    if fast_layers._ext is None:
        pytest.skip("im2col_cython not built (make build)")
    (out, (first, conv_cache, P)), _ = _fused_pair()
    first = first.copy()
    first[1, 2, 3, 3] = position(P)
    with pytest.raises(ValueError, match=r"1 position\(s\) outside \[-1, P\)"):
        fast_layers.conv_relu_pool_backward_fast(np.ones(out.shape), (first, conv_cache, P))


def test_mixed_sandwich_caches_are_refused_on_the_numpy_path(monkeypatch):
    monkeypatch.setattr(fast_layers, "_ext", None)
    monkeypatch.setattr(fast_layers, "_warned", True)
    (out, cache_a), (_, cache_b) = _fused_pair()
    assert cache_a[0] is None
    with pytest.raises(ValueError, match="shape mismatch"):
        fast_layers.conv_relu_pool_backward_fast(np.ones(out.shape),
                                                 (None, cache_b[1], cache_a[2], cache_a[3]))


@pytest.mark.parametrize("call, words", [
    (lambda: conv_forward_fast(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1),
                               {"stride": 2 ** 31, "pad": 0}),
     r"conv_param\['stride'\]=2147483648"),
    (lambda: conv_forward_fast(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1),
                               {"stride": 2 ** 40, "pad": 0}), r"conv_param\['stride'\]"),
    (lambda: conv_backward_fast(np.ones((1, 1, 1, 1)), conv_forward_naive(
        np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1),
        {"stride": 2 ** 31, "pad": 0})[1]), r"conv_param\['stride'\]"),
    (lambda: max_pool_forward_fast(np.zeros((1, 1, 2, 2)),
                                   {"pool_height": 2, "pool_width": 2, "stride": 2 ** 31}),
     r"pool_param\['stride'\]=2147483648"),
    (lambda: fast_layers.max_pool_floor_forward(
        np.zeros((1, 1, 3, 3)), {"pool_height": 2, "pool_width": 2, "stride": 2 ** 31}),
     r"pool_param\['stride'\]"),
    (lambda: fast_layers.conv_relu_pool_forward_fast(
        np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), np.zeros(1), {"stride": 1, "pad": 1},
        {"pool_height": 4, "pool_width": 4, "stride": 2 ** 31}), r"pool_param\['stride'\]"),
], ids=["conv", "conv-2**40", "conv-backward", "pool", "floor", "fused"])
def test_strides_past_a_c_int_are_refused_by_name(call, words, path):
    with pytest.raises(ValueError, match=words + ".*too large for the compiled loops"):
        call()


def test_stride_2_31_still_works_in_the_naive_layer():
    out, _ = conv_forward_naive(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), np.zeros(1),
                                {"stride": 2 ** 31, "pad": 0})
    assert out.shape == (1, 1, 1, 1) and out[0, 0, 0, 0] == 9


@pytest.mark.parametrize("call", [
    lambda: max_pool_forward_fast(np.arange(16).reshape(1, 1, 4, 4), {}),
    lambda: fast_layers.max_pool_floor_forward(np.arange(16).reshape(1, 1, 4, 4), {}),
    lambda: conv_forward_fast(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), np.zeros(1, int), {}),
    lambda: fast_layers.conv_relu_pool_forward_fast(
        np.ones((1, 1, 4, 4), complex), np.ones((1, 1, 3, 3)), np.zeros(1), {"pad": 1}, {}),
], ids=["pool", "floor", "conv-int-bias", "fused-complex"])
def test_fast_layers_refuse_arrays_that_are_not_floats(call, path):
    with pytest.raises(ValueError, match="must hold floats"):
        call()


@pytest.mark.parametrize("backward", [conv_backward_fast, max_pool_backward_fast,
                                      fast_layers.max_pool_floor_backward,
                                      fast_layers.conv_relu_pool_backward_fast])
@pytest.mark.parametrize("cache", [None, (), [1, 2], "cache"])
def test_fast_backward_refuses_a_cache_that_is_not_its_tuple(backward, cache):
    with pytest.raises(ValueError, match="cache must be the tuple"):
        backward(np.ones((1, 1, 1, 1)), cache)


def test_pool_backward_refuses_an_out_below_the_windows_maximum(path):
    # Every window holds an entry equal to out (0), but its maximum is larger: the first
    # entry equal to out is not the maximum, and routing dout there would be wrong.
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = 5.0
    out = np.zeros((1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"the maximum of 1 window\(s\) is not their out"):
        max_pool_backward_fast(np.ones(out.shape), (x, out, {"pool_height": 2, "pool_width": 2,
                                                              "stride": 2}))
