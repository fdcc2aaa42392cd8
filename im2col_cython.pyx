# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Loops behind fast_layers: im2col, col2im, max-pool backward, fused ReLU + pool.

Same layout as im2col.py: cols has shape (C*HH*WW, N*P), P = H_out*W_out, with
    cols[(c*HH + a)*WW + b, n*P + i*W_out + j] = xpad[n, c, i*S + a, j*S + b]
where xpad is x zero-padded by `pad` on each side. Every function takes float32
or float64 (the `floating` fused type) and returns the same dtype. Callers
validate the geometry (validate.conv_geometry / pool_geometry) and pass
C-contiguous arrays; each function still checks, before its loop, that the shapes
it was given keep every read and write inside its arrays (bounds checks are off
inside the loops), and raises ValueError otherwise. The loops release the GIL
so that fast_layers can run them on several Python threads, one slice of the
batch each; they are not parallel themselves (OpenMP threads spinning between calls made small calls
ten times slower on a busy machine).
"""
import numpy as np
from cython cimport floating


cdef int _check_window(Py_ssize_t field_height, Py_ssize_t field_width, Py_ssize_t padding,
                       Py_ssize_t stride, Py_ssize_t H, Py_ssize_t W) except -1:
    """ValueError unless the windows are non-empty, the stride positive and the padded
    H x W image holds at least one window."""
    if field_height < 1 or field_width < 1 or stride < 1 or padding < 0:
        raise ValueError(f"window {field_height}x{field_width}, stride {stride} and padding "
                         f"{padding} must be positive (padding >= 0)")
    if H + 2 * padding < field_height or W + 2 * padding < field_width:
        raise ValueError(f"the {field_height}x{field_width} window does not fit in the "
                         f"{H}x{W} image padded by {padding}")
    return 0


cdef tuple _dims(Py_ssize_t* shape, int ndim):
    """A memoryview's shape as a tuple."""
    return tuple([shape[k] for k in range(ndim)])


cdef int _check_shape(str name, tuple got, tuple want) except -1:
    if got != want:
        raise ValueError(f"shape mismatch: {name} must have shape {want}, got {got}")
    return 0


cdef inline Py_ssize_t _first_valid(Py_ssize_t offset, Py_ssize_t stride) noexcept nogil:
    """Smallest j >= 0 with j*stride + offset >= 0."""
    if offset >= 0:
        return 0
    return (-offset + stride - 1) // stride


cdef inline Py_ssize_t _end_valid(Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t size,
                                  Py_ssize_t count) noexcept nogil:
    """One past the largest j < count with j*stride + offset < size, at least 0."""
    if size - 1 - offset < 0:
        return 0
    cdef Py_ssize_t end = (size - 1 - offset) // stride + 1
    return end if end < count else count


def im2col_cython(const floating[:, :, :, ::1] x, int field_height, int field_width,
                  int padding, int stride):
    """cols (C*HH*WW, N*P) of x (N, C, H, W); one row per (channel, filter offset)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t HH = field_height, WW = field_width, S = stride, pad = padding
    _check_window(HH, WW, pad, S, H, W)
    cdef Py_ssize_t H_out = (H + 2 * pad - HH) // S + 1
    cdef Py_ssize_t W_out = (W + 2 * pad - WW) // S + 1
    cdef Py_ssize_t P = H_out * W_out, K = C * HH * WW
    cols_arr = np.empty((K, N * P), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] cols = cols_arr
    cdef Py_ssize_t k, c, a, b, n, i, j, h, j_lo, j_hi
    cdef floating* dst
    cdef const floating* src
    with nogil:
        for k in range(K):
            c = k // (HH * WW)
            a = (k // WW) % HH
            b = k % WW
            # Output columns j whose input column j*S + b - pad lies inside x.
            j_lo = _first_valid(b - pad, S)
            j_hi = _end_valid(b - pad, S, W, W_out)
            if j_hi < j_lo:
                j_hi = j_lo
            for n in range(N):
                for i in range(H_out):
                    dst = &cols[k, n * P + i * W_out]
                    h = i * S + a - pad
                    if h < 0 or h >= H:
                        for j in range(W_out):
                            dst[j] = 0
                        continue
                    # Inline loops, not memcpy/memset: rows are short, calls cost more.
                    src = &x[n, c, h, 0]
                    for j in range(j_lo):
                        dst[j] = 0
                    if S == 1:
                        for j in range(j_lo, j_hi):
                            dst[j] = src[j + b - pad]
                    else:
                        for j in range(j_lo, j_hi):
                            dst[j] = src[j * S + b - pad]
                    for j in range(j_hi, W_out):
                        dst[j] = 0
    return cols_arr


def col2im_cython(const floating[:, ::1] cols, int N, int C, int H, int W,
                  int field_height, int field_width, int padding, int stride):
    """Adjoint of im2col_cython: dx (N, C, H, W) with overlapping windows summed."""
    cdef Py_ssize_t HH = field_height, WW = field_width, S = stride, pad = padding
    if N < 0 or C < 0:
        raise ValueError(f"N and C must be >= 0, got N={N}, C={C}")
    _check_window(HH, WW, pad, S, H, W)
    cdef Py_ssize_t H_out = (H + 2 * pad - HH) // S + 1
    cdef Py_ssize_t W_out = (W + 2 * pad - WW) // S + 1
    cdef Py_ssize_t P = H_out * W_out
    _check_shape("cols", _dims(cols.shape, 2), (C * HH * WW, N * P))
    dx_arr = np.zeros((N, C, H, W), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, :, ::1] dx = dx_arr
    cdef Py_ssize_t n, c, a, b, i, j, h, j_lo, j_hi
    cdef floating* dst
    cdef const floating* src
    with nogil:
        for n in range(N):
            for c in range(C):
                for a in range(HH):
                    for b in range(WW):
                        j_lo = _first_valid(b - pad, S)
                        j_hi = _end_valid(b - pad, S, W, W_out)
                        for i in range(H_out):
                            h = i * S + a - pad
                            if h < 0 or h >= H:
                                continue
                            src = &cols[(c * HH + a) * WW + b, n * P + i * W_out]
                            dst = &dx[n, c, h, 0]
                            for j in range(j_lo, j_hi):
                                dst[j * S + b - pad] += src[j]
    return dx_arr


def max_pool_backward_cython(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] out,
                             const floating[:, :, :, ::1] dout, int pool_height,
                             int pool_width, int stride):
    """dx of a max pool: each window's dout goes to its first maximum (row-major order).

    x: (N, C, H, W) pool input; out, dout: (N, C, H_out, W_out) pool output and its
    upstream derivative. The maximum is found again as the first entry equal to
    out, so the forward pass need not store indices. Overlapping windows add up.
    ValueError when out is not the maximum of some window (out of another x).
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t H_out = out.shape[2], W_out = out.shape[3]
    cdef Py_ssize_t ph = pool_height, pw = pool_width, S = stride
    _check_window(ph, pw, 0, S, H, W)
    _check_shape("dout", _dims(dout.shape, 4), _dims(out.shape, 4))
    if (out.shape[0] != N or out.shape[1] != C or (H_out - 1) * S + ph > H
            or (W_out - 1) * S + pw > W):
        raise ValueError(f"out of shape {_dims(out.shape, 4)} is not a {ph}x{pw} pool of "
                         f"stride {S} of x of shape {_dims(x.shape, 4)}")
    dx_arr = np.zeros((N, C, H, W), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, :, ::1] dx = dx_arr
    cdef Py_ssize_t n, c, i, j, a, b, p, q, unmatched = 0
    cdef const floating* plane
    cdef floating* dplane
    cdef floating m, top
    with nogil:
        for n in range(N):
            for c in range(C):
                plane = &x[n, c, 0, 0]
                dplane = &dx[n, c, 0, 0]
                for i in range(H_out):
                    for j in range(W_out):
                        m = out[n, c, i, j]
                        # Scan backwards with conditional moves (no unpredictable
                        # branches): the last match seen is the first in row-major order.
                        # A NaN maximum matches the window's first NaN, as np.argmax does.
                        # An entry above m means out is not this window's maximum: a
                        # cache mixed from two calls.
                        p = -1
                        top = m
                        if m == m:
                            for a in range(ph - 1, -1, -1):
                                for b in range(pw - 1, -1, -1):
                                    q = (i * S + a) * W + j * S + b
                                    p = q if plane[q] == m else p
                                    top = plane[q] if plane[q] > top else top
                        else:
                            for a in range(ph - 1, -1, -1):
                                for b in range(pw - 1, -1, -1):
                                    q = (i * S + a) * W + j * S + b
                                    p = q if plane[q] != plane[q] else p
                        if p >= 0 and not top > m:
                            dplane[p] += dout[n, c, i, j]
                        else:
                            unmatched += 1
    if unmatched:
        raise ValueError(f"out is not the max pool of x: the maximum of {unmatched} window(s) "
                         f"is not their out (a cache from another call?)")
    return dx_arr


def bias_relu_pool_forward_cython(const floating[:, :, ::1] conv, const floating[::1] bias,
                                  int H, int W, int pool_height, int pool_width, int stride):
    """Max pool of relu(conv + bias), reading conv in the layout a matrix product leaves.

    conv: (F, n, H*W), the products theta_2d @ cols of one chunk of n images;
    bias: (F,). Returns out (n, F, H_out, W_out) and first (n, F, H_out, W_out)
    int32: the position h*W + w of each window's first maximum, or -1 where the
    maximum is <= 0 or NaN, so that the ReLU passes no derivative back through it.
    A window holding NaN gives NaN, as relu and max pool do unfused.
    The bias is added before comparing, as the unfused layers do: rounding can
    turn distinct products into ties.
    """
    cdef Py_ssize_t F = conv.shape[0], n_img = conv.shape[1]
    cdef Py_ssize_t ph = pool_height, pw = pool_width, S = stride
    _check_window(ph, pw, 0, S, H, W)
    _check_shape("conv", _dims(conv.shape, 3), (F, n_img, H * W))
    _check_shape("bias", _dims(bias.shape, 1), (F,))
    cdef Py_ssize_t H_out = (H - ph) // S + 1, W_out = (W - pw) // S + 1
    dtype = np.float32 if floating is float else np.float64
    out_arr = np.empty((n_img, F, H_out, W_out), dtype=dtype)
    first_arr = np.empty((n_img, F, H_out, W_out), dtype=np.int32)
    cdef floating[:, :, :, ::1] out = out_arr
    cdef int[:, :, :, ::1] first = first_arr
    cdef Py_ssize_t f, n, i, j, a, b, p, best_p, row
    cdef const floating* plane
    cdef floating* out_row
    cdef int* first_row
    cdef floating v, best, beta
    with nogil:
        for n in range(n_img):
            for f in range(F):
                plane = &conv[f, n, 0]
                beta = bias[f]
                for i in range(H_out):
                    out_row = &out[n, f, i, 0]
                    first_row = &first[n, f, i, 0]
                    row = i * S * W
                    for j in range(W_out):
                        best_p = row + j * S
                        best = plane[best_p] + beta
                        for a in range(ph):
                            for b in range(pw):
                                p = row + a * W + j * S + b
                                v = plane[p] + beta
                                # Conditional moves, not branches: on real data these
                                # comparisons are coin flips that branches mispredict.
                                # A NaN wins and stays, as np.maximum propagates it.
                                best_p = p if v > best else best_p
                                best = v if (v > best or v != v) else best
                        # relu(NaN) = NaN, whose derivative the unfused ReLU sets to 0.
                        out_row[j] = best if (best > 0 or best != best) else 0
                        first_row[j] = <int>best_p if best > 0 else -1
    return out_arr, first_arr


def relu_pool_backward_cython(const floating[:, :, :, ::1] dout, const int[:, :, :, ::1] first,
                              int P):
    """Derivative of bias_relu_pool_forward_cython with respect to its conv input.

    dout, first: (n, F, H_out, W_out). Returns dconv (F, n*P): dout summed into
    each window's first maximum, the layout the weight-gradient product needs;
    a position outside [-1, P) is never written: it raises ValueError after the loop.
    """
    cdef Py_ssize_t n_img = dout.shape[0], F = dout.shape[1]
    cdef Py_ssize_t H_out = dout.shape[2], W_out = dout.shape[3]
    _check_shape("first", _dims(first.shape, 4), _dims(dout.shape, 4))
    if P < 0:
        raise ValueError(f"P must be >= 0, got {P}")
    dconv_arr = np.zeros((F, n_img * P), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] dconv = dconv_arr
    cdef Py_ssize_t f, n, i, j, p, outside = 0
    with nogil:
        for f in range(F):
            for n in range(n_img):
                for i in range(H_out):
                    for j in range(W_out):
                        p = first[n, f, i, j]
                        if 0 <= p < P:
                            dconv[f, n * P + p] += dout[n, f, i, j]
                        elif p != -1:
                            outside += 1
    if outside:
        raise ValueError(f"first holds {outside} position(s) outside [-1, P) = [-1, {P}) "
                         f"(a cache from another call?)")
    return dconv_arr
