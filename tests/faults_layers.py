"""Bad inputs and faults of the layers, the fast layers, their compiled loops and the update
rules: each case is tried by tests/test_fault_table.py and listed in tests/FAULTS.md.

Before issue 20 only dout was checked ahead of the compiled loops: a cache mixed from two
calls wrote past the heap, and the NumPy layers broadcast a dout or a gradient of another
shape into a gradient of the wrong size. The crash cases are safe to run in-process now
(tests/test_fast_layers.py also runs the two reported ones in a subprocess).
"""
import numpy as np

import fast_layers
import im2col_cython
import layer_utils
import layers
import optim
from gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,
                            grad_check_sparse, rel_error)
from im2col import col2im_indices, im2col_indices

POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
CONV = {"stride": 1, "pad": 1}
HUGE = 2 ** 31


def _normal(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ crashes

def pool_cache_mixed_from_two_calls(tmp):
    out, _ = fast_layers.max_pool_forward_fast(np.zeros((1, 1, 256, 256)), POOL)
    fast_layers.max_pool_backward_fast(np.ones_like(out), (np.zeros((1, 1, 4, 4)), out, POOL))


def floor_pool_cache_mixed_from_two_calls(tmp):
    out, _ = fast_layers.max_pool_floor_forward(np.zeros((1, 1, 256, 256)), POOL)
    fast_layers.max_pool_floor_backward(np.ones_like(out), (np.zeros((1, 1, 4, 4)), out, POOL))


def _fused(size, seed=0):
    return fast_layers.conv_relu_pool_forward_fast(_normal(2, 3, size, size, seed=seed),
                                                   _normal(4, 3, 3, 3, seed=seed + 1),
                                                   np.zeros(4), CONV, POOL)


def fused_cache_with_first_and_p_of_another_call(tmp):
    (big, big_cache), (_, small_cache) = _fused(16), _fused(4)
    fast_layers.conv_relu_pool_backward_fast(
        np.ones_like(big), (big_cache[0], small_cache[1], big_cache[2]))


def fused_cache_with_first_of_another_call(tmp):
    (big, big_cache), (_, small_cache) = _fused(16), _fused(4)
    fast_layers.conv_relu_pool_backward_fast(
        np.ones_like(big), (big_cache[0], small_cache[1], small_cache[2]))


def fused_cache_with_a_position_past_the_image(tmp):
    out, (first, conv_cache, P) = _fused(8)
    first = first.copy()
    first[1, 3, 0, 0] = P + 1000
    fast_layers.conv_relu_pool_backward_fast(np.ones_like(out), (first, conv_cache, P))


def cython_pool_backward_of_a_larger_out(tmp):
    x, out = np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 8, 8))
    im2col_cython.max_pool_backward_cython(x, out, out, 2, 2, 2)


def cython_col2im_of_too_few_columns(tmp):
    im2col_cython.col2im_cython(np.zeros((9, 4)), 2, 1, 8, 8, 3, 3, 1, 1)


def cython_im2col_of_stride_zero(tmp):
    im2col_cython.im2col_cython(np.zeros((1, 1, 4, 4)), 2, 2, 0, 0)


def cython_relu_pool_backward_of_first_of_another_shape(tmp):
    im2col_cython.relu_pool_backward_cython(np.ones((2, 4, 4, 4)),
                                            np.zeros((1, 4, 4, 4), np.int32), 64)


def cython_bias_relu_pool_of_another_image_size(tmp):
    im2col_cython.bias_relu_pool_forward_cython(np.zeros((4, 2, 16)), np.zeros(4), 8, 8, 2, 2, 2)


# ---------------------------------------------------- silent wrong answers

def relu_backward_of_a_smaller_dout(tmp):
    layers.relu_backward(np.ones((1, 3)), layers.relu_forward(np.ones((4, 3)))[1])


def leaky_relu_backward_of_a_row_dout(tmp):
    layers.leaky_relu_backward(np.ones(3), layers.leaky_relu_forward(np.ones((4, 3)))[1])


def dropout_backward_of_a_smaller_dout(tmp):
    _, cache = layers.dropout_forward(np.ones((4, 3)), {"p": 0.5, "mode": "train", "seed": 0})
    layers.dropout_backward(np.ones((1, 3)), cache)


def dropout_test_mode_backward_of_another_shape(tmp):
    _, cache = layers.dropout_forward(np.ones((4, 3)), {"p": 0.5, "mode": "test"})
    layers.dropout_backward(np.ones((2, 3)), cache)


def affine_backward_of_one_row(tmp):
    _, cache = layers.affine_forward(np.ones((4, 5)), np.ones((5, 3)), np.zeros(3))
    layers.affine_backward(np.ones((1, 3)), cache)


def conv_backward_naive_of_an_oversized_dout(tmp):
    _, cache = layers.conv_forward_naive(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)),
                                         np.zeros(1), {})
    layers.conv_backward_naive(np.ones((1, 1, 2, 2)), cache)


def max_pool_backward_naive_of_another_dout(tmp):
    _, cache = layers.max_pool_forward_naive(_normal(2, 2, 4, 4), POOL)
    layers.max_pool_backward_naive(np.ones((2, 2, 1, 2)), cache)


def batchnorm_backward_of_one_row(tmp):
    _, cache = layers.batchnorm_forward(_normal(4, 3), np.ones(3), np.zeros(3), {"mode": "train"})
    layers.batchnorm_backward(np.ones((1, 3)), cache)


def spatial_batchnorm_backward_of_one_image(tmp):
    _, cache = layers.spatial_batchnorm_forward(_normal(2, 3, 4, 4), np.ones(3), np.zeros(3),
                                                {"mode": "train"})
    layers.spatial_batchnorm_backward(np.ones((1, 3, 4, 4)), cache)


def affine_relu_backward_of_two_calls(tmp):
    _, cache_a = layer_utils.affine_relu_forward(np.ones((4, 5)), np.ones((5, 3)), np.zeros(3))
    _, cache_b = layer_utils.affine_relu_forward(np.ones((2, 5)), np.ones((5, 3)), np.zeros(3))
    layer_utils.affine_relu_backward(np.ones((4, 3)), (cache_b[0], cache_a[1]))


def pool_cache_out_of_another_input(tmp):
    a, b = _normal(2, 3, 8, 8), _normal(2, 3, 8, 8, seed=1)
    out_b, _ = fast_layers.max_pool_forward_fast(b, POOL)
    fast_layers.max_pool_backward_fast(np.ones_like(out_b), (a, out_b, POOL))


def pool_cache_out_below_the_maximum(tmp):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = 5.0
    fast_layers.max_pool_backward_fast(np.ones((1, 1, 2, 2)), (x, np.zeros((1, 1, 2, 2)), POOL))


def pool_cache_out_of_another_input_numpy_path(tmp):
    saved = fast_layers._ext, fast_layers._warned
    fast_layers._ext, fast_layers._warned = None, True
    try:
        pool = {"pool_height": 3, "pool_width": 2, "stride": 1}
        out_b, _ = fast_layers.max_pool_forward_fast(_normal(2, 3, 8, 8, seed=1), pool)
        fast_layers.max_pool_backward_fast(np.ones_like(out_b), (_normal(2, 3, 8, 8), out_b, pool))
    finally:
        fast_layers._ext, fast_layers._warned = saved


def pool_cache_out_of_another_dtype(tmp):
    x = _normal(2, 3, 8, 8)
    out, _ = fast_layers.max_pool_forward_fast(x, POOL)
    fast_layers.max_pool_backward_fast(np.ones_like(out), (x, out.astype(np.float32), POOL))


def conv_naive_cache_of_another_image_size(tmp):
    out, (x, theta, param) = layers.conv_forward_naive(_normal(2, 3, 8, 8), _normal(4, 3, 3, 3),
                                                       np.zeros(4), CONV)
    layers.conv_backward_naive(np.ones_like(out), (_normal(2, 3, 6, 6), theta, param))


def batchnorm_cache_of_another_width(tmp):
    out, (xhat, inv_std, gamma, mode, shape) = layers.batchnorm_forward(
        _normal(4, 3), np.ones(3), np.zeros(3), {"mode": "train"})
    layers.batchnorm_backward(np.ones_like(out), (xhat, inv_std, np.ones(5), mode, shape))


def fused_cache_of_float16_images(tmp):
    out, (first, (x, theta, param), P) = _fused(8)
    fast_layers.conv_relu_pool_backward_fast(
        np.ones_like(out), (first, (x.astype(np.float16), theta, param), P))


def affine_bn_relu_backward_of_an_affine_relu_cache(tmp):
    out, cache = layer_utils.affine_relu_forward(np.ones((4, 5)), np.ones((5, 3)), np.zeros(3))
    layer_utils.affine_bn_relu_backward(np.ones_like(out), cache)


def sgd_of_a_gradient_of_another_shape(tmp):
    optim.sgd(np.zeros((3, 4)), np.ones(4))


def adam_of_a_gradient_of_another_shape(tmp):
    optim.adam(np.zeros((3, 4)), np.ones((1, 4)))


def momentum_with_a_velocity_of_another_shape(tmp):
    optim.sgd_momentum(np.zeros((3, 4)), np.zeros((3, 4)), {"velocity": np.ones(4)})


def sgd_of_an_integer_gradient(tmp):
    optim.sgd(np.zeros(3), np.ones(3, dtype=int))


def max_pool_of_integers(tmp):
    layers.max_pool_forward_naive(np.arange(16).reshape(1, 1, 4, 4), POOL)


def fast_max_pool_of_integers(tmp):
    fast_layers.max_pool_forward_fast(np.arange(16).reshape(1, 1, 4, 4), POOL)


def softmax_of_integer_scores_with_smoothing(tmp):
    layers.softmax_loss(np.array([[3, 0, 0], [0, 2, 0]]), np.array([0, 1]), smoothing=0.2)


def svm_of_integer_scores(tmp):
    layers.svm_loss(np.array([[3, 0, 0], [0, 2, 0]]), np.array([0, 1]))


def relu_of_complex(tmp):
    layers.relu_forward(np.array([1 - 5j, -1 + 5j]))


def relu_of_bools(tmp):
    layers.relu_forward(np.array([True, False]))


def relu_of_objects(tmp):
    layers.relu_forward(np.array([1.0, -2.0], dtype=object))


def affine_of_integer_images(tmp):
    layers.affine_forward(np.ones((2, 4), dtype=np.uint8), np.ones((4, 3)), np.zeros(3))


def affine_of_integer_weights(tmp):
    layers.affine_forward(np.ones((2, 4)), np.ones((4, 3), dtype=int), np.zeros(3))


def conv_of_integer_biases(tmp):
    layers.conv_forward_naive(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), np.zeros(1, int), {})


def batchnorm_of_an_empty_batch(tmp):
    layers.batchnorm_forward(np.zeros((0, 3)), np.ones(3), np.zeros(3), {"mode": "train"})


def spatial_batchnorm_of_empty_images(tmp):
    layers.spatial_batchnorm_forward(np.zeros((2, 3, 0, 4)), np.ones(3), np.zeros(3),
                                     {"mode": "test"})


def batchnorm_of_one_example(tmp):
    layers.batchnorm_forward(np.ones((1, 3)), np.ones(3), np.zeros(3), {"mode": "train"})


def spatial_batchnorm_of_one_pixel(tmp):
    layers.spatial_batchnorm_forward(np.ones((1, 3, 1, 1)), np.ones(3), np.zeros(3),
                                     {"mode": "train"})


def batchnorm_of_70000_float16_rows(tmp):
    x = (3 + _normal(70000, 2)).astype(np.float16)
    param = {"mode": "train"}
    out, cache = layers.batchnorm_forward(x, np.ones(2, np.float16), np.zeros(2, np.float16),
                                          param)
    dx, _, _ = layers.batchnorm_backward(_normal(70000, 2, dtype=np.float16), cache)
    std = out.astype(np.float64).std(axis=0)
    return (f"output {out.dtype}, finite: {bool(np.isfinite(out).all())}, std per feature "
            f"{np.round(std, 3).tolist()}; running mean {np.round(param['running_mean'], 2)}; "
            f"dx {dx.dtype} finite: {bool(np.isfinite(dx).all())}")


def batchnorm_of_negative_eps(tmp):
    layers.batchnorm_forward(_normal(4, 3), np.ones(3), np.zeros(3),
                             {"mode": "train", "eps": -1e-5})


def batchnorm_of_zero_eps_on_a_constant_feature(tmp):
    layers.batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), {"mode": "train", "eps": 0})


def batchnorm_of_a_negative_running_variance(tmp):
    layers.batchnorm_forward(_normal(4, 3), np.ones(3), np.zeros(3),
                             {"mode": "test", "running_var": np.array([1.0, -0.5, 1.0])})


def batchnorm_of_running_statistics_of_another_width(tmp):
    layers.batchnorm_forward(_normal(4, 3), np.ones(3), np.zeros(3),
                             {"mode": "test", "running_mean": np.zeros(5)})


def batchnorm_of_integer_running_statistics(tmp):
    layers.batchnorm_forward(_normal(4, 3), np.ones(3), np.zeros(3),
                             {"mode": "test", "running_var": np.ones(3, dtype=int)})


def numerical_gradient_of_a_df_of_another_shape(tmp):
    eval_numerical_gradient_array(lambda v: 2 * v, np.ones((3, 2)), np.ones(2))


# ---------------------------------------------------------- obscure errors

def _update(rule, **config):
    return lambda tmp: getattr(optim, rule)(np.ones(3), np.ones(3), config)


def conv_fast_of_stride_2_31(tmp):
    fast_layers.conv_forward_fast(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1),
                                  {"stride": HUGE, "pad": 0})


def conv_fast_backward_of_stride_2_31(tmp):
    x, theta = np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3))
    out, cache = layers.conv_forward_naive(x, theta, np.zeros(1), {"stride": HUGE, "pad": 0})
    fast_layers.conv_backward_fast(np.ones_like(out), cache)


def max_pool_fast_of_stride_2_31(tmp):
    fast_layers.max_pool_forward_fast(np.zeros((1, 1, 2, 2)),
                                      {"pool_height": 2, "pool_width": 2, "stride": HUGE})


def max_pool_floor_of_stride_2_31(tmp):
    pool = {"pool_height": 2, "pool_width": 2, "stride": HUGE}
    out, cache = fast_layers.max_pool_floor_forward(np.zeros((1, 1, 3, 3)), pool)
    fast_layers.max_pool_floor_backward(np.ones_like(out), cache)


def fused_of_pool_stride_2_31(tmp):
    fast_layers.conv_relu_pool_forward_fast(
        np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), np.zeros(1), CONV,
        {"pool_height": 4, "pool_width": 4, "stride": HUGE})


def im2col_of_stride_zero(tmp):
    im2col_indices(np.zeros((1, 1, 4, 4)), 2, 2, 0, 0)


def col2im_of_cols_of_another_shape(tmp):
    col2im_indices(np.zeros((4, 5)), (1, 1, 4, 4), 2, 2, 0, 2)


def leaky_relu_of_a_string_slope(tmp):
    layers.leaky_relu_forward(np.ones(3), "0.1")


def batchnorm_of_a_string_momentum(tmp):
    layers.batchnorm_forward(_normal(4, 3), np.ones(3), np.zeros(3),
                             {"mode": "train", "momentum": "0.9"})


def softmax_of_smoothing_none(tmp):
    layers.softmax_loss(_normal(2, 3), np.array([0, 1]), smoothing=None)


def sparse_check_of_a_gradient_of_another_shape(tmp):
    grad_check_sparse(lambda v: float(np.sum(v)), np.ones((3, 4)), np.ones(4), verbose=False)


# ------------------------------------------ cases from the first fault table

def _images(seed=0, shape=(2, 3, 8, 8)):
    return np.random.default_rng(seed).standard_normal(shape)


def _fused_pair(x, theta):
    return fast_layers.conv_relu_pool_forward_fast(x, theta, np.zeros(len(theta)), CONV, POOL)


def _unfused(x, theta):
    conv, _ = fast_layers.conv_forward_fast(x, theta, np.zeros(len(theta)), CONV)
    return fast_layers.max_pool_forward_fast(layers.relu_forward(conv)[0], POOL)[0]


def nan_pixel_in_fused_window(tmp):
    x, theta = _images(), _images(1, (4, 3, 3, 3))
    x[0, 1, 3, 4] = np.nan
    fused, unfused = _fused_pair(x, theta)[0], _unfused(x, theta)
    same = np.array_equal(np.isnan(fused), np.isnan(unfused))
    return (f"{int(np.isnan(fused).sum())} NaN outputs, "
            f"{'the same' if same else 'NOT the same'} as the unfused layers")


def nan_weights_in_fused_path(tmp):
    x, theta = _images(), _images(1, (4, 3, 3, 3))
    theta[2, 0, 1, 1] = np.nan
    out, cache = _fused_pair(x, theta)
    dout = np.ones_like(out)
    _, dtheta, _ = fast_layers.conv_relu_pool_backward_fast(dout, cache)
    conv, conv_cache = fast_layers.conv_forward_fast(x, theta, np.zeros(4), CONV)
    relu, relu_cache = layers.relu_forward(conv)
    _, pool_cache = fast_layers.max_pool_forward_fast(relu, POOL)
    d_relu = layers.relu_backward(fast_layers.max_pool_backward_fast(dout, pool_cache), relu_cache)
    _, dtheta_unfused, _ = fast_layers.conv_backward_fast(d_relu, conv_cache)
    same = np.array_equal(out, _unfused(x, theta), equal_nan=True) and np.allclose(
        dtheta, dtheta_unfused, equal_nan=True)
    return (f"output NaN in {int(np.isnan(out[:, 2]).mean() * 100)}% of filter 2's positions; "
            f"output and dtheta {'the same' if same else 'NOT the same'} as the unfused layers")


def nan_window_in_fast_pool_backward(tmp):
    x = _images()
    x[0, 0, 2, 3] = np.nan
    out, cache = fast_layers.max_pool_forward_fast(x, POOL)
    fast = fast_layers.max_pool_backward_fast(np.ones_like(out), cache)
    naive = layers.max_pool_backward_naive(np.ones_like(out),
                                           layers.max_pool_forward_naive(x, POOL)[1])
    return (f"gradient routed to the NaN: {fast[0, 0, 2, 3] == 1.0}; "
            f"same as the naive layer: {np.array_equal(fast, naive)}")


def _fused_backward_of(reshape):
    def trial(tmp):
        out, cache = _fused_pair(_images(), _images(1, (4, 3, 3, 3)))
        fast_layers.conv_relu_pool_backward_fast(reshape(np.ones(out.shape)), cache)
    return trial


def conv_backward_int_dout(tmp):
    out, cache = fast_layers.conv_forward_fast(_images(), _images(1, (4, 3, 3, 3)), np.zeros(4),
                                               CONV)
    fast_layers.conv_backward_fast(np.ones(out.shape, dtype=int), cache)


def pool_backward_wrong_dout(tmp):
    out, cache = fast_layers.max_pool_forward_fast(_images(), POOL)
    fast_layers.max_pool_backward_fast(np.ones(out.shape)[:1], cache)


def _call(function, *args):
    return lambda tmp: function(*args)


INTS = np.arange(16).reshape(1, 1, 4, 4)
THETA = np.ones((1, 1, 3, 3))


SILENT, CRASH, OBSCURE = "silent wrong answer", "crash", "obscure error"
CASES = [  # (class, what is tried, trial, words the outcome must contain)
    (CRASH, "max_pool_backward_fast given out of a 256x256 pool and x of 4x4",
     pool_cache_mixed_from_two_calls, r"shape mismatch: cache's out .*\(1, 1, 2, 2\)"),
    (CRASH, "max_pool_floor_backward given out of a 256x256 pool and x of 4x4",
     floor_pool_cache_mixed_from_two_calls, r"shape mismatch: cache's out"),
    (OBSCURE, "conv_relu_pool_backward_fast, first and P of a 16x16 call, conv cache of 4x4",
     fused_cache_with_first_and_p_of_another_call, r"cache's P must be H_out \* W_out = 16"),
    (CRASH, "conv_relu_pool_backward_fast, first of a 16x16 call, conv cache and P of 4x4",
     fused_cache_with_first_of_another_call, r"cache's first must be \(m, F, H_pool, W_pool\)"),
    (SILENT, "conv_relu_pool_backward_fast, a position in first past the image (wrote past "
             "the array)",
     fused_cache_with_a_position_past_the_image, r"1 position\(s\) outside \[-1, P\)"),
    (SILENT, "max_pool_backward_cython, out larger than x's pool (read and wrote past x)",
     cython_pool_backward_of_a_larger_out, r"is not a 2x2 pool of stride 2"),
    (SILENT, "col2im_cython given too few columns (read past cols)",
     cython_col2im_of_too_few_columns,
     r"shape mismatch: cols must have shape \(9, 128\)"),
    (CRASH, "im2col_cython with stride 0 (integer division by zero)",
     cython_im2col_of_stride_zero, r"must be positive"),
    (CRASH, "relu_pool_backward_cython, first of another shape than dout",
     cython_relu_pool_backward_of_first_of_another_shape, r"shape mismatch: first"),
    (SILENT, "bias_relu_pool_forward_cython, conv of another image size (read past conv)",
     cython_bias_relu_pool_of_another_image_size, r"shape mismatch: conv"),
    (SILENT, "relu_backward of a (1, 3) dout for a (4, 3) input",
     relu_backward_of_a_smaller_dout, r"shape mismatch: dout must have shape \(4, 3\)"),
    (SILENT, "leaky_relu_backward of a (3,) dout for a (4, 3) input",
     leaky_relu_backward_of_a_row_dout, r"shape mismatch: dout"),
    (SILENT, "dropout_backward (train) of a (1, 3) dout for (4, 3)",
     dropout_backward_of_a_smaller_dout, r"shape mismatch: dout"),
    (SILENT, "dropout_backward (test) of a dout of another shape",
     dropout_test_mode_backward_of_another_shape, r"shape mismatch: dout"),
    (OBSCURE, "affine_backward of a (1, h) dout", affine_backward_of_one_row,
     r"shape mismatch: dout must have shape \(4, 3\)"),
    (SILENT, "conv_backward_naive of an oversized dout (summed into dtheta0)",
     conv_backward_naive_of_an_oversized_dout, r"shape mismatch: dout .*\(1, 1, 1, 1\)"),
    (OBSCURE, "max_pool_backward_naive of a dout of another shape (IndexError)",
     max_pool_backward_naive_of_another_dout, r"shape mismatch: dout"),
    (SILENT, "batchnorm_backward of a (1, D) dout", batchnorm_backward_of_one_row,
     r"shape mismatch: dout"),
    (SILENT, "spatial_batchnorm_backward of one image's dout for a batch of 2",
     spatial_batchnorm_backward_of_one_image, r"shape mismatch: dout"),
    (OBSCURE, "affine_relu_backward of caches from two calls", affine_relu_backward_of_two_calls,
     r"shape mismatch: dout must have shape \(2, 3\)"),
    (SILENT, "max_pool_backward_fast, out of the same shape from another input",
     pool_cache_out_of_another_input, r"is not the max pool of x"),
    (SILENT, "max_pool_backward_fast, out equal to an entry below the window's maximum",
     pool_cache_out_below_the_maximum, r"the maximum of 1 window\(s\) is not their out"),
    (SILENT, "max_pool_backward_fast (NumPy path), out from another input",
     pool_cache_out_of_another_input_numpy_path, r"is not the max pool of cache's x"),
    (OBSCURE, "max_pool_backward_fast, out cast to float32 for float64 x",
     pool_cache_out_of_another_dtype, r"cache's out must have cache's x's dtype float64"),
    (SILENT, "conv_backward_naive, cache's x of another image size",
     conv_naive_cache_of_another_image_size, r"shape mismatch: dout"),
    (OBSCURE, "batchnorm_backward, cache's gamma of another width",
     batchnorm_cache_of_another_width, r"shape mismatch: cache's gamma"),
    (OBSCURE, "conv_relu_pool_backward_fast, cache's images cast to float16",
     fused_cache_of_float16_images, r"float32 or float64 x"),
    (OBSCURE, "affine_bn_relu_backward of affine_relu's cache (not enough values to unpack)",
     affine_bn_relu_backward_of_an_affine_relu_cache,
     r"cache must be the tuple \(affine_cache, bn_cache, relu_cache\) that "
     r"affine_bn_relu_forward returns, got tuple of 2"),
    (SILENT, "optim.sgd(np.zeros((3, 4)), np.ones(4))", sgd_of_a_gradient_of_another_shape,
     r"shape mismatch: dtheta .*\(3, 4\), got \(4,\)"),
    (SILENT, "optim.adam of a (1, 4) gradient for a (3, 4) parameter",
     adam_of_a_gradient_of_another_shape, r"shape mismatch: dtheta"),
    (SILENT, "sgd_momentum resumed with a velocity of another shape",
     momentum_with_a_velocity_of_another_shape, r"shape mismatch: optim_config\['velocity'\]"),
    (SILENT, "optim.sgd of an integer gradient", sgd_of_an_integer_gradient,
     r"dtheta must hold floats"),
    (SILENT, "max_pool_forward_naive of integers (backward truncated 0.5 to 0)",
     max_pool_of_integers, r"x must hold floats"),
    (SILENT, "max_pool_forward_fast of integers", fast_max_pool_of_integers,
     r"x must hold floats"),
    (SILENT, "softmax_loss of integer scores with smoothing (off by 0.16)",
     softmax_of_integer_scores_with_smoothing, r"scores\) must hold floats"),
    (SILENT, "svm_loss of integer scores", svm_of_integer_scores, r"scores\) must hold floats"),
    (SILENT, "relu_forward of complex numbers (compared lexicographically)", relu_of_complex,
     r"must hold floats .*complex128"),
    (SILENT, "relu_forward of bools", relu_of_bools, r"must hold floats .*bool"),
    (SILENT, "relu_forward of an object array", relu_of_objects, r"must hold floats .*object"),
    (SILENT, "affine_forward of uint8 images", affine_of_integer_images, r"x must hold floats"),
    (SILENT, "affine_forward of integer weights", affine_of_integer_weights,
     r"theta must hold floats"),
    (SILENT, "conv_forward_naive of integer biases", conv_of_integer_biases,
     r"theta0 must hold floats"),
    (SILENT, "batchnorm_forward of an empty batch (running statistics became NaN)",
     batchnorm_of_an_empty_batch, r"at least one example"),
    (SILENT, "spatial_batchnorm_forward of 0-pixel-high images", spatial_batchnorm_of_empty_images,
     r"at least one example"),
    (SILENT, "batchnorm_forward of one training example (zero output, zero gradient)",
     batchnorm_of_one_example, r"at least 2 values per statistic \(m >= 2\)"),
    (SILENT, "spatial_batchnorm_forward of one 1x1 training image",
     spatial_batchnorm_of_one_pixel, r"\(m \* H \* W >= 2\)"),
    (SILENT, "batchnorm of 70,000 float16 rows (the count overflowed float16)",
     batchnorm_of_70000_float16_rows,
     r"output float16, finite: True, std per feature \[1\.0, 1\.0\].*dx float16 finite: True"),
    (SILENT, "batchnorm with eps = -1e-5 (NaN)", batchnorm_of_negative_eps,
     r"bn_param\['eps'\] must be a finite number > 0, got -1e-05"),
    (SILENT, "batchnorm with eps = 0 on a constant feature (NaN)",
     batchnorm_of_zero_eps_on_a_constant_feature, r"bn_param\['eps'\] must be a finite number > 0"),
    (SILENT, "batchnorm (test) with a negative running variance (NaN)",
     batchnorm_of_a_negative_running_variance, r"running_var'\] must be >= 0 .*-0\.5"),
    (OBSCURE, "batchnorm (test) with running_mean of another width",
     batchnorm_of_running_statistics_of_another_width,
     r"shape mismatch: bn_param\['running_mean'\]"),
    (SILENT, "batchnorm (test) with an integer running_var",
     batchnorm_of_integer_running_statistics, r"running_var'\] must hold floats"),
    (SILENT, "eval_numerical_gradient_array of a df of another shape (broadcast)",
     numerical_gradient_of_a_df_of_another_shape, r"shape mismatch: df"),
    (OBSCURE, "Adam with beta1 = 1.0 (was 'parameters hold NaN')", _update("adam", beta1=1.0),
     r"optim_config\['beta1'\] must be a number in \[0, 1\), got 1\.0"),
    (OBSCURE, "Adam with beta2 = 1.5", _update("adam", beta2=1.5),
     r"optim_config\['beta2'\] must be a number in \[0, 1\)"),
    (OBSCURE, "Adam with beta1 = -0.1", _update("adam", beta1=-0.1),
     r"optim_config\['beta1'\] must be a number in \[0, 1\)"),
    (OBSCURE, "Adam with epsilon = 0", _update("adam", epsilon=0.0),
     r"optim_config\['epsilon'\] must be a finite number > 0"),
    (OBSCURE, "Adam with t = -1", _update("adam", t=-1),
     r"optim_config\['t'\] must be a non-negative integer"),
    (OBSCURE, "sgd_momentum with momentum = 1.0", _update("sgd_momentum", momentum=1.0),
     r"optim_config\['momentum'\] must be a number in \[0, 1\)"),
    (OBSCURE, "sgd_nesterov with weight_decay = -1", _update("sgd_nesterov", weight_decay=-1),
     r"optim_config\['weight_decay'\] must be a finite number >= 0"),
    (OBSCURE, "rmsprop with decay_rate = 1.0", _update("rmsprop", decay_rate=1.0),
     r"optim_config\['decay_rate'\] must be a number in \[0, 1\)"),
    (OBSCURE, "rmsprop with epsilon = -1e-8", _update("rmsprop", epsilon=-1e-8),
     r"optim_config\['epsilon'\] must be a finite number > 0"),
    (OBSCURE, "adagrad with epsilon = 0", _update("adagrad", epsilon=0),
     r"optim_config\['epsilon'\] must be a finite number > 0"),
    (OBSCURE, "adadelta with rho = 1", _update("adadelta", rho=1),
     r"optim_config\['rho'\] must be a number in \[0, 1\)"),
    (OBSCURE, "sgd with learning_rate '0.1' (a string)", _update("sgd", learning_rate="0.1"),
     r"learning_rate must be non-negative \(a finite number\), got '0\.1'"),
    (OBSCURE, "conv_forward_fast with stride 2**31 (OverflowError)", conv_fast_of_stride_2_31,
     r"conv_param\['stride'\]=2147483648 is too large for the compiled loops"),
    (OBSCURE, "conv_backward_fast of a naive cache with stride 2**31",
     conv_fast_backward_of_stride_2_31, r"too large for the compiled loops"),
    (OBSCURE, "max_pool_forward_fast with stride 2**31", max_pool_fast_of_stride_2_31,
     r"pool_param\['stride'\]=2147483648 is too large"),
    (OBSCURE, "max_pool_floor_forward with stride 2**31", max_pool_floor_of_stride_2_31,
     r"pool_param\['stride'\]=2147483648 is too large"),
    (OBSCURE, "conv_relu_pool_forward_fast with pool stride 2**31", fused_of_pool_stride_2_31,
     r"pool_param\['stride'\]=2147483648 is too large"),
    (OBSCURE, "im2col_indices with stride 0 (ZeroDivisionError)", im2col_of_stride_zero,
     r"stride must be a positive integer, got 0"),
    (OBSCURE, "col2im_indices of cols of another shape", col2im_of_cols_of_another_shape,
     r"shape mismatch: cols .*\(4, 4\), got \(4, 5\)"),
    (OBSCURE, "leaky_relu_forward with slope '0.1' (a string)", leaky_relu_of_a_string_slope,
     r"alpha \(the negative slope\) must be a number in \[0, 1\)"),
    (OBSCURE, "batchnorm with momentum '0.9' (a string)", batchnorm_of_a_string_momentum,
     r"bn_param\['momentum'\] must be a number in \[0, 1\]"),
    (OBSCURE, "softmax_loss with smoothing=None", softmax_of_smoothing_none,
     r"smoothing must be a number in \[0, 1\), got None"),
    (OBSCURE, "grad_check_sparse of a gradient of another shape",
     sparse_check_of_a_gradient_of_another_shape, r"shape mismatch: analytic_grad"),
    (SILENT, "one NaN pixel in a fused conv-ReLU-pool window", nan_pixel_in_fused_window,
     "the same as the unfused"),
    (SILENT, "a NaN weight in the fused conv-ReLU-pool", nan_weights_in_fused_path,
     "100% of filter 2's positions; output and dtheta the same as the unfused"),
    (SILENT, "fast max-pool backward of a window holding NaN", nan_window_in_fast_pool_backward,
     "NaN: True; same as the naive layer: True"),
    (SILENT, "fused backward, dout larger than the output",
     _fused_backward_of(lambda d: np.ones((d.shape[0] + 1,) + d.shape[1:])), "shape mismatch"),
    (SILENT, "fused backward, dout smaller than the output",
     _fused_backward_of(lambda d: d[:, :, :-1]), "shape mismatch"),
    (SILENT, "fused backward, dout transposed",
     _fused_backward_of(lambda d: d.transpose(0, 1, 3, 2)[:, :3]), "shape mismatch"),
    (SILENT, "fast conv backward, integer dout", conv_backward_int_dout, "float"),
    (SILENT, "fast max-pool backward, dout of another shape", pool_backward_wrong_dout,
     "shape mismatch"),
    (SILENT, "conv_param={'padding': 1}",
     _call(fast_layers.conv_forward_fast, _images(), _images(1, (4, 3, 3, 3)), np.zeros(4),
           {"padding": 1}), "'padding'"),
    (SILENT, "pool_param={'pool_size': 4}",
     _call(fast_layers.max_pool_forward_fast, _images(), {"pool_size": 4}), "'pool_size'"),
    (SILENT, "dropout_param={'prob': 0.5, ...}",
     _call(layers.dropout_forward, _images(), {"prob": 0.5, "mode": "train"}), "'prob'"),
    (SILENT, "bn_param={'mom': 0.9, ...}",
     _call(layers.batchnorm_forward, np.ones((4, 3)), np.ones(3), np.zeros(3),
           {"mode": "train", "mom": 0.9}), "'mom'"),
    (SILENT, "leaky ReLU of integers", _call(layers.leaky_relu_forward, np.arange(-3, 3)),
     "x must hold floats"),
    (SILENT, "dropout of integers",
     _call(layers.dropout_forward, np.arange(8), {"p": 0.5, "mode": "train"}),
     "x must hold floats"),
    (SILENT, "naive conv of integer images",
     _call(layers.conv_forward_naive, INTS, THETA, np.zeros(1), {"pad": 1}), "x must hold floats"),
    (SILENT, "fast conv of integer images",
     _call(fast_layers.conv_forward_fast, INTS, THETA, np.zeros(1), {"pad": 1}),
     "x must hold floats"),
    (SILENT, "fast conv with integer weights",
     _call(fast_layers.conv_forward_fast, _images(), np.ones((4, 3, 3, 3), dtype=int),
           np.zeros(4), CONV), "theta must hold floats"),
    (SILENT, "rel_error of shapes (3,) and (1,)", _call(rel_error, np.ones(3), np.ones(1)),
     "shape"),
    (SILENT, "eval_numerical_gradient at an integer array",
     _call(eval_numerical_gradient, lambda v: float(np.sum(v ** 2)), np.arange(3)), "float"),
    (OBSCURE, "softmax loss of an empty batch",
     _call(layers.softmax_loss, np.zeros((0, 10)), np.zeros(0, dtype=int)),
     "at least one example"),
    (OBSCURE, "SVM loss of an empty batch",
     _call(layers.svm_loss, np.zeros((0, 3)), np.zeros(0, dtype=int)), "at least one example"),
]
