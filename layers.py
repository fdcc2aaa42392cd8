"""Forward and backward functions for every layer type.

Each layer is a pair of functions. `<layer>_forward(x, ...)` returns
`(out, cache)`; `<layer>_backward(dout, cache)` returns the gradients of the
loss with respect to each forward argument, in the order of those arguments.
Loss layers return `(loss, dx)` directly. Arrays keep the dtype of `x`.

Shapes use m for the batch size, d for the flattened input size, h for the
number of outputs and C for the number of classes; images are (m, C, H, W).
"""
import numpy as np

from validate import (check_batch, check_keys, check_labels, conv_geometry, pool_geometry,
                      positive_float, require, require_float, require_shape, unit_interval)


# ---------------------------------------------------- what backward trusts
# A backward pass computes from dout and from the arrays its forward pass cached. The
# fast layers hand them to compiled loops that do no bounds checks, and NumPy broadcasts
# a dout of another shape into a gradient of the wrong size: so every backward checks
# both, with these helpers, before it computes.

def check_dout(dout, shape):
    """The upstream derivative: floats of exactly the forward output's shape."""
    require_float("dout", dout)
    require_shape("dout", dout, shape)


def cache_parts(cache, layer, names):
    """cache, after checking it is the tuple of len(names) parts that `layer` returns."""
    parts = len(cache) if isinstance(cache, (tuple, list)) else 1
    require(isinstance(cache, (tuple, list)) and parts == len(names),
            f"cache must be the tuple ({', '.join(names)}) that {layer} returns, got "
            f"{type(cache).__name__} of {parts} part(s)")
    return cache


def conv_checks(x, theta, conv_param):
    """Float x (m, C, H, W) and theta (F, C, HH, WW) whose windows tile x:
    returns (stride, pad, H_out, W_out) as validate.conv_geometry."""
    require_float("x", x)
    require_float("theta", theta)
    return conv_geometry(x.shape, theta.shape, conv_param)


def pool_checks(x, pool_param, geometry=pool_geometry):
    """Float x (m, C, H, W) and a pool that fits it: returns geometry(x.shape, pool_param)."""
    require_float("x", x)
    return geometry(x.shape, pool_param)


# -------------------------------------------------------------------- affine

def affine_forward(x, theta, theta0):
    """Affine layer: a = x.reshape(m, d) @ theta + theta0, i.e. a_j = theta_j^T x + theta0_j.

    x:      (m, d_1, ..., d_k) input, flattened to (m, d) with d = d_1 * ... * d_k
    theta:  (d, h) weights
    theta0: (h,) biases
    Returns (out, cache) with out of shape (m, h).
    """
    _affine_checks(x, theta)
    require_float("theta0", theta0)
    require_shape("theta0 (one bias per output)", theta0, (theta.shape[1],))
    out = x.reshape(x.shape[0], theta.shape[0]) @ theta + theta0
    return out, (x, theta)


def _affine_checks(x, theta):
    """Float x (m, d_1, ..., d_k) and theta (d, h) with d = d_1 * ... * d_k."""
    require_float("x", x)
    require_float("theta", theta)
    require(x.ndim >= 2, f"x must be (m, d_1, ..., d_k), at least 2-d, got shape {x.shape}")
    d = int(np.prod(x.shape[1:]))
    require(theta.ndim == 2 and theta.shape[0] == d,
            f"shape mismatch: x of shape {x.shape} flattens to d={d}, "
            f"so theta must be (d, h), got {theta.shape}")


def affine_backward(dout, cache):
    """Backward pass of the affine layer.

    dout: (m, h) upstream derivative dJ/da.
    Returns dx = dout @ theta^T reshaped like x, dtheta = x^T @ dout (d, h),
    dtheta0 = sum over the batch of dout (h,).
    """
    x, theta = cache_parts(cache, "affine_forward", ("x", "theta"))
    _affine_checks(x, theta)
    check_dout(dout, (x.shape[0], theta.shape[1]))
    x_flat = x.reshape(x.shape[0], theta.shape[0])
    dx = (dout @ theta.T).reshape(x.shape)
    dtheta = x_flat.T @ dout
    dtheta0 = dout.sum(axis=0)
    return dx, dtheta, dtheta0


# ------------------------------------------------------------- activations

def relu_forward(x):
    """ReLU: a = max(0, x) elementwise. Returns (out, cache), out shaped like x."""
    require_float("x", x)
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """dx = dout where x > 0, else 0."""
    x = cache
    require_float("cache (relu_forward's x)", x)
    check_dout(dout, x.shape)
    return dout * (x > 0)


def leaky_relu_forward(x, alpha=0.01):
    """Leaky ReLU: a = x if x > 0 else alpha * x, with slope alpha in [0, 1)."""
    unit_interval("alpha (the negative slope)", alpha)
    require_float("x", x)
    slope = np.where(x > 0, 1, alpha).astype(x.dtype, copy=False)
    return x * slope, slope


def leaky_relu_backward(dout, cache):
    """dx = dout where x > 0, else alpha * dout."""
    slope = cache
    require_float("cache (leaky_relu_forward's slope)", slope)
    check_dout(dout, slope.shape)
    return dout * slope


# ----------------------------------------------------------------- dropout

def dropout_forward(x, dropout_param):
    """Inverted dropout.

    x: input of any shape.
    dropout_param: dict with
      'p':    probability of DROPPING each unit, 0 <= p < 1;
      'mode': 'train' (drop and rescale) or 'test' (identity);
      'seed': optional; fixes the mask: every call draws it from
              np.random.default_rng(seed), so the layer is a deterministic function
              (what gradient checks need; never use it to train);
      'rng':  optional np.random.Generator; every call draws a new mask from it and
              advances it (what training needs: reproducible, and resumable from
              the generator's state).
    With neither, the mask comes from NumPy's global generator.
    In train mode out = x * mask with mask = [u >= p] / (1 - p), u ~ U[0, 1), so
    E[out] = x and test mode needs no rescaling.
    Returns (out, cache) with cache = (dropout_param, mask or None in test mode, x.shape).
    """
    check_keys("dropout_param", dropout_param, ("p", "mode", "seed", "rng"))
    p = dropout_param.get("p")
    mode = dropout_param.get("mode", "train")
    unit_interval("dropout_param['p'] (the probability of dropping a unit)", p)
    require(mode in ("train", "test"),
             f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    require_float("x", x)
    seed, rng = dropout_param.get("seed"), dropout_param.get("rng")
    require(seed is None or rng is None,
             "dropout_param takes 'seed' (one fixed mask) or 'rng' (a new mask per call), "
             "not both")
    require(rng is None or isinstance(rng, np.random.Generator),
             f"dropout_param['rng'] must be a numpy.random.Generator, got {type(rng).__name__}")
    if mode == "test":
        return x, (dropout_param, None, x.shape)
    if seed is not None:
        rng = np.random.default_rng(seed)
    uniform = rng.random(x.shape) if rng is not None else np.random.random_sample(x.shape)
    mask = ((uniform >= p) / (1 - p)).astype(x.dtype)
    return x * mask, (dropout_param, mask, x.shape)


def dropout_backward(dout, cache):
    """dx = dout * mask in train mode, dout in test mode."""
    _, mask, shape = cache_parts(cache, "dropout_forward", ("dropout_param", "mask", "shape"))
    if mask is not None:
        require_float("cache's mask", mask)
        require_shape("cache's mask", mask, shape)
    check_dout(dout, shape)
    return dout if mask is None else dout * mask


# ------------------------------------------------------ batch normalization

BN_KEYS = ("mode", "eps", "momentum", "running_mean", "running_var")


def _channel_sums(a):
    """Sum of a over every axis but 1: (D,) for a (m, D), (C,) for images (m, C, H, W).

    For images the reduction over H * W is a matrix product with a vector of ones,
    several times faster than NumPy's reduction over the non-contiguous axes (0, 2, 3).
    """
    if a.ndim == 2:
        return a.sum(axis=0)
    m, C = a.shape[:2]
    return (a.reshape(m, C, -1) @ np.ones(a[0, 0].size, dtype=a.dtype)).sum(axis=0)


def _statistics_dtype(dtype):
    """Where batch statistics accumulate: float16 sums overflow at 65504 (and its count
    of values past 2048 loses units), so float16 works in float32; others in their own."""
    return np.promote_types(dtype, np.float32)


def _bn_settings(x, gamma, beta, bn_param):
    """Validate batch norm's arguments; return (mode, eps, momentum, running_mean, running_var).

    x needs at least one value per feature/channel; in train mode at least two (the
    variance of one value is 0: the output and the gradient would be 0).
    """
    check_keys("bn_param", bn_param, BN_KEYS)
    mode = bn_param.get("mode")
    require(mode in ("train", "test"), f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    require_float("x", x)
    require(x.size > 0, f"x must hold at least one example (and one value per feature/channel), "
                        f"got shape {x.shape}")
    D, count = x.shape[1], x.size // x.shape[1]
    require(mode == "test" or count >= 2,
            f"batch norm in train mode needs at least 2 values per statistic "
            f"({'m' if x.ndim == 2 else 'm * H * W'} >= 2): the variance of one value is 0, "
            f"which gives zero output and zero gradient; got x of shape {x.shape}")
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(D, dtype=x.dtype))
    for name, value in (("gamma", gamma), ("beta", beta),
                        ("bn_param['running_mean']", running_mean),
                        ("bn_param['running_var']", running_var)):
        require_float(name, value)
        require_shape(f"{name} (one per feature/channel of x {x.shape})", value, (D,))
    require(not np.any(running_var < 0),
            f"bn_param['running_var'] must be >= 0 (a variance), got a minimum of "
            f"{running_var.min()!r}")
    eps = positive_float("bn_param['eps']", bn_param.get("eps", 1e-5))
    momentum = unit_interval("bn_param['momentum']", bn_param.get("momentum", 0.9), closed=True)
    return mode, eps, momentum, running_mean, running_var


def _batchnorm_forward(x, gamma, beta, bn_param):
    """Batch norm over every axis of x but 1, one (gamma, beta) per index of axis 1."""
    mode, eps, momentum, running_mean, running_var = _bn_settings(x, gamma, beta, bn_param)
    D = x.shape[1]
    shape = (1, D) + (1,) * (x.ndim - 2)
    work = _statistics_dtype(x.dtype)
    x_work = x.astype(work, copy=False)
    if mode == "train":
        count = work.type(x.size // D)
        mean = _channel_sums(x_work) / count
        xhat = x_work - mean.reshape(shape)
        var = _channel_sums(xhat * xhat) / count
        bn_param["running_mean"] = (momentum * running_mean + (1 - momentum) * mean).astype(x.dtype)
        bn_param["running_var"] = (momentum * running_var + (1 - momentum) * var).astype(x.dtype)
    else:
        mean, var = running_mean.astype(work), running_var.astype(work)
        xhat = x_work - mean.reshape(shape)
    inv_std = (1 / np.sqrt(var + work.type(eps))).astype(work)
    np.multiply(xhat, inv_std.reshape(shape), out=xhat)
    out = xhat * gamma.astype(work).reshape(shape)
    out += beta.astype(work).reshape(shape)
    xhat = xhat.astype(x.dtype, copy=False)
    return out.astype(x.dtype, copy=False), (xhat, inv_std, gamma, mode, shape)


def _bn_cache_checks(cache):
    """The parts of a batch norm cache, after checking they fit each other."""
    xhat, inv_std, gamma, mode, shape = cache_parts(
        cache, "batchnorm_forward", ("xhat", "inv_std", "gamma", "mode", "shape"))
    require_float("cache's xhat", xhat)
    require(xhat.ndim in (2, 4) and xhat.size > 0,
            f"cache's xhat must be a non-empty (m, D) or (m, C, H, W), got shape {xhat.shape}")
    D = xhat.shape[1]
    for name, value in (("inv_std", inv_std), ("gamma", gamma)):
        require_float(f"cache's {name}", value)
        require_shape(f"cache's {name}", value, (D,))
    require(mode in ("train", "test"), f"cache's mode must be 'train' or 'test', got {mode!r}")
    require(shape == (1, D) + (1,) * (xhat.ndim - 2),
            f"cache's shape must be {(1, D) + (1,) * (xhat.ndim - 2)} for xhat of shape "
            f"{xhat.shape}, got {shape!r}")
    return xhat, inv_std, gamma, mode, shape


def _batchnorm_backward(dout, cache):
    xhat, inv_std, gamma, mode, shape = _bn_cache_checks(cache)
    check_dout(dout, xhat.shape)
    work = _statistics_dtype(xhat.dtype)
    dout, xhat_work = dout.astype(work, copy=False), xhat.astype(work, copy=False)
    dbeta = _channel_sums(dout)
    dgamma = _channel_sums(dout * xhat_work)
    scale = (gamma.astype(work) * inv_std.astype(work)).reshape(shape)
    if mode == "test":            # mean and variance are constants
        dx = dout * scale
    else:
        # With g = dout * gamma: dx = (g - mean(g) - xhat * mean(g * xhat)) * inv_std, and
        # mean(g) = gamma * dbeta / count, mean(g * xhat) = gamma * dgamma / count.
        count = work.type(xhat.size // xhat.shape[1])
        dx = xhat_work * (dgamma / count).reshape(shape)
        np.subtract(dout, dx, out=dx)
        dx -= (dbeta / count).reshape(shape)
        dx *= scale
    return tuple(g.astype(xhat.dtype, copy=False) for g in (dx, dgamma, dbeta))


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of x (m, D), feature by feature.

    gamma, beta: (D,) scale and shift.
    bn_param: dict with
      'mode':     'train' (normalize with the batch's statistics and update the running
                  ones) or 'test' (normalize with the running statistics);
      'eps':      added to the variance, default 1e-5;
      'momentum': running = momentum * running + (1 - momentum) * batch, default 0.9;
      'running_mean', 'running_var': (D,), created (zeros, ones) when absent and
                  replaced by new arrays in train mode.
    Train mode: mu = mean_i x_i, var = mean_i (x_i - mu)^2 (the biased variance, also
    for the running average), xhat = (x - mu) / sqrt(var + eps), out = gamma * xhat + beta.
    Returns (out, cache); out has x's dtype.
    """
    require(np.ndim(x) == 2, f"x must be (m, D), got shape {np.shape(x)}")
    return _batchnorm_forward(x, gamma, beta, bn_param)


def batchnorm_backward(dout, cache):
    """Backward pass of batchnorm_forward; returns dx (m, D), dgamma (D,), dbeta (D,).

    With g = dout * gamma: dx = (g - mean_i g - xhat * mean_i(g * xhat)) / sqrt(var + eps)
    in train mode (the batch statistics depend on x), g / sqrt(var + eps) in test mode.
    """
    return _batchnorm_backward(dout, cache)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of images x (m, C, H, W), channel by channel.

    Every channel is normalized with the mean and variance over the batch and all
    positions (m * H * W values); gamma, beta are (C,); bn_param as in batchnorm_forward.
    Returns (out, cache).
    """
    require(np.ndim(x) == 4, f"x must be (m, C, H, W), got shape {np.shape(x)}")
    return _batchnorm_forward(x, gamma, beta, bn_param)


def spatial_batchnorm_backward(dout, cache):
    """Backward pass of spatial_batchnorm_forward; returns dx, dgamma (C,), dbeta (C,)."""
    return _batchnorm_backward(dout, cache)


# -------------------------------------------------------------- convolution

def conv_forward_naive(x, theta, theta0, conv_param):
    """Convolution (cross-correlation), written for clarity.

    x:      (m, C, H, W) input
    theta:  (F, C, HH, WW) filters
    theta0: (F,) biases
    conv_param: {'stride': S, 'pad': P}; x is zero-padded by P on each side of H and W.
    out[n, f, i, j] = sum_{c,a,b} xpad[n, c, i*S + a, j*S + b] * theta[f, c, a, b] + theta0[f]
    with out of shape (m, F, 1 + (H - HH + 2P) / S, 1 + (W - WW + 2P) / S).
    Returns (out, cache).
    """
    stride, pad, H_out, W_out = conv_checks(x, theta, conv_param)
    require_float("theta0", theta0)
    require_shape("theta0 (one bias per filter)", theta0, (theta.shape[0],))
    HH, WW = theta.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((x.shape[0], theta.shape[0], H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = xpad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, theta, axes=([1, 2, 3], [1, 2, 3])) + theta0
    return out, (x, theta, conv_param)


def conv_backward_naive(dout, cache):
    """Backward pass of conv_forward_naive.

    dout: (m, F, H_out, W_out). Each output position adds theta * dout to the
    window of xpad it read (dx) and window * dout to theta (dtheta).
    Returns dx (m, C, H, W), dtheta (F, C, HH, WW), dtheta0 (F,).
    """
    x, theta, conv_param = cache_parts(cache, "conv_forward_naive", ("x", "theta", "conv_param"))
    stride, pad, H_out, W_out = conv_checks(x, theta, conv_param)
    check_dout(dout, (x.shape[0], theta.shape[0], H_out, W_out))
    HH, WW = theta.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxpad = np.zeros_like(xpad)
    dtheta = np.zeros_like(theta)
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * stride, i * stride + HH)
            cols = slice(j * stride, j * stride + WW)
            g = dout[:, :, i, j]                                     # (m, F)
            dxpad[:, :, rows, cols] += np.tensordot(g, theta, axes=([1], [0]))
            dtheta += np.tensordot(g, xpad[:, :, rows, cols], axes=([0], [0]))
    dx = dxpad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    return dx, dtheta, dout.sum(axis=(0, 2, 3))


# -------------------------------------------------------------- max pooling

def max_pool_forward_naive(x, pool_param):
    """Max pooling, written for clarity.

    x: (m, C, H, W); pool_param: {'pool_height': ph, 'pool_width': pw, 'stride': S}.
    out[n, c, i, j] = max over the ph x pw window at (i*S, j*S) of x[n, c],
    of shape (m, C, 1 + (H - ph) / S, 1 + (W - pw) / S).
    Returns (out, cache).
    """
    ph, pw, stride, H_out, W_out = pool_checks(x, pool_param)
    out = np.empty(x.shape[:2] + (H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """Backward pass of max_pool_forward_naive.

    Each window's upstream derivative goes to the position of its maximum (the
    first one in row-major order on ties); windows that overlap accumulate.
    Returns dx shaped like x.
    """
    x, pool_param = cache_parts(cache, "max_pool_forward_naive", ("x", "pool_param"))
    ph, pw, stride, H_out, W_out = pool_checks(x, pool_param)
    m, C = x.shape[:2]
    check_dout(dout, (m, C, H_out, W_out))
    dx = np.zeros_like(x)
    n_idx, c_idx = np.meshgrid(np.arange(m), np.arange(C), indexing="ij")
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            a, b = np.unravel_index(window.reshape(m, C, -1).argmax(axis=2), (ph, pw))
            np.add.at(dx, (n_idx, c_idx, i * stride + a, j * stride + b), dout[:, :, i, j])
    return dx


# -------------------------------------------------------------- loss layers

def softmax_loss(x, y, smoothing=0.0):
    """Softmax (cross-entropy) loss, averaged over the batch, with optional label smoothing.

    x: (m, C) scores; y: (m,) labels in [0, C); smoothing s in [0, 1).
    The target of example i is q_i = (1 - s) * onehot(y_i) + s / C (s = 0: the label
    itself), and J = -(1/m) sum_i q_i . log softmax(x_i), computed after subtracting
    each row's maximum so that large scores cannot overflow.
    Returns (loss, dx) with dx = (softmax(x) - q) / m.
    """
    require_float("x (the scores)", x)
    require(x.ndim == 2, f"x must be (m, C) scores, got shape {x.shape}")
    y = check_labels(y, x.shape[1])
    require(y.shape[0] == x.shape[0],
             f"shape mismatch: x has m={x.shape[0]} rows but y has {y.shape[0]} labels")
    unit_interval("smoothing", smoothing)
    check_batch(x)
    m, C = x.shape
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(m)
    loss = -(1 - smoothing) * log_probs[rows, y].mean()
    if smoothing:
        loss -= smoothing * log_probs.mean(axis=1).mean()
    dx = np.exp(log_probs)
    dx[rows, y] -= x.dtype.type(1 - smoothing)
    if smoothing:
        dx -= x.dtype.type(smoothing / C)
    return loss, dx / x.dtype.type(m)


def svm_loss(x, y):
    """Multiclass SVM (hinge) loss with margin 1, averaged over the batch.

    x: (m, C) scores; y: (m,) labels in [0, C).
    J = (1/m) sum_i sum_{j != y_i} max(0, x_ij - x_iy_i + 1).
    Returns (loss, dx).
    """
    require_float("x (the scores)", x)
    require(x.ndim == 2, f"x must be (m, C) scores, got shape {x.shape}")
    y = check_labels(y, x.shape[1])
    require(y.shape[0] == x.shape[0],
             f"shape mismatch: x has m={x.shape[0]} rows but y has {y.shape[0]} labels")
    check_batch(x)
    m = x.shape[0]
    rows = np.arange(m)
    margins = np.maximum(0, x - x[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / m
    active = (margins > 0).astype(x.dtype)
    active[rows, y] -= active.sum(axis=1)
    return loss, active / x.dtype.type(m)
