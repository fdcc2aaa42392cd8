"""Fast convolution and max pooling with exactly the API of the naive layers.

Convolution is im2col followed by one matrix product per chunk of images:

    cols = im2col(x)                       (K, n*P),  K = C*HH*WW, P = H_out*W_out
    out  = theta.reshape(F, K) @ cols      (F, n*P) -> (n, F, H_out, W_out)
    dtheta = dout_2d @ cols^T,  dcols = theta_2d^T @ dout_2d,  dx = col2im(dcols)

so the time goes to BLAS. Chunks of whole images keep each cols block small
enough to stay in cache between im2col and the products that read it, and the
backward pass rebuilds cols chunk by chunk instead of keeping a K-times-larger
copy of x alive between the passes.

With T BLAS threads (as set by threadpoolctl, OPENBLAS_NUM_THREADS, ...) the
batch is split into T slices that run at once on T Python threads, each with
single-threaded BLAS and GIL-free loops: one synchronisation per call instead
of one per product, which keeps the cores busy on products too small for BLAS
to split well, and on a busy machine was up to 10x faster than threaded BLAS.

Max pooling takes a reshape path when the windows tile the input
(pool_height == pool_width == stride) and an im2col path otherwise; backward
sends each window's derivative to its first maximum in row-major order, as
layers.max_pool_backward_naive does.

conv_relu_pool_forward_fast / backward fuse conv - ReLU - max pool: ReLU and
pooling read each chunk's product directly, so the conv output is never stored.

The loops come from the compiled im2col_cython extension. Without it every
function still works, through the pure-NumPy im2col.py, after one warning.
"""
import warnings

import numpy as np

from batch_slices import blas_threads, by_image_slices
from im2col import col2im_indices, im2col_indices
from layers import (cache_parts, check_dout, conv_checks, pool_checks, relu_backward,
                    relu_forward)
from validate import floor_pool_geometry, pool_geometry, require, require_float, require_shape

try:
    import im2col_cython as _ext
    _IMPORT_ERROR = None
except (ImportError, ValueError) as error:   # ValueError: built against another NumPy ABI
    _ext, _IMPORT_ERROR = None, error

BUILD_HINT = ("im2col_cython extension not available ({}); fast_layers falls back to "
              "pure NumPy, which is much slower. Build it with "
              "`python setup.py build_ext --inplace` (or `make build`).")
_warned = False

# Bytes of cols per chunk: big enough for efficient products, small enough to
# stay in cache while the products read it.
CHUNK_BYTES = 2 << 20


def _extension(array):
    """The compiled extension if it takes array's dtype, else None (warning once if unbuilt)."""
    global _warned
    if _ext is None:
        if not _warned:
            warnings.warn(BUILD_HINT.format(_IMPORT_ERROR), RuntimeWarning, stacklevel=3)
            _warned = True
        return None
    # The extension is typed for float32 and float64 only.
    return _ext if array.dtype in (np.float32, np.float64) else None


def _im2col(x, HH, WW, pad, stride):
    ext = _extension(x)
    if ext is None:
        return im2col_indices(x, HH, WW, pad, stride)
    return ext.im2col_cython(np.ascontiguousarray(x), HH, WW, pad, stride)


def _col2im(cols, x_shape, HH, WW, pad, stride):
    ext = _extension(cols)
    if ext is None:
        return col2im_indices(cols, x_shape, HH, WW, pad, stride)
    return ext.col2im_cython(np.ascontiguousarray(cols), *x_shape, HH, WW, pad, stride)


def _image_chunks(lo, hi, bytes_per_image):
    """Ranges of whole images covering lo:hi, each about CHUNK_BYTES of cols."""
    step = max(1, CHUNK_BYTES // max(1, bytes_per_image))
    return [(a, min(hi, a + step)) for a in range(lo, hi, step)]


# Below this much cols per call, splitting the batch costs more than it saves.
MIN_PARALLEL_BYTES = 1 << 20
def _by_image_slices(work, m, bytes_per_image):
    """batch_slices.by_image_slices over the batch 0:m, in fewer slices for small batches
    (below MIN_PARALLEL_BYTES of cols a slice costs more than it saves) and in one without
    the compiled loops (the NumPy fallback holds the GIL: no gain)."""
    if _ext is None:
        return [work(0, m)]
    return by_image_slices(work, m, min(blas_threads(), max(1, m * bytes_per_image
                                                                 // MIN_PARALLEL_BYTES)))


# -------------------------------------------------------------- convolution
# The compiled loops take C ints and trust every shape (no bounds checks): the layers
# below validate all they pass (dout and the cache included) before a loop runs.

C_INT_MAX = 2 ** 31 - 1


def _c_ints(values):
    """ValueError naming any value of {name: value} that the compiled loops' C int
    arguments cannot hold."""
    for name, value in values.items():
        require(value <= C_INT_MAX, f"{name}={value} is too large for the compiled loops "
                                    f"(at most 2**31 - 1 = {C_INT_MAX})")


def _conv_setup(x, theta, theta0, conv_param):
    """Validate; return (theta_2d (F, K) in x's dtype, (HH, WW, pad, stride), H_out, W_out)."""
    stride, pad, H_out, W_out = conv_checks(x, theta, conv_param)
    F, _, HH, WW = theta.shape
    _c_ints({"conv_param['stride']": stride, "conv_param['pad']": pad, "theta's HH": HH,
             "theta's WW": WW, "x's m": x.shape[0], "x's C": x.shape[1], "x's H": x.shape[2],
             "x's W": x.shape[3]})
    if theta0 is not None:
        require_float("theta0", theta0)
        require_shape("theta0 (one bias per filter)", theta0, (F,))
    return theta.reshape(F, -1).astype(x.dtype, copy=False), (HH, WW, pad, stride), H_out, W_out


def _cols_bytes(x, field, P):
    """Bytes of cols per image."""
    return x.shape[1] * field[0] * field[1] * P * x.itemsize


def _cols_by_chunk(x, field, P, lo, hi):
    """Yield (a, b, cols) for chunks a:b of images lo:hi: cols = im2col(x[a:b]), (K, (b-a)*P)."""
    for a, b in _image_chunks(lo, hi, _cols_bytes(x, field, P)):
        yield a, b, _im2col(x[a:b], *field)


def conv_forward_fast(x, theta, theta0, conv_param):
    """Same as layers.conv_forward_naive, computed as im2col and a matrix product.

    x: (m, C, H, W); theta: (F, C, HH, WW); theta0: (F,); conv_param: {'stride', 'pad'}.
    Returns (out, cache) with out (m, F, H_out, W_out) in x's dtype.
    """
    theta_2d, field, H_out, W_out = _conv_setup(x, theta, theta0, conv_param)
    F = theta.shape[0]
    bias = theta0.astype(x.dtype, copy=False).reshape(F, 1, 1, 1)
    out = np.empty((x.shape[0], F, H_out, W_out), dtype=x.dtype)
    out_by_filter = out.transpose(1, 0, 2, 3)           # (F, m, H_out, W_out) view

    def work(lo, hi):
        for a, b, cols in _cols_by_chunk(x, field, H_out * W_out, lo, hi):
            product = (theta_2d @ cols).reshape(F, b - a, H_out, W_out)
            np.add(product, bias, out=out_by_filter[:, a:b])

    _by_image_slices(work, x.shape[0], _cols_bytes(x, field, H_out * W_out))
    return out, (x, theta, conv_param)


def conv_backward_fast(dout, cache, compute_dx=True):
    """Same as layers.conv_backward_naive: returns dx, dtheta, dtheta0.

    dout: (m, F, H_out, W_out). With compute_dx=False, dx is None and its two
    costliest steps (theta^T @ dout and col2im) are skipped: a network's first
    layer never needs the derivative with respect to its input images.
    """
    x, theta, conv_param = cache_parts(cache, "conv_forward_fast", ("x", "theta", "conv_param"))
    _, _, H_out, W_out = _conv_setup(x, theta, None, conv_param)
    check_dout(dout, (x.shape[0], theta.shape[0], H_out, W_out))
    dout = dout.astype(x.dtype, copy=False)
    F = theta.shape[0]
    return _conv_backward(lambda lo, hi: dout[lo:hi].transpose(1, 0, 2, 3).reshape(F, -1),
                          cache, compute_dx)


def _conv_backward(dconv_2d, cache, compute_dx):
    """Backward pass given dconv_2d(lo, hi): dJ/d(conv output) of images lo:hi as (F, n*P).

    dtheta = sum over chunks of dconv_2d @ cols^T; dtheta0 = row sums of dconv_2d;
    dx = col2im(theta_2d^T @ dconv_2d) chunk by chunk when compute_dx.
    """
    x, theta, conv_param = cache
    theta_2d, field, H_out, W_out = _conv_setup(x, theta, None, conv_param)
    dx = np.empty_like(x) if compute_dx else None

    def work(lo, hi):
        # dtheta^T = cols @ d^T runs up to 1.5x faster in BLAS than d @ cols^T
        # when F is small (the product's long dimension comes first).
        dtheta_2d_T = np.zeros(theta_2d.shape[::-1], dtype=x.dtype)
        dtheta0 = np.zeros(theta.shape[0], dtype=x.dtype)
        for a, b, cols in _cols_by_chunk(x, field, H_out * W_out, lo, hi):
            d = dconv_2d(a, b)
            dtheta_2d_T += cols @ d.T
            dtheta0 += d.sum(axis=1)
            if compute_dx:
                dx[a:b] = _col2im(theta_2d.T @ d, (b - a,) + x.shape[1:], *field)
        return dtheta_2d_T, dtheta0

    parts = _by_image_slices(work, x.shape[0], _cols_bytes(x, field, H_out * W_out))
    dtheta = sum(p[0] for p in parts).T.reshape(theta.shape).astype(theta.dtype, copy=False)
    return dx, dtheta, sum(p[1] for p in parts).astype(theta.dtype, copy=False)


# -------------------------------------------------------------- max pooling

def _tiles(ph, pw, stride):
    # pool_geometry already checked that (H - ph) and (W - pw) are multiples of
    # stride, so equal window and stride means the windows tile the input.
    return ph == pw == stride


def max_pool_forward_fast(x, pool_param):
    """Same as layers.max_pool_forward_naive.

    x: (m, C, H, W); pool_param: {'pool_height', 'pool_width', 'stride'}.
    Returns (out, cache) with out (m, C, H_out, W_out).
    """
    ph, pw, stride, H_out, W_out = _pool_setup(x, pool_param, pool_geometry)
    m, C, H, W = x.shape
    if _tiles(ph, pw, stride):
        out = _max_pool_forward_reshape(x, ph, pw, H_out, W_out)
    else:
        cols = _im2col(x.reshape(m * C, 1, H, W), ph, pw, 0, stride)   # (ph*pw, m*C*P)
        out = cols.max(axis=0).reshape(m, C, H_out, W_out)
    return out, (x, out, pool_param)


def _pool_setup(x, pool_param, geometry):
    """Validate a pool of x; return geometry's (ph, pw, stride, H_out, W_out)."""
    ph, pw, stride, H_out, W_out = pool_checks(x, pool_param, geometry)
    _c_ints({"pool_param['pool_height']": ph, "pool_param['pool_width']": pw,
             "pool_param['stride']": stride})
    return ph, pw, stride, H_out, W_out


def _pool_cache_checks(cache, layer, geometry):
    """The (x, out, pool_param) of a pool's cache, checked against each other; returns
    (x, out, ph, pw, stride): out must be the (m, C, H_out, W_out) pool of x, in x's dtype."""
    x, out, pool_param = cache_parts(cache, layer, ("x", "out", "pool_param"))
    ph, pw, stride, H_out, W_out = _pool_setup(x, pool_param, geometry)
    require_float("cache's out", out)
    require_shape("cache's out (the pool of cache's x)", out, x.shape[:2] + (H_out, W_out))
    require(out.dtype == x.dtype,
            f"cache's out must have cache's x's dtype {x.dtype}, got {out.dtype}")
    return x, out, ph, pw, stride


def _max_pool_forward_reshape(x, ph, pw, H_out, W_out):
    """Tiling windows: x viewed as (m, C, H_out, ph, W_out, pw), max over offsets (a, b).

    One np.maximum per window offset over strided views; NumPy's own
    .max(axis=(3, 5)) on this view is about 20x slower.
    """
    m, C = x.shape[:2]
    windows = x.reshape(m, C, H_out, ph, W_out, pw)
    out = windows[:, :, :, 0, :, 0].copy()
    for a in range(ph):
        for b in range(pw):
            if a or b:
                np.maximum(out, windows[:, :, :, a, :, b], out=out)
    return out


def max_pool_backward_fast(dout, cache):
    """Same as layers.max_pool_backward_naive: dx shaped like x.

    Each window's dout goes to the first position (row-major) holding its maximum.
    """
    x, out, ph, pw, stride = _pool_cache_checks(cache, "max_pool_forward_fast", pool_geometry)
    check_dout(dout, out.shape)
    dout = dout.astype(x.dtype, copy=False)
    ext = _extension(x)
    if ext is not None:
        return ext.max_pool_backward_cython(np.ascontiguousarray(x), np.ascontiguousarray(out),
                                            np.ascontiguousarray(dout), ph, pw, stride)
    if _tiles(ph, pw, stride):
        return _max_pool_backward_reshape(x, out, dout, ph, pw)
    return _max_pool_backward_im2col(x, out, dout, ph, pw, stride)


def max_pool_floor_forward(x, pool_param):
    """Max pool that, like PyTorch, leaves out the last rows/columns no window covers.

    x: (m, C, H, W); pool_param as in max_pool_forward_fast, but H - ph and W - pw need
    not be multiples of the stride: out is (m, C, H_out, W_out) with
    H_out = floor((H - ph) / S) + 1 (a 2x2 pool of stride 2 maps 31 to 15).
    Returns (out, cache).
    """
    ph, pw, stride, H_out, W_out = _pool_setup(x, pool_param, floor_pool_geometry)
    span_h, span_w = stride * (H_out - 1) + 1, stride * (W_out - 1) + 1
    out = None
    for a in range(ph):                  # one strided view per window offset, no copies
        for b in range(pw):
            view = x[:, :, a:a + span_h:stride, b:b + span_w:stride]
            out = view.copy() if out is None else np.maximum(out, view, out=out)
    return out, (x, out, pool_param)


def max_pool_floor_backward(dout, cache):
    """dx (m, C, H, W) of max_pool_floor_forward; zero where no window reached."""
    x, out, ph, pw, stride = _pool_cache_checks(cache, "max_pool_floor_forward",
                                                floor_pool_geometry)
    check_dout(dout, out.shape)
    dout = dout.astype(x.dtype, copy=False)
    ext = _extension(x)
    if ext is not None:                  # its loops only visit the windows of out
        return ext.max_pool_backward_cython(np.ascontiguousarray(x), np.ascontiguousarray(out),
                                            np.ascontiguousarray(dout), ph, pw, stride)
    H_out, W_out = out.shape[2:]
    used_h, used_w = stride * (H_out - 1) + ph, stride * (W_out - 1) + pw
    covered = np.ascontiguousarray(x[:, :, :used_h, :used_w])
    dx = np.zeros_like(x)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    dx[:, :, :used_h, :used_w] = max_pool_backward_fast(dout, (covered, out, pool_param))
    return dx


def _check_maxima(found, out):
    """ValueError unless found (each window's first maximum) is out, NaN where out is NaN:
    a cache whose out is not the pool of its x (mixed from two calls) would drop gradients.
    The compiled loop makes the same check."""
    same = (found == out) | (np.isnan(found) & np.isnan(out))
    require(same.all(), f"cache's out is not the max pool of cache's x: the maximum of "
                        f"{int((~same).sum())} window(s) is not their out (a cache from another "
                        f"call?)")


def _max_pool_backward_reshape(x, out, dout, ph, pw):
    """NumPy backward for tiling windows: gather each window into the last axis."""
    m, C, H_out, W_out = dout.shape
    windows = x.reshape(m, C, H_out, ph, W_out, pw).transpose(0, 1, 2, 4, 3, 5)
    windows = windows.reshape(m, C, H_out, W_out, ph * pw)
    first = windows.argmax(axis=-1)
    _check_maxima(np.take_along_axis(windows, first[..., None], axis=-1)[..., 0], out)
    dwindows = np.zeros((m, C, H_out, W_out, ph * pw), dtype=x.dtype)
    np.put_along_axis(dwindows, first[..., None], dout[..., None], axis=-1)
    dwindows = dwindows.reshape(m, C, H_out, W_out, ph, pw).transpose(0, 1, 2, 4, 3, 5)
    return dwindows.reshape(x.shape)


def _max_pool_backward_im2col(x, out, dout, ph, pw, stride):
    """NumPy backward for any windows: argmax over im2col rows, then col2im."""
    m, C, H, W = x.shape
    planes = (m * C, 1, H, W)
    cols = im2col_indices(x.reshape(planes), ph, pw, 0, stride)      # (ph*pw, m*C*P)
    first, columns = cols.argmax(axis=0), np.arange(cols.shape[1])
    _check_maxima(cols[first, columns], out.ravel())
    dcols = np.zeros_like(cols)
    dcols[first, columns] = dout.ravel()
    return col2im_indices(dcols, planes, ph, pw, 0, stride).reshape(x.shape)


# ------------------------------------------------ fused conv - relu - max pool

def conv_relu_pool_forward_fast(x, theta, theta0, conv_param, pool_param):
    """max_pool(relu(conv(x))), equal to the three fast layers in sequence.

    With the extension, ReLU and pooling read each chunk's product theta_2d @ cols
    directly, so the (m, F, H_out, W_out) conv output is never stored, and the
    cache keeps only each window's first-maximum position. Returns (out, cache).
    """
    theta_2d, field, H_out, W_out = _conv_setup(x, theta, theta0, conv_param)
    m, F = x.shape[0], theta.shape[0]
    ph, pw, stride, H_pool, W_pool = pool_geometry((m, F, H_out, W_out), pool_param)
    _c_ints({"pool_param['pool_height']": ph, "pool_param['pool_width']": pw,
             "pool_param['stride']": stride, "H_out * W_out of the conv": H_out * W_out})
    ext = _extension(x)
    if ext is None:
        a, conv_cache = conv_forward_fast(x, theta, theta0, conv_param)
        r, relu_cache = relu_forward(a)
        out, pool_cache = max_pool_forward_fast(r, pool_param)
        return out, (None, conv_cache, relu_cache, pool_cache)
    bias = np.ascontiguousarray(theta0, dtype=x.dtype)
    out = np.empty((m, F, H_pool, W_pool), dtype=x.dtype)
    first = np.empty(out.shape, dtype=np.int32)

    def work(lo, hi):
        for a, b, cols in _cols_by_chunk(x, field, H_out * W_out, lo, hi):
            product = (theta_2d @ cols).reshape(F, b - a, H_out * W_out)
            out[a:b], first[a:b] = ext.bias_relu_pool_forward_cython(
                product, bias, H_out, W_out, ph, pw, stride)

    _by_image_slices(work, m, _cols_bytes(x, field, H_out * W_out))
    return out, (first, (x, theta, conv_param), H_out * W_out)


def _fused_cache_checks(cache):
    """The (first, conv_cache, P) of the compiled path's cache, checked against each other:
    first (m, F, H_pool, W_pool) int32 positions in the (H_out, W_out) conv output of P
    values per image (the loop checks each is below P), the conv cache valid."""
    first, conv_cache, P = cache_parts(cache, "conv_relu_pool_forward_fast",
                                       ("first", "conv_cache", "P"))
    x, theta, conv_param = cache_parts(conv_cache, "conv_forward_fast",
                                       ("x", "theta", "conv_param"))
    _, _, H_out, W_out = _conv_setup(x, theta, None, conv_param)
    require(_ext is not None and _extension(x) is not None,
            f"cache's first comes from the compiled path, which needs the im2col_cython "
            f"extension and float32 or float64 x, got x of dtype {x.dtype}")
    require(P == H_out * W_out, f"cache's P must be H_out * W_out = {H_out * W_out} for the "
                                f"conv of cache's x and theta, got {P!r}")
    require(isinstance(first, np.ndarray) and first.dtype == np.int32 and first.ndim == 4
            and first.flags.c_contiguous,
            f"cache's first must be a C-contiguous 4-d int32 array, got "
            f"{type(first).__name__} {getattr(first, 'dtype', '')}")
    m, F = x.shape[0], theta.shape[0]
    require(first.shape[:2] == (m, F) and first.shape[2] <= H_out and first.shape[3] <= W_out,
            f"cache's first must be (m, F, H_pool, W_pool) with m={m}, F={F}, H_pool <= "
            f"{H_out}, W_pool <= {W_out} for cache's conv, got {first.shape}")
    return first, conv_cache, P


def conv_relu_pool_backward_fast(dout, cache, compute_dx=True):
    """Returns dx, dtheta, dtheta0 of conv_relu_pool_forward_fast (dx None if not compute_dx)."""
    if isinstance(cache, tuple) and len(cache) == 4 and cache[0] is None:   # NumPy path
        _, conv_cache, relu_cache, pool_cache = cache
        dr = max_pool_backward_fast(dout, pool_cache)    # checks dout
        return conv_backward_fast(relu_backward(dr, relu_cache), conv_cache, compute_dx)
    first, conv_cache, P = _fused_cache_checks(cache)
    check_dout(dout, first.shape)
    dout = np.ascontiguousarray(dout, dtype=conv_cache[0].dtype)

    def dconv_2d(lo, hi):
        return _ext.relu_pool_backward_cython(dout[lo:hi], first[lo:hi], P)

    return _conv_backward(dconv_2d, conv_cache, compute_dx)
