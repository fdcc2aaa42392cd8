"""Shared grids of conv and pool geometries, and loop-based references for them.

The references are written with explicit loops over every output entry, unlike
layers.py (which vectorises over the batch), so the two can check each other.
"""
import itertools

import numpy as np

from validate import conv_geometry, pool_geometry

# (m, C, H, W, F, HH, WW): odd sizes, non-square inputs and filters.
CONV_SHAPES = [
    (2, 3, 7, 7, 2, 3, 3),
    (1, 2, 6, 9, 3, 2, 3),
    (2, 1, 5, 8, 2, 1, 4),
    (1, 3, 9, 6, 2, 5, 2),
]
# (m, C, H, W)
POOL_SHAPES = [(2, 3, 8, 8), (1, 2, 7, 9), (2, 1, 6, 10)]


def _valid_conv(shape, stride, pad):
    m, C, H, W, F, HH, WW = shape
    try:
        conv_geometry((m, C, H, W), (F, C, HH, WW), {"stride": stride, "pad": pad})
    except ValueError:
        return False
    return True


def _valid_pool(shape, ph, pw, stride):
    try:
        pool_geometry(shape, {"pool_height": ph, "pool_width": pw, "stride": stride})
    except ValueError:
        return False
    return True


# Every geometry on the grid (stride 1 to 3, pad 0 to 3) that tiles its input.
CONV_CASES = [(shape, s, p) for shape, s, p in itertools.product(CONV_SHAPES, (1, 2, 3), range(4))
              if _valid_conv(shape, s, p)]
# Window 1 to 3 by 1 to 3, stride 1 to 3: overlapping (stride < window),
# tiling (stride == window) and gapped (stride > window) pools.
WINDOW_SIDES = STRIDES = (1, 2, 3)
POOL_CASES = [(shape, ph, pw, s)
              for shape, ph, pw, s in itertools.product(POOL_SHAPES, WINDOW_SIDES, WINDOW_SIDES,
                                                        STRIDES)
              if _valid_pool(shape, ph, pw, s)]


def conv_case_id(case):
    shape, stride, pad = case
    return "x{}x{}x{}x{}-w{}x{}x{}x{}-s{}-p{}".format(*shape[:4], shape[4], shape[1], *shape[5:],
                                                    stride, pad)


def pool_case_id(case):
    shape, ph, pw, stride = case
    return "x{}x{}x{}x{}-{}x{}-s{}".format(*shape, ph, pw, stride)


def conv_inputs(shape, rng, dtype=np.float64):
    """Random x, theta, theta0 for a CONV_SHAPES entry."""
    m, C, H, W, F, HH, WW = shape
    return (rng.standard_normal((m, C, H, W)).astype(dtype),
            rng.standard_normal((F, C, HH, WW)).astype(dtype),
            rng.standard_normal(F).astype(dtype))


def tied_pool_input(shape, rng, dtype=np.float64):
    """Input with many exact ties, as after a ReLU: half zeros, values on a coarse grid."""
    return np.maximum(rng.integers(-3, 3, size=shape), 0).astype(dtype)


def distinct_pool_input(shape, rng):
    """Input whose entries are at least 0.01 apart, so a 1e-5 step never changes a maximum."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01).astype(np.float64)


def conv_reference(x, theta, theta0, stride, pad):
    """out[n, f, i, j] = sum(xpad[n, :, window] * theta[f]) + theta0[f], one entry at a time."""
    m, C, H, W = x.shape
    F, _, HH, WW = theta.shape
    xpad = np.zeros((m, C, H + 2 * pad, W + 2 * pad))
    xpad[:, :, pad:pad + H, pad:pad + W] = x
    H_out = (H + 2 * pad - HH) // stride + 1
    W_out = (W + 2 * pad - WW) // stride + 1
    out = np.zeros((m, F, H_out, W_out))
    for n, f, i, j in itertools.product(range(m), range(F), range(H_out), range(W_out)):
        window = xpad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
        out[n, f, i, j] = np.sum(window * theta[f]) + theta0[f]
    return out


def conv_backward_reference(dout, x, theta, stride, pad):
    """dx, dtheta, dtheta0 by the chain rule applied to every output entry in turn."""
    m, C, H, W = x.shape
    F, _, HH, WW = theta.shape
    xpad = np.zeros((m, C, H + 2 * pad, W + 2 * pad))
    xpad[:, :, pad:pad + H, pad:pad + W] = x
    dxpad = np.zeros_like(xpad)
    dtheta = np.zeros(theta.shape)
    for n, f, i, j in itertools.product(*map(range, dout.shape)):
        rows = slice(i * stride, i * stride + HH)
        cols = slice(j * stride, j * stride + WW)
        dxpad[n, :, rows, cols] += theta[f] * dout[n, f, i, j]
        dtheta[f] += xpad[n, :, rows, cols] * dout[n, f, i, j]
    return dxpad[:, :, pad:pad + H, pad:pad + W], dtheta, dout.sum(axis=(0, 2, 3))


def pool_reference(x, ph, pw, stride):
    """out and dx-routing (first maximum, row-major) of a max pool, one window at a time.

    Returns out (m, C, H_out, W_out) and argmax (m, C, H_out, W_out, 2): the (row,
    column) in x of each window's first maximum.
    """
    m, C, H, W = x.shape
    H_out, W_out = (H - ph) // stride + 1, (W - pw) // stride + 1
    out = np.zeros((m, C, H_out, W_out))
    argmax = np.zeros((m, C, H_out, W_out, 2), dtype=int)
    for n, c, i, j in itertools.product(range(m), range(C), range(H_out), range(W_out)):
        best = None
        for a, b in itertools.product(range(ph), range(pw)):
            value = x[n, c, i * stride + a, j * stride + b]
            if best is None or value > best:
                best = value
                argmax[n, c, i, j] = (i * stride + a, j * stride + b)
        out[n, c, i, j] = best
    return out, argmax


def pool_backward_reference(dout, x, ph, pw, stride):
    """dx of a max pool: each window's dout added at its first maximum."""
    _, argmax = pool_reference(x, ph, pw, stride)
    dx = np.zeros(x.shape)
    for n, c, i, j in itertools.product(*map(range, dout.shape)):
        h, w = argmax[n, c, i, j]
        dx[n, c, h, w] += dout[n, c, i, j]
    return dx
