"""Bad inputs and faults of the NHWC engine: each case is tried by tests/test_fault_table.py and listed in tests/FAULTS.md."""
import numpy as np

import fast_nhwc
from fast_nhwc import (conv_backward_nhwc, conv_forward_nhwc, max_pool_floor_backward_nhwc,
                       max_pool_floor_forward_nhwc, pool_bn_act_backward, pool_bn_act_forward)

POOL2 = {"pool_height": 2, "pool_width": 2, "stride": 2}
SAME = {"stride": 1, "pad": 1}


def _x(shape=(2, 6, 6, 3), seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _theta(F=4, C=3):
    return np.random.default_rng(1).standard_normal((F, C, 3, 3))


def _bn(x, pool=POOL2, **bn):
    C = x.shape[3]
    return pool_bn_act_forward(x, np.ones(C), np.zeros(C), {"mode": "train", **bn}, pool)


def strided_images(tmp):
    conv_forward_nhwc(_x()[:, ::2], _theta(), None, SAME)


def nchw_images(tmp):
    conv_forward_nhwc(_x((2, 3, 6, 6)), _theta(), None, SAME)


def integer_images(tmp):
    conv_forward_nhwc(_x().astype(np.int64), _theta(), None, SAME)


def half_images(tmp):
    conv_forward_nhwc(_x().astype(np.float16), _theta(), None, SAME)


def empty_batch(tmp):
    conv_forward_nhwc(np.zeros((0, 6, 6, 3)), _theta(), None, SAME)


def bias_of_another_layer(tmp):
    conv_forward_nhwc(_x(), _theta(), np.zeros(5), SAME)


def conv_param_typo(tmp):
    conv_forward_nhwc(_x(), _theta(), None, {"padding": 1})


def conv_dout_of_another_layer(tmp):
    out, cache = conv_forward_nhwc(_x(), _theta(), None, SAME)
    conv_backward_nhwc(np.ones(out.shape[:3] + (5,)), cache)


def conv_cache_truncated(tmp):
    out, cache = conv_forward_nhwc(_x(), _theta(), None, SAME)
    conv_backward_nhwc(out, cache[:2])


def pool_cache_from_another_call(tmp):
    out, cache = max_pool_floor_forward_nhwc(_x(), POOL2)
    _, other = max_pool_floor_forward_nhwc(_x((2, 4, 4, 3)), POOL2)
    max_pool_floor_backward_nhwc(out, (other[0],) + cache[1:])


def pool_cache_with_another_pool_param(tmp):
    out, cache = max_pool_floor_forward_nhwc(_x(), POOL2)
    max_pool_floor_backward_nhwc(out, cache[:3] + ({"pool_height": 3, "pool_width": 3, "stride": 3},))


def pool_cache_corrupt_argmax(tmp):
    out, (argmax, *rest) = max_pool_floor_forward_nhwc(_x(), POOL2)
    argmax = argmax.copy()
    argmax[1, 2, 2, 0] = 77
    max_pool_floor_backward_nhwc(out, (argmax, *rest))


def pool_window_too_large(tmp):
    max_pool_floor_forward_nhwc(_x((1, 17, 17, 2)), {"pool_height": 16, "pool_width": 16, "stride": 1})


def bn_dout_too_large(tmp):
    out, cache = _bn(_x())
    pool_bn_act_backward(np.ones((3,) + out.shape[1:]), cache)


def bn_argmax_from_smaller_input(tmp):
    out, cache = _bn(_x())
    _, other = _bn(_x((2, 4, 4, 3)))
    pool_bn_act_backward(out, (cache[0], other[1]) + cache[2:])


def bn_statistics_of_another_layer(tmp):
    out, cache = _bn(_x())
    _, other = _bn(_x((2, 6, 6, 5)))
    pool_bn_act_backward(out, cache[:5] + (other[5],) + cache[6:])


def bn_x_shape_edited(tmp):
    out, cache = _bn(_x())
    pool_bn_act_backward(out, cache[:2] + ((2, 9, 9, 3),) + cache[3:])


def bn_cache_of_the_conv(tmp):
    out, cache = conv_forward_nhwc(_x(), _theta(), None, SAME)
    pool_bn_act_backward(out, cache)


def bn_param_typo(tmp):
    _bn(_x(), mom=0.9)


def bn_running_mean_broadcast(tmp):
    _bn(_x(), running_mean=np.zeros(1))


def unknown_activation(tmp):
    x = _x()
    pool_bn_act_forward(x, np.ones(3), np.zeros(3), {"mode": "train"}, POOL2, "Relu")


def nan_in_a_pool_window(tmp):
    x = _x()
    x[0, 1, 1, 2] = np.nan
    out, cache = max_pool_floor_forward_nhwc(x, POOL2)
    dx = max_pool_floor_backward_nhwc(np.ones(out.shape), cache)
    return (f"NaN propagates to the pool output: {bool(np.isnan(out[0, 0, 0, 2]))}; "
            f"gradient routed to the NaN: {dx[0, 1, 1, 2] == 1}")


def float32_against_float64(tmp):
    x, theta = _x((4, 7, 7, 64), 2), _theta(64, 64) / 24
    out64, _ = conv_forward_nhwc(x, theta, None, SAME)
    out32, cache = conv_forward_nhwc(x.astype(np.float32), theta.astype(np.float32), None, SAME)
    rms = np.sqrt(np.mean((out32 - out64) ** 2) / np.mean(out64 ** 2))
    return f"float32 conv (64 -> 64 channels, 7x7, {cache[3]}) against float64: rms relative error {rms:.1e}"


def float32_direct_against_float64(tmp):
    fast_nhwc.WINOGRAD = False
    try:
        return float32_against_float64(tmp)
    finally:
        fast_nhwc.WINOGRAD = True


def _winograd_conv():
    """(out, cache) of a conv that runs by Winograd (64 channels, 3x3, stride 1, pad 1)."""
    out, cache = conv_forward_nhwc(_x((2, 7, 7, 64)), _theta(64, 64), None, SAME)
    assert cache[3] == "winograd"
    return out, cache


def winograd_cache_unknown_path(tmp):
    out, cache = _winograd_conv()
    conv_backward_nhwc(out, cache[:3] + ("fft",))


def winograd_cache_with_1x1_filters(tmp):
    out, (x, theta, param, path) = _winograd_conv()
    conv_backward_nhwc(out, (x, _theta(64, 64)[:, :, :1, :1].copy(), {"stride": 1, "pad": 0}, path))


def winograd_cache_with_smaller_x(tmp):
    out, (x, theta, param, path) = _winograd_conv()
    conv_backward_nhwc(out, (x[:, :5, :5].copy(), theta, param, path))


def winograd_cache_with_strided_x(tmp):
    out, (x, theta, param, path) = _winograd_conv()
    conv_backward_nhwc(out, (np.asfortranarray(x), theta, param, path))


def winograd_cache_with_filters_of_another_layer(tmp):
    out, (x, theta, param, path) = _winograd_conv()
    conv_backward_nhwc(out, (x, _theta(64, 32), param, path))


CASES = [  # (class, what is tried, trial, words the outcome must contain)
    ("crash", "NHWC conv of a strided (non-contiguous) view", strided_images, "C-contiguous"),
    ("silent wrong answer", "NHWC conv given NCHW images", nchw_images, "channel mismatch"),
    ("silent wrong answer", "NHWC conv of integer images", integer_images, "must hold floats"),
    ("obscure error", "NHWC conv of float16 images", half_images, "float32 or float64"),
    ("crash", "NHWC conv of an empty batch", empty_batch, "m, C >= 1"),
    ("silent wrong answer", "NHWC conv with a bias of another layer", bias_of_another_layer, "theta0 must have shape"),
    ("silent wrong answer", "NHWC conv_param={'padding': 1}", conv_param_typo, "unknown conv_param"),
    ("crash", "NHWC conv backward, dout of another layer", conv_dout_of_another_layer, "shape mismatch"),
    ("obscure error", "NHWC conv backward, truncated cache", conv_cache_truncated, "4-tuple"),
    ("crash", "NHWC Winograd conv backward, cache with an unknown path", winograd_cache_unknown_path,
     "path must be 'direct' or 'winograd'"),
    ("crash", "NHWC Winograd conv backward, cache with 1x1 filters", winograd_cache_with_1x1_filters,
     "needs 3x3 filters"),
    ("crash", "NHWC Winograd conv backward, cache with a smaller x", winograd_cache_with_smaller_x,
     "shape mismatch"),
    ("crash", "NHWC Winograd conv backward, cache with a Fortran-ordered x", winograd_cache_with_strided_x,
     "C-contiguous"),
    ("crash", "NHWC Winograd conv backward, filters of another layer", winograd_cache_with_filters_of_another_layer,
     "channel mismatch"),
    ("crash", "NHWC max-pool backward with a cache from another call", pool_cache_from_another_call, "shape mismatch"),
    ("crash", "NHWC max-pool backward, cache with another pool_param", pool_cache_with_another_pool_param,
     "shape mismatch"),
    ("crash", "NHWC max-pool backward, argmax outside its window", pool_cache_corrupt_argmax, "corrupt cache"),
    ("crash", "NHWC max pool of a 16x16 window (argmax > one byte)", pool_window_too_large, "at most 255"),
    ("crash", "NHWC pool-BN-ReLU backward, dout larger than the output", bn_dout_too_large, "shape mismatch"),
    ("crash", "NHWC pool-BN-ReLU backward, argmax of a smaller input", bn_argmax_from_smaller_input,
     "shape mismatch"),
    ("crash", "NHWC pool-BN-ReLU backward, statistics of another layer", bn_statistics_of_another_layer,
     "shape mismatch"),
    ("crash", "NHWC pool-BN-ReLU backward, x shape edited in the cache", bn_x_shape_edited, "shape mismatch"),
    ("obscure error", "NHWC pool-BN-ReLU backward given the conv's cache", bn_cache_of_the_conv, "8-tuple"),
    ("silent wrong answer", "NHWC pool-BN-ReLU bn_param={'mom': 0.9}", bn_param_typo, "unknown bn_param"),
    ("silent wrong answer", "NHWC pool-BN-ReLU running_mean of shape (1,)", bn_running_mean_broadcast,
     r"running_mean'\] must have shape"),
    ("silent wrong answer", "NHWC pool-BN activation 'Relu'", unknown_activation, "activation must be one of"),
    ("silent wrong answer", "NHWC max pool of a window holding NaN", nan_in_a_pool_window,
     "NaN propagates to the pool output: True; gradient routed to the NaN: True"),
    ("silent wrong answer", "NHWC float32 conv against float64", float32_against_float64,
     r"winograd\) against float64: rms relative error [1-5]\.\de-0[67]"),
    ("silent wrong answer", "NHWC float32 direct conv (WINOGRAD off) against float64", float32_direct_against_float64,
     r"direct\) against float64: rms relative error [1-9]\.\de-0[78]"),
]
