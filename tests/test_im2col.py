"""im2col / col2im in NumPy (im2col.py) and Cython (im2col_cython)."""
import itertools

import numpy as np
import pytest

from conv_cases import CONV_CASES, conv_case_id
from im2col import col2im_indices, get_im2col_indices, im2col_indices

try:
    import im2col_cython
except ImportError:
    im2col_cython = None
needs_extension = pytest.mark.skipif(im2col_cython is None,
                                     reason="im2col_cython not built (make build)")


def im2col_loops(x, HH, WW, pad, stride):
    """cols[(c*HH + a)*WW + b, n*P + i*W_out + j] = xpad[n, c, i*S + a, j*S + b], by loops."""
    m, C, H, W = x.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    cols = np.zeros((C * HH * WW, m * H_out * W_out), dtype=x.dtype)
    for n, c, a, b, i, j in itertools.product(range(m), range(C), range(HH), range(WW),
                                              range(H_out), range(W_out)):
        cols[(c * HH + a) * WW + b, (n * H_out + i) * W_out + j] = \
            xpad[n, c, i * stride + a, j * stride + b]
    return cols


def _geometry(case):
    (m, C, H, W, _, HH, WW), stride, pad = case
    return (m, C, H, W), HH, WW, pad, stride


@pytest.mark.parametrize("case", CONV_CASES, ids=conv_case_id)
def test_im2col_indices_matches_loops(case):
    x_shape, HH, WW, pad, stride = _geometry(case)
    x = np.random.default_rng(0).standard_normal(x_shape)
    np.testing.assert_array_equal(im2col_indices(x, HH, WW, pad, stride),
                                  im2col_loops(x, HH, WW, pad, stride))


@pytest.mark.parametrize("case", CONV_CASES, ids=conv_case_id)
def test_col2im_indices_is_the_adjoint_of_im2col(case):
    # <im2col(x), cols> = <x, col2im(cols)> for all x, cols defines the adjoint.
    x_shape, HH, WW, pad, stride = _geometry(case)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape)
    cols = rng.standard_normal(im2col_indices(x, HH, WW, pad, stride).shape)
    lhs = np.sum(im2col_indices(x, HH, WW, pad, stride) * cols)
    rhs = np.sum(x * col2im_indices(cols, x_shape, HH, WW, pad, stride))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


def test_indices_are_integers_with_the_documented_shapes():
    c, h, w = get_im2col_indices((2, 3, 7, 10), 3, 2, padding=1, stride=2)
    K, P = 3 * 3 * 2, 4 * 6
    assert (c.shape, h.shape, w.shape) == ((K, 1), (K, P), (K, P))
    assert all(np.issubdtype(a.dtype, np.integer) for a in (c, h, w))
    assert h.max() < 7 + 2 and w.max() < 10 + 2


def test_im2col_rejects_untileable_geometry():
    with pytest.raises(ValueError, match=r"W=10, WW=3, P=0, S=2"):
        im2col_indices(np.zeros((1, 1, 9, 10)), 3, 3, 0, 2)


@needs_extension
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES, ids=conv_case_id)
def test_cython_matches_numpy(case, dtype):
    x_shape, HH, WW, pad, stride = _geometry(case)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(x_shape).astype(dtype)
    cols = im2col_cython.im2col_cython(x, HH, WW, pad, stride)
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, im2col_indices(x, HH, WW, pad, stride))
    dcols = rng.standard_normal(cols.shape).astype(dtype)
    dx = im2col_cython.col2im_cython(dcols, *x_shape, HH, WW, pad, stride)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, col2im_indices(dcols, x_shape, HH, WW, pad, stride),
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


# ------------------------------------- the compiled loops check what they are given

@needs_extension
@pytest.mark.parametrize("call, words", [
    (lambda: im2col_cython.im2col_cython(np.zeros((1, 1, 4, 4)), 2, 2, 0, 0), "must be positive"),
    (lambda: im2col_cython.im2col_cython(np.zeros((1, 1, 4, 4)), 0, 2, 0, 1), "must be positive"),
    (lambda: im2col_cython.im2col_cython(np.zeros((1, 1, 4, 4)), 2, 2, -1, 1), "padding"),
    (lambda: im2col_cython.im2col_cython(np.zeros((1, 1, 4, 4)), 7, 2, 1, 1), "does not fit"),
    (lambda: im2col_cython.col2im_cython(np.zeros((9, 4)), 2, 1, 8, 8, 3, 3, 1, 1),
     r"shape mismatch: cols must have shape \(9, 128\)"),
    (lambda: im2col_cython.col2im_cython(np.zeros((9, 64)), -1, 1, 8, 8, 3, 3, 1, 1), "N and C"),
    (lambda: im2col_cython.max_pool_backward_cython(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 8, 8)),
                                                    np.zeros((1, 1, 8, 8)), 2, 2, 2),
     "is not a 2x2 pool of stride 2"),
    (lambda: im2col_cython.max_pool_backward_cython(np.zeros((2, 1, 4, 4)), np.zeros((1, 1, 2, 2)),
                                                    np.zeros((1, 1, 2, 2)), 2, 2, 2),
     "is not a 2x2 pool"),
    (lambda: im2col_cython.max_pool_backward_cython(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 2, 2)),
                                                    np.zeros((1, 1, 2, 1)), 2, 2, 2),
     "shape mismatch: dout"),
    (lambda: im2col_cython.max_pool_backward_cython(np.zeros((1, 1, 4, 4)), np.ones((1, 1, 2, 2)),
                                                    np.ones((1, 1, 2, 2)), 2, 2, 2),
     "4 window"),
    (lambda: im2col_cython.bias_relu_pool_forward_cython(np.zeros((4, 2, 16)), np.zeros(4),
                                                         8, 8, 2, 2, 2), "shape mismatch: conv"),
    (lambda: im2col_cython.bias_relu_pool_forward_cython(np.zeros((4, 2, 16)), np.zeros(3),
                                                         4, 4, 2, 2, 2), "shape mismatch: bias"),
    (lambda: im2col_cython.bias_relu_pool_forward_cython(np.zeros((4, 2, 16)), np.zeros(4),
                                                         4, 4, 2, 2, 0), "must be positive"),
    (lambda: im2col_cython.relu_pool_backward_cython(np.ones((2, 4, 4, 4)),
                                                     np.zeros((1, 4, 4, 4), np.int32), 64),
     "shape mismatch: first"),
    (lambda: im2col_cython.relu_pool_backward_cython(np.ones((1, 1, 1, 1)),
                                                     np.full((1, 1, 1, 1), 64, np.int32), 64),
     r"outside \[-1, P\)"),
], ids=["im2col-stride-0", "im2col-field-0", "im2col-pad", "im2col-too-big", "col2im-cols",
        "col2im-N", "pool-out-larger", "pool-images", "pool-dout", "pool-out-not-max",
        "fused-conv", "fused-bias", "fused-stride", "relu-pool-first", "relu-pool-position"])
def test_cython_functions_refuse_shapes_that_would_leave_their_arrays(call, words):
    with pytest.raises(ValueError, match=words):
        call()


@pytest.mark.parametrize("args, words", [
    ((np.zeros((1, 1, 4, 4)), 2, 2, 0, 0), "stride must be a positive integer, got 0"),
    ((np.zeros((1, 1, 4, 4)), 2, 0, 0, 1), "field_width must be a positive integer"),
    ((np.zeros((1, 1, 4, 4)), 2, 2, -1, 1), "padding must be a non-negative integer"),
    ((np.zeros((1, 4, 4)), 2, 2, 0, 1), "4-d"),
    ((np.zeros((1, 1, 4, 4), int), 2, 2, 0, 1), "x must hold floats"),
])
def test_numpy_im2col_refuses_bad_arguments(args, words):
    with pytest.raises(ValueError, match=words):
        im2col_indices(*args)


def test_numpy_col2im_refuses_cols_of_another_shape():
    with pytest.raises(ValueError, match=r"shape mismatch: cols .*\(4, 4\), got \(4, 5\)"):
        col2im_indices(np.zeros((4, 5)), (1, 1, 4, 4), 2, 2, 0, 2)
    with pytest.raises(ValueError, match="cols must hold floats"):
        col2im_indices(np.zeros((4, 4), int), (1, 1, 4, 4), 2, 2, 0, 2)
