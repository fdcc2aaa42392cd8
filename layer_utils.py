"""Sandwich layers: common chains of layers as one forward/backward pair.

Each forward returns (out, cache) where cache holds the caches of its parts;
each backward unwinds them in reverse order. Every part checks its own dout and
cache before it computes, so parts of caches from two calls meet a ValueError
(the dout one part hands the next does not have the shape that part's cache expects).
"""
from layers import (affine_backward, affine_forward, batchnorm_backward, batchnorm_forward,
                    cache_parts, relu_backward, relu_forward)
from validate import require


def affine_relu_forward(x, theta, theta0):
    """Affine followed by ReLU: out = max(0, x.reshape(m, d) @ theta + theta0)."""
    a, affine_cache = affine_forward(x, theta, theta0)
    out, relu_cache = relu_forward(a)
    return out, (affine_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Returns dx, dtheta, dtheta0 of affine_relu_forward."""
    affine_cache, relu_cache = cache_parts(cache, "affine_relu_forward",
                                           ("affine_cache", "relu_cache"))
    return affine_backward(relu_backward(dout, relu_cache), affine_cache)


def affine_bn_relu_forward(x, theta, theta0, gamma, beta, bn_param):
    """Affine, batch norm, ReLU: out = max(0, BN(x.reshape(m, d) @ theta + theta0))."""
    a, affine_cache = affine_forward(x, theta, theta0)
    b, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(b)
    return out, (affine_cache, bn_cache, relu_cache)


def affine_bn_relu_backward(dout, cache):
    """Returns dx, dtheta, dtheta0, dgamma, dbeta of affine_bn_relu_forward."""
    affine_cache, bn_cache, relu_cache = cache_parts(
        cache, "affine_bn_relu_forward", ("affine_cache", "bn_cache", "relu_cache"))
    db, dgamma, dbeta = batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    return (*affine_backward(db, affine_cache), dgamma, dbeta)


def bn_running_stats(bn_params):
    """The running statistics of a model's batch norms {l: bn_param} as buffers:
    {'running_mean<l>': ..., 'running_var<l>': ...} (the arrays themselves, not copies)."""
    out = {}
    for l, p in bn_params.items():
        out[f"running_mean{l}"], out[f"running_var{l}"] = p["running_mean"], p["running_var"]
    return out


def load_bn_running_stats(bn_params, buffers):
    """Put the statistics of bn_running_stats(...)-shaped buffers back into bn_params
    (each is checked when batch norm next reads it)."""
    wanted = {f"{kind}{l}" for l in bn_params for kind in ("running_mean", "running_var")}
    missing = sorted(wanted - set(buffers))
    require(not missing, f"buffers lack the batch norm statistics {missing}")
    for l, p in bn_params.items():
        p["running_mean"], p["running_var"] = buffers[f"running_mean{l}"], buffers[f"running_var{l}"]


# ------------------------------------------------------ convolutional sandwiches
# Built on the fast layers; compute_dx=False skips the derivative with respect to
# the input images, which a network's first layer never needs.

def _fast_layers():
    """fast_layers, imported on first use: the fully connected notebooks import this
    module and need neither the conv layers nor their compiled loops."""
    import fast_layers
    return fast_layers


def conv_relu_forward(x, theta, theta0, conv_param):
    """Convolution followed by ReLU: out = max(0, conv(x, theta) + theta0).

    x: (m, C, H, W); theta: (F, C, HH, WW); theta0: (F,); conv_param: {'stride', 'pad'}.
    Returns (out, cache) with out (m, F, H_out, W_out).
    """
    a, conv_cache = _fast_layers().conv_forward_fast(x, theta, theta0, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache, compute_dx=True):
    """Returns dx, dtheta, dtheta0 of conv_relu_forward (dx is None if not compute_dx)."""
    conv_cache, relu_cache = cache_parts(cache, "conv_relu_forward", ("conv_cache", "relu_cache"))
    return _fast_layers().conv_backward_fast(relu_backward(dout, relu_cache), conv_cache, compute_dx)


def conv_relu_pool_forward(x, theta, theta0, conv_param, pool_param):
    """Convolution, ReLU, then max pooling: out = maxpool(max(0, conv(x, theta) + theta0)).

    pool_param: {'pool_height', 'pool_width', 'stride'}; other arguments as in
    conv_relu_forward. Returns (out, cache) with out (m, F, H_pool, W_pool).
    The three steps run fused (fast_layers.conv_relu_pool_forward_fast).
    """
    return _fast_layers().conv_relu_pool_forward_fast(x, theta, theta0, conv_param, pool_param)


def conv_relu_pool_backward(dout, cache, compute_dx=True):
    """Returns dx, dtheta, dtheta0 of conv_relu_pool_forward (dx is None if not compute_dx)."""
    return _fast_layers().conv_relu_pool_backward_fast(dout, cache, compute_dx)

