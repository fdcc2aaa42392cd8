"""A channels-last (NHWC) engine: convolution, max pool and fused batch norm + activation.

Images are (m, H, W, C), C-contiguous: a pixel's channels are one contiguous run,
so im2col is a few memcpys per output pixel and a convolution's matrix product
writes its output already in NHWC order; no layer ever transposes.

    conv:   cols = im2col(x) (n*P, K), K = HH*WW*C, chunk by chunk of n images
            out  = cols @ w,   w = theta.transpose(2, 3, 1, 0).reshape(K, F)
            dw   = sum over chunks of cols^T @ dout_2d,  dx = col2im(dout_2d @ w^T)
    3x3 conv, stride 1, pad 1, >= 16 channels: Winograd F(4x4, 3x3) instead (compiled
            tile transforms, 36 batched GEMMs; 3.1-3.5x fewer multiplies), unless WINOGRAD
            is False; its backward is the exact adjoint of its forward
    pool + batch norm + activation, fused into two passes forward and two backward:
            forward:  [max pool and per-channel sums] then [act(x * scale + shift)]
            backward: [per-channel sums of g and g*(x - mean)] then [dx, routed
                      through the max pool in the same pass]

Mapping of convnet.WhitenedConvNet's layers (the weights keep the course layout):

    X (m, 3, 32, 32)      -> x = np.ascontiguousarray(X.transpose(0, 2, 3, 1))  (once)
    whitening conv - relu -> conv_forward_nhwc(x, whiten, None, {'stride': 1, 'pad': 0}),
                             then layers.relu_forward (ReLU does not care about layout)
    conv l (odd: pooled)  -> conv_forward_nhwc(h, theta_l, None, SAME_3x3), then
                             pool_bn_act_forward(h, gamma_l, beta_l, bn_param_l, POOL_PARAM)
    conv l (even)         -> conv_forward_nhwc(h, theta_l, None, SAME_3x3), then
                             pool_bn_act_forward(h, gamma_l, beta_l, bn_param_l)
    global max pool       -> max_pool_floor_forward_nhwc(h, {'pool_height': 3,
                             'pool_width': 3, 'stride': 3}) then .reshape(m, C)
    backward              -> the *_backward functions in reverse order; the first
                             conv_backward_nhwc(..., compute_dx=False).
benchmarks/bench_nhwc.py's nhwc_step is this chain, written out and checked there
against WhitenedConvNet.loss (float64: same loss and gradients to 1e-12).

theta0=None means no bias (batch norm follows every conv of the net); dtheta0 is
still returned. The loops are the compiled nhwc_cython extension (built by
setup.py); this module needs it. Each loop is serial and releases the GIL: with T
BLAS threads (threadpoolctl), every layer splits the batch into T slices run at
once on T Python threads, the convs' products on single-threaded BLAS meanwhile,
so the process never runs more than T threads.
"""

import numpy as np

from batch_slices import by_image_slices, one_blas_thread
from validate import (check_keys, conv_geometry, floor_pool_geometry, require, require_float,
                      require_shape)

try:
    import nhwc_cython as _ext
    _IMPORT_ERROR = None
except (ImportError, ValueError) as error:   # the engine has no pure-NumPy fallback
    _ext, _IMPORT_ERROR = None, error

# Bytes of cols per chunk: the chunk's cols and its product stay in L2/L3 between
# im2col and the GEMM that reads them (benchmarks/bench_nhwc.py measures the choice).
CHUNK_BYTES = 2 << 20
MIN_ROWS = 1024
ACTIVATIONS = {None: 0, "relu": 1, "gelu": 2}
BN_KEYS = ("mode", "eps", "momentum", "running_mean", "running_var")


def _extension():
    require(_ext is not None, f"the nhwc_cython extension is not available ({_IMPORT_ERROR}); "
            "build it with `python setup.py build_ext --inplace`")
    return _ext


def _require_images(name, x, dtype=None):
    """ValueError unless x is a 4-d C-contiguous float ndarray (of dtype, when given)."""
    require_float(name, x)
    require(x.dtype in (np.float32, np.float64),
            f"{name} must be float32 or float64 (the compiled loops' types), got dtype {x.dtype}")
    require(x.ndim == 4 and x.shape[0] > 0 and x.shape[3] > 0,
            f"{name} must be 4-d channels-last images (m, H, W, C) with m, C >= 1, got shape {x.shape}")
    require(x.flags.c_contiguous, f"{name} must be C-contiguous (np.ascontiguousarray), got strides {x.strides}")
    if dtype is not None:
        require(x.dtype == dtype, f"dtype mismatch: {name} must be {dtype} like the forward input, got {x.dtype}")


def _require_dout(dout, shape, dtype, layer):
    """The compiled loops trust shapes: dout must be the forward output's shape and dtype."""
    require_float("dout", dout)
    require(np.shape(dout) == tuple(shape),
            f"shape mismatch: dout of {layer} must have the forward output's shape "
            f"{tuple(shape)}, got {np.shape(dout)}")
    return np.ascontiguousarray(dout, dtype=dtype)


def _unpack(cache, count, layer):
    require(isinstance(cache, tuple) and len(cache) == count,
            f"cache must be the {count}-tuple returned by {layer}, got "
            f"{type(cache).__name__} of length {len(cache) if isinstance(cache, tuple) else '-'}")
    return cache


# -------------------------------------------------------------- convolution

def _conv_setup(x, theta, conv_param):
    """Validate; return ((HH, WW, pad, stride), H_out, W_out)."""
    _require_images("x", x)
    require_float("theta", theta)
    m, H, W, C = x.shape
    stride, pad, H_out, W_out = conv_geometry((m, C, H, W), theta.shape, conv_param)
    return (theta.shape[2], theta.shape[3], pad, stride), H_out, W_out


def _gemm_weights(theta, dtype):
    """w (HH*WW*C, F) in dtype: the filters as the right factor of cols @ w."""
    F, C, HH, WW = theta.shape
    return np.ascontiguousarray(theta.transpose(2, 3, 1, 0).reshape(HH * WW * C, F), dtype=dtype)


def _even_ranges(lo, hi, most):
    """lo:hi cut into the fewest ranges a:b of at most `most` items, their sizes within one
    of each other, the largest first (it sizes the buffers). A remainder of a few images
    would make a GEMM of few rows, far below the rate of the others (b3c2's last chunk)."""
    count = -(-(hi - lo) // most)
    if count <= 0:
        return []
    size, extra = divmod(hi - lo, count)
    bounds = [lo]
    for i in range(count):
        bounds.append(bounds[-1] + size + (i < extra))
    return list(zip(bounds[:-1], bounds[1:]))


def _chunks(lo, hi, rows_per_image, K, itemsize):
    """Ranges a:b of whole images of lo:hi whose cols take about CHUNK_BYTES (at most), and
    at least MIN_ROWS rows (small images: a GEMM of few rows runs far below peak, and each
    chunk adds a (K, F) partial weight gradient), all of about the same size."""
    rows = max(CHUNK_BYTES // max(1, K * itemsize), MIN_ROWS)
    return _even_ranges(lo, hi, max(1, rows // max(1, rows_per_image)))


def conv_forward_nhwc(x, theta, theta0, conv_param):
    """Convolution of channels-last images, equal to layers.conv_forward_naive in NHWC.

    x:      (m, H, W, C) float32/float64, C-contiguous
    theta:  (F, C, HH, WW) filters (the course layout); theta0: (F,) biases or None
    conv_param: {'stride': S, 'pad': P}
    out[n, i, j, f] = sum_{a,b,c} xpad[n, i*S + a, j*S + b, c] * theta[f, c, a, b] + theta0[f]
    A 3x3, stride-1, pad-1 conv of >= 16 channels runs by Winograd F(4x4, 3x3) (WINOGRAD,
    winograd_pays), any other by im2col + GEMM.
    Returns (out, cache): out (m, H_out, W_out, F) in x's dtype; cache (x, theta,
    conv_param, path), path 'winograd' or 'direct' (the backward takes the same one).
    """
    field, H_out, W_out = _conv_setup(x, theta, conv_param)
    F, P = theta.shape[0], H_out * W_out
    bias = None
    if theta0 is not None:
        require_shape("theta0", theta0, (F,))
        require_float("theta0", theta0)
        bias = theta0.astype(x.dtype)
    ext = _extension()
    if _winograd_applies(x.shape, theta.shape, field):
        return _winograd_forward(x, theta, bias), (x, theta, conv_param, "winograd")
    w = _gemm_weights(theta, x.dtype)
    m, K = x.shape[0], w.shape[0]
    out = np.empty((m, H_out, W_out, F), dtype=x.dtype)
    out_2d = out.reshape(m * P, F)

    def work(lo, hi):
        chunks = _chunks(lo, hi, P, K, x.itemsize)
        buffer = np.empty(((chunks[0][1] - chunks[0][0]) * P, K), dtype=x.dtype)
        for a, b in chunks:
            cols = buffer[:(b - a) * P]
            ext.im2col_nhwc(x[a:b], cols, *field)
            product = out_2d[a * P:b * P]
            np.matmul(cols, w, out=product)
            if bias is not None:
                product += bias           # while the chunk is still in cache

    by_image_slices(work, m)
    return out, (x, theta, conv_param, "direct")


def conv_backward_nhwc(dout, cache, compute_dx=True):
    """Backward pass of conv_forward_nhwc: returns dx (m, H, W, C), dtheta (F, C, HH, WW), dtheta0 (F,).

    dout: (m, H_out, W_out, F). The path the forward took (the cache's last entry) runs
    backward: Winograd's is the exact adjoint of its forward (_winograd_backward).
    Direct path: per chunk of images, cols is rebuilt (cheaper than
    keeping K/C times x alive between the passes), then
    dw += cols^T @ dout_2d and dx_chunk = col2im(dout_2d @ w^T). With
    compute_dx=False dx is None (a net's first layer needs no dx).
    """
    x, theta, conv_param, path = _unpack(cache, 4, "conv_forward_nhwc")
    require(path in ("direct", "winograd"), f"cache's path must be 'direct' or 'winograd', got {path!r}")
    field, H_out, W_out = _conv_setup(x, theta, conv_param)
    m, F = x.shape[0], theta.shape[0]
    dout = _require_dout(dout, (m, H_out, W_out, F), x.dtype, "conv_forward_nhwc")
    ext = _extension()
    if path == "winograd":
        require(_winograd_geometry(x.shape, theta.shape, field),
                f"cache's path 'winograd' needs 3x3 filters, stride 1 and pad 1, got filters "
                f"{theta.shape} and (pad, stride) {field[2:]}")
        return _winograd_backward(x, theta, dout, compute_dx)
    w, P = _gemm_weights(theta, x.dtype), H_out * W_out
    K, dout_2d = w.shape[0], dout.reshape(m * P, F)
    dx = np.empty_like(x) if compute_dx else None

    def work(lo, hi):
        dw, partial = np.zeros((K, F), dtype=x.dtype), np.empty((K, F), dtype=x.dtype)
        dtheta0 = np.zeros(F)
        chunks = _chunks(lo, hi, P, K, x.itemsize)
        rows = (chunks[0][1] - chunks[0][0]) * P
        buffer = np.empty((rows, K), dtype=x.dtype)
        dcols_buffer = np.empty((rows, K), dtype=x.dtype) if compute_dx else None
        for a, b in chunks:
            d = dout_2d[a * P:b * P]
            cols = buffer[:(b - a) * P]
            ext.im2col_nhwc(x[a:b], cols, *field)
            np.matmul(cols.T, d, out=partial)
            dw += partial
            dtheta0 += d.sum(axis=0, dtype=np.float64)
            if compute_dx:
                dcols = dcols_buffer[:(b - a) * P]
                np.matmul(d, w.T, out=dcols)
                ext.col2im_nhwc(dcols, dx[a:b], *field)
        return dw, dtheta0

    parts = by_image_slices(work, m)
    dw, dtheta0 = sum(p[0] for p in parts), sum(p[1] for p in parts)
    HH, WW = field[:2]
    dtheta = dw.reshape(HH, WW, theta.shape[1], F).transpose(3, 2, 0, 1)
    return dx, np.ascontiguousarray(dtheta, dtype=theta.dtype), dtheta0.astype(theta.dtype)


# ------------------------------------------------------ Winograd F(4x4, 3x3)
#
# A 3x3, stride-1, pad-1 convolution computed on 4x4 output tiles (Lavin & Gray 2016):
#   V = B^T d B  (each 6x6 input patch d, per channel; compiled, nhwc_cython)
#   U = G g G^T  (each 3x3 filter g; NumPy, small)
#   M[p] = V[p] @ U[p]  for the 36 points p: (T, C) @ (C, F), np.matmul
#   out = A^T M A  per tile, cropped to H, W (compiled)
# 36 * T * C * F multiplies instead of 9 * m * H * W * C * F: 3.1x fewer at 7x7, 3.5x at 15x15.
# Backward, the exact adjoint of each step in reverse:
#   dM = A dY A^T,  dU = sum over chunks V[p]^T @ dM[p],  dtheta = G^T dU G,
#   dV = dM[p] @ U[p]^T,  dx = sum over tiles of B dV B^T on its patch (overlaps add).

# Winograd replaces the direct path for the shapes winograd_pays accepts; False: never.
WINOGRAD = True
# The fewest input and output channels and the smallest image side. Winograd took 0.5-0.9 of
# the direct time down to 16 channels (b1c1's 24 -> 16 ... 128 at 31x31, 16 and 32 channels
# at 15x15 and 7x7: benchmarks/README.md); at 3x3 (one tile per image, 36 products for 9
# pixels) it is no faster.
WINOGRAD_MIN_CHANNELS = 16
WINOGRAD_MIN_SIDE = 7
# Bytes of V and M per chunk of images (1-4 MiB measured alike, 16 MiB slower), and the
# fewest tiles a chunk holds: each point's GEMM has one row per tile, and a few dozen rows
# re-read U[p] (C*F values) too often.
WINOGRAD_CHUNK_BYTES = 4 << 20
WINOGRAD_MIN_TILES = 128
_G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
_GG = np.kron(_G, _G)        # (36, 9): GG[6i + j, 3a + b] = G[i, a] G[j, b]


def winograd_pays(H, W, C, F):
    """Whether Winograd beat the direct path, forward and backward, at this layer's shape
    (float32, batch 256, 1 and 2 threads): every 3x3 layer of the 4.4.7 nets but b3c2, from
    b1c1 (24 channels in, 31x31) to 7x7 images, down to 16 channels (0.5-0.9 of the direct
    time); not b3c2 at 3x3 (0.9 forward, 1.0 backward with 2 threads)."""
    return min(C, F) >= WINOGRAD_MIN_CHANNELS and min(H, W) >= WINOGRAD_MIN_SIDE


def _winograd_geometry(x_shape, theta_shape, field):
    """Whether Winograd F(4x4, 3x3) computes this conv: 3x3 filters, pad 1, stride 1."""
    return tuple(theta_shape[2:]) == (3, 3) and field[2:] == (1, 1)


def _winograd_applies(x_shape, theta_shape, field):
    """Whether conv_forward_nhwc takes the Winograd path for this conv."""
    m, H, W, C = x_shape
    return WINOGRAD and _winograd_geometry(x_shape, theta_shape, field) and winograd_pays(H, W, C, theta_shape[0])


def _winograd_filters(theta, dtype):
    """U (36, C, F) in dtype: U[6i + j, c, f] = (G theta[f, c] G^T)[i, j], i.e. one product
    GG (36, 9) @ (9, C*F), GG = kron(G, G), in float64 (U is rounded once), on one BLAS
    thread (batch_slices.one_blas_thread: the slices that follow need both cores)."""
    F, C = theta.shape[:2]
    g = np.ascontiguousarray(theta.transpose(2, 3, 1, 0), dtype=np.float64).reshape(9, C * F)
    with one_blas_thread():
        return (_GG @ g).astype(dtype).reshape(36, C, F)


def _winograd_filters_adjoint(dU, theta_shape):
    """dtheta (F, C, 3, 3) = G^T dU G per (c, f), the adjoint of _winograd_filters:
    GG^T (9, 36) @ dU (36, C*F), in float64, on one BLAS thread as _winograd_filters."""
    F, C = theta_shape[:2]
    with one_blas_thread():
        dg = _GG.T @ dU.reshape(36, C * F).astype(np.float64)
    return dg.reshape(3, 3, C, F).transpose(3, 2, 0, 1)


def _winograd_chunks(lo, hi, tiles_per_image, C, F, itemsize):
    """Ranges a:b of whole images of lo:hi whose V and M take about WINOGRAD_CHUNK_BYTES (at
    most), and at least WINOGRAD_MIN_TILES tiles (each point's GEMM has one row per tile),
    all of about the same size."""
    tiles = max(WINOGRAD_CHUNK_BYTES // (36 * (C + F) * itemsize), WINOGRAD_MIN_TILES)
    return _even_ranges(lo, hi, max(1, tiles // tiles_per_image))


def _winograd_buffers(chunks, tiles_per_image, C, F, dtype):
    """Flat room for V (36, T, C) and M (36, T, F) of the largest chunk (T its tiles)."""
    T = (chunks[0][1] - chunks[0][0]) * tiles_per_image
    return np.empty(36 * T * C, dtype=dtype), np.empty(36 * T * F, dtype=dtype)


def _points(buffer, tiles, width):
    """The C-contiguous (36, tiles, width) array at the start of a flat buffer."""
    return buffer[:36 * tiles * width].reshape(36, tiles, width)


def _tiles_per_image(H, W):
    """4x4 output tiles of an H x W image, partial ones at the bottom and right included."""
    return ((H + 3) // 4) * ((W + 3) // 4)


def _winograd_forward(x, theta, bias):
    """out (m, H, W, F) of a 3x3, stride-1, pad-1 conv of x (m, H, W, C) by Winograd."""
    ext, (m, H, W, C), F = _extension(), x.shape, theta.shape[0]
    U, tpi = _winograd_filters(theta, x.dtype), _tiles_per_image(H, W)
    out = np.empty((m, H, W, F), dtype=x.dtype)

    def work(lo, hi):
        chunks = _winograd_chunks(lo, hi, tpi, C, F, x.itemsize)
        V_buffer, M_buffer = _winograd_buffers(chunks, tpi, C, F, x.dtype)
        for a, b in chunks:
            V, M = _points(V_buffer, (b - a) * tpi, C), _points(M_buffer, (b - a) * tpi, F)
            ext.winograd_input_nhwc(x[a:b], V)
            np.matmul(V, U, out=M)
            ext.winograd_output_nhwc(M, out[a:b])
            if bias is not None:
                out[a:b] += bias

    by_image_slices(work, m)
    return out


def _winograd_backward(x, theta, dout, compute_dx):
    """(dx or None, dtheta, dtheta0) of _winograd_forward: its exact adjoint, V recomputed
    per chunk (cheaper than keeping 2.25x x alive between the passes)."""
    ext, (m, H, W, C), F = _extension(), x.shape, theta.shape[0]
    U, tpi = _winograd_filters(theta, x.dtype), _tiles_per_image(H, W)
    U_T = np.ascontiguousarray(U.transpose(0, 2, 1))
    dx = np.empty_like(x) if compute_dx else None

    def work(lo, hi):
        dU, partial = np.zeros((36, C, F), dtype=x.dtype), np.empty((36, C, F), dtype=x.dtype)
        dtheta0 = np.zeros(F)
        chunks = _winograd_chunks(lo, hi, tpi, C, F, x.itemsize)
        V_buffer, M_buffer = _winograd_buffers(chunks, tpi, C, F, x.dtype)
        for a, b in chunks:
            V, dM = _points(V_buffer, (b - a) * tpi, C), _points(M_buffer, (b - a) * tpi, F)
            ext.winograd_input_nhwc(x[a:b], V)
            ext.winograd_output_adjoint_nhwc(dout[a:b], dM)
            np.matmul(V.transpose(0, 2, 1), dM, out=partial)
            dU += partial
            dtheta0 += dout[a:b].reshape(-1, F).sum(axis=0, dtype=np.float64)
            if compute_dx:
                np.matmul(dM, U_T, out=V)           # dV, in V's place (V is used up)
                ext.winograd_input_adjoint_nhwc(V, dx[a:b])
        return dU, dtheta0

    parts = by_image_slices(work, m)
    dU, dtheta0 = sum(p[0] for p in parts), sum(p[1] for p in parts)
    dtheta = _winograd_filters_adjoint(dU, theta.shape)
    return dx, np.ascontiguousarray(dtheta, dtype=theta.dtype), dtheta0.astype(theta.dtype)


# -------------------------------------------------------------- max pooling

def _pool_setup(x_shape, pool_param):
    """Validate a floor-mode pool of NHWC images; return (ph, pw, stride, H_out, W_out)."""
    m, H, W, C = x_shape
    ph, pw, stride, H_out, W_out = floor_pool_geometry((m, C, H, W), pool_param)
    require(ph * pw <= 255, f"pool window pool_height*pool_width = {ph * pw} must be at most 255 "
            "(the argmax is stored in one byte)")
    return ph, pw, stride, H_out, W_out


def _pool(x, pool_param, shift=None):
    """(out, argmax, sums, sumsq): the max pool of x and, given shift (C,), the float64
    per-channel sums of (out - shift) and (out - shift)^2. Slices of the batch run at once."""
    _require_images("x", x)
    ph, pw, stride, H_out, W_out = _pool_setup(x.shape, pool_param)
    m, C = x.shape[0], x.shape[3]
    out = np.empty((m, H_out, W_out, C), dtype=x.dtype)
    argmax = np.empty(out.shape, dtype=np.uint8)
    with_stats, ext = shift is not None, _extension()

    def work(lo, hi):
        sums, sumsq = np.zeros(C), np.zeros(C)
        ext.max_pool_stats_nhwc(x[lo:hi], out[lo:hi], argmax[lo:hi], shift if with_stats else sums,
                                sums, sumsq, ph, pw, stride, with_stats)
        return sums, sumsq

    parts = by_image_slices(work, m, blas_products=False)
    return out, argmax, sum(p[0] for p in parts), sum(p[1] for p in parts)


def max_pool_floor_forward_nhwc(x, pool_param):
    """Floor-mode max pool of channels-last images (windows that do not fit are dropped).

    x: (m, H, W, C); pool_param {'pool_height', 'pool_width', 'stride'}.
    out[n, i, j, c] = max_{a,b} x[n, i*S + a, j*S + b, c], shape (m, H_out, W_out, C) with
    H_out = (H - pool_height) // S + 1. The cache keeps one byte per output (the
    window offset of the first maximum), not x. Returns (out, cache).
    """
    out, argmax, _, _ = _pool(x, pool_param)
    return out, (argmax, x.shape, x.dtype, pool_param)


def _check_argmax(argmax, shape):
    require(isinstance(argmax, np.ndarray) and argmax.dtype == np.uint8 and argmax.flags.c_contiguous,
            f"cache's argmax must be a C-contiguous uint8 array, got {type(argmax).__name__} "
            f"{getattr(argmax, 'dtype', '')}")
    require_shape("cache's argmax (pool output)", argmax, shape)


def _pool_dx_shape(x_shape, pool_param, out_shape):
    """The pool geometry of a cache, checked against its own pool output shape."""
    require(isinstance(x_shape, tuple) and len(x_shape) == 4,
            f"cache's x shape must be a 4-tuple, got {x_shape!r}")
    ph, pw, stride, H_out, W_out = _pool_setup(x_shape, pool_param)
    require((x_shape[0], H_out, W_out, x_shape[3]) == tuple(out_shape),
            f"shape mismatch: a {ph}x{pw} pool of stride {stride} maps {x_shape} to "
            f"{(x_shape[0], H_out, W_out, x_shape[3])}, but the cache holds a pool output of {tuple(out_shape)}")
    return ph, pw, stride


def _routed(bad):
    require(bad == 0, f"corrupt cache: {bad} argmax entries lie outside their pool window")


def max_pool_floor_backward_nhwc(dout, cache):
    """dx (m, H, W, C) of max_pool_floor_forward_nhwc: each window's dout goes to its first
    maximum; zero where no window reached."""
    argmax, x_shape, dtype, pool_param = _unpack(cache, 4, "max_pool_floor_forward_nhwc")
    require(dtype in (np.float32, np.float64), f"cache's dtype must be float32 or float64, got {dtype!r}")
    _check_argmax(argmax, np.shape(argmax))
    ph, pw, stride = _pool_dx_shape(x_shape, pool_param, argmax.shape)
    dout = _require_dout(dout, argmax.shape, dtype, "max_pool_floor_forward_nhwc")
    dx, ext = np.empty(x_shape, dtype=dtype), _extension()
    _routed(sum(by_image_slices(lambda lo, hi: ext.max_pool_backward_nhwc(
        dout[lo:hi], argmax[lo:hi], dx[lo:hi], ph, pw, stride), len(dx), blas_products=False)))
    return dx


# ------------------------------------------ pool + batch norm + activation

def _channel_stats(x, shift):
    """Float64 per-channel sums of (x - shift) and (x - shift)^2 over every pixel of x."""
    C, ext = x.shape[3], _extension()

    def work(lo, hi):
        sums, sumsq = np.zeros(C), np.zeros(C)
        ext.channel_stats_nhwc(x[lo:hi].reshape(-1, C), shift, sums, sumsq)
        return sums, sumsq

    parts = by_image_slices(work, len(x), blas_products=False)
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def _bn_settings(x, gamma, beta, bn_param, activation):
    check_keys("bn_param", bn_param, BN_KEYS)
    mode = bn_param.get("mode")
    require(mode in ("train", "test"), f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    require(activation in ACTIVATIONS,
            f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
    C = x.shape[3]
    for name, value in (("gamma", gamma), ("beta", beta)):
        require_float(name, value)
        require(np.shape(value) == (C,), f"shape mismatch: {name} must be ({C},), one per "
                f"channel of x {x.shape}, got {np.shape(value)}")
    for name in ("running_mean", "running_var"):
        if name in bn_param:              # broadcasting a (1,) statistic would go unnoticed
            require_shape(f"bn_param['{name}']", bn_param[name], (C,))
    momentum = bn_param.get("momentum", 0.9)
    require(0 <= momentum <= 1, f"bn_param['momentum'] must be in [0, 1], got {momentum!r}")
    return mode, float(bn_param.get("eps", 1e-5)), momentum


def pool_bn_act_forward(x, gamma, beta, bn_param, pool_param=None, activation="relu"):
    """act(batchnorm(maxpool(x))) of channels-last images in two passes over memory.

    x: (m, H, W, C); gamma, beta: (C,); bn_param as in layers.spatial_batchnorm_forward
    (mode, eps, momentum, running_mean, running_var; running stats updated in train mode);
    pool_param: a floor-mode max pool, or None for no pool; activation 'relu', 'gelu'
    (tanh form) or None.
    With p = maxpool(x) (or x), per channel over m*H_out*W_out values:
      mean, var = the batch's (train) or the running ones (test),
      out = act(p * scale + shift), scale = gamma / sqrt(var + eps), shift = beta - mean * scale.
    Pass 1 pools and sums (p - s) and (p - s)^2 in float64 (s: p's first pixel, which keeps the
    variance from cancelling when |mean| >> std); pass 2 normalizes and activates.
    Returns (out, cache); out (m, H_out, W_out, C).
    """
    _require_images("x", x)
    mode, eps, momentum = _bn_settings(x, gamma, beta, bn_param, activation)
    ext, C = _extension(), x.shape[3]
    shift0 = x.reshape(-1, C)[0].astype(np.float64) if x.size else np.zeros(C)
    if pool_param is None:
        p, argmax = x, None
        sums, sumsq = np.zeros(C), np.zeros(C)
        if mode == "train":
            sums, sumsq = _channel_stats(x, shift0)
    else:
        p, argmax, sums, sumsq = _pool(x, pool_param, shift0 if mode == "train" else None)
    count = p.size // C
    if mode == "train":
        require(count > 0, f"x must hold at least one pixel per channel for batch statistics, got {x.shape}")
        mean = shift0 + sums / count
        var = np.maximum(sumsq / count - (sums / count) ** 2, 0)
        for name, batch in (("running_mean", mean), ("running_var", var)):
            running = bn_param.get(name, np.zeros(C) if name == "running_mean" else np.ones(C))
            bn_param[name] = (momentum * running + (1 - momentum) * batch).astype(x.dtype)
    else:
        mean = np.asarray(bn_param.get("running_mean", np.zeros(C)), dtype=np.float64)
        var = np.asarray(bn_param.get("running_var", np.ones(C)), dtype=np.float64)
    inv_std = 1 / np.sqrt(var + eps)
    scale = (gamma * inv_std).astype(x.dtype)
    shift = (beta - mean * gamma * inv_std).astype(x.dtype)
    out = np.empty_like(p)
    by_image_slices(lambda lo, hi: ext.bn_act_forward_nhwc(
        p[lo:hi].reshape(-1, C), out[lo:hi].reshape(-1, C), scale, shift, ACTIVATIONS[activation]),
        len(p), blas_products=False)
    stats = (mean.astype(x.dtype), inv_std.astype(x.dtype), scale, shift)
    return out, (p, argmax, x.shape, pool_param, np.asarray(gamma), stats, activation, mode)


def _check_bn_cache(cache):
    """Unpack and check a pool_bn_act_forward cache against itself (another call's parts,
    or a cache edited by hand, raise ValueError here instead of reaching the loops)."""
    p, argmax, x_shape, pool_param, gamma, stats, activation, mode = _unpack(cache, 8, "pool_bn_act_forward")
    _require_images("cache's pooled x", p)
    C = p.shape[3]
    require(activation in ACTIVATIONS and mode in ("train", "test"),
            f"cache's activation / mode are not valid: {activation!r}, {mode!r}")
    require(isinstance(stats, tuple) and len(stats) == 4, "cache's statistics must be a 4-tuple")
    for name, value in zip(("gamma", "mean", "inv_std", "scale", "shift"), (gamma,) + stats):
        require_float(f"cache's {name}", value)
        require_shape(f"cache's {name} (one per channel of the pooled x {p.shape})", value, (C,))
    stats = tuple(np.ascontiguousarray(s, dtype=p.dtype) for s in stats)
    if argmax is None:
        require(tuple(x_shape) == p.shape, f"shape mismatch: cache's x shape {x_shape} differs from its "
                f"unpooled x {p.shape}")
    else:
        _check_argmax(argmax, p.shape)
        _pool_dx_shape(x_shape, pool_param, p.shape)
    return p, argmax, x_shape, pool_param, gamma, stats, activation, mode


def pool_bn_act_backward(dout, cache):
    """Backward pass of pool_bn_act_forward: returns dx (m, H, W, C), dgamma (C,), dbeta (C,).

    With z = p * scale + shift, g = dout * act'(z) and xhat = (p - mean) * inv_std:
      dbeta = sum g,  dgamma = sum g * xhat,
      dp = gamma * inv_std * (g - dbeta / N - xhat * dgamma / N)   (train; N = m*H_out*W_out)
      dp = gamma * inv_std * g                                      (test)
    dp is A*g + B*p + C' per channel: pass 1 sums, pass 2 writes dp, routed to each
    pool window's maximum in the same pass.
    """
    p, argmax, x_shape, pool_param, gamma, stats, activation, mode = _check_bn_cache(cache)
    mean, inv_std, scale, shift = stats
    dout = _require_dout(dout, p.shape, p.dtype, "pool_bn_act_forward")
    ext, C, act = _extension(), p.shape[3], ACTIVATIONS[activation]
    m = len(p)

    def sums(lo, hi):
        sum_g, sum_gx = np.zeros(C), np.zeros(C)
        ext.bn_act_backward_sums_nhwc(dout[lo:hi].reshape(-1, C), p[lo:hi].reshape(-1, C), scale, shift,
                                      act, mean, sum_g, sum_gx)
        return sum_g, sum_gx

    parts = by_image_slices(sums, m, blas_products=False)
    sum_g, sum_gx = sum(q[0] for q in parts), sum(q[1] for q in parts)
    inv = inv_std.astype(np.float64)
    dbeta, dgamma = sum_g, sum_gx * inv
    A = gamma.astype(np.float64) * inv
    if mode == "train":
        count = p.size // C
        B = -A * inv * dgamma / count
        C_ = -A * dbeta / count - B * mean
    else:
        B, C_ = np.zeros(C), np.zeros(C)
    A, B, C_ = (v.astype(p.dtype) for v in (A, B, C_))
    dx = np.empty(x_shape, dtype=p.dtype)
    if argmax is None:
        by_image_slices(lambda lo, hi: ext.bn_act_backward_nhwc(
            dout[lo:hi].reshape(-1, C), p[lo:hi].reshape(-1, C), scale, shift, act, A, B, C_,
            dx[lo:hi].reshape(-1, C)), m, blas_products=False)
    else:
        ph, pw, stride = _pool_dx_shape(x_shape, pool_param, p.shape)
        _routed(sum(by_image_slices(lambda lo, hi: ext.bn_act_pool_backward_nhwc(
            dout[lo:hi], p[lo:hi], argmax[lo:hi], scale, shift, act, A, B, C_, dx[lo:hi], ph, pw, stride),
            m, blas_products=False)))
    return dx, dgamma.astype(gamma.dtype), dbeta.astype(gamma.dtype)
