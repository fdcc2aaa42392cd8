# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Loops behind fast_layers: im2col, col2im and max-pool backward.

Same layout as im2col.py: cols has shape (C*HH*WW, N*P), P = H_out*W_out, with
    cols[(c*HH + a)*WW + b, n*P + i*W_out + j] = xpad[n, c, i*S + a, j*S + b]
where xpad is x zero-padded by `pad` on each side. Every function takes float32
or float64 (the `floating` fused type) and returns the same dtype. Callers
validate the geometry (layers.conv_geometry / pool_geometry) and pass
C-contiguous arrays. Loops run without the GIL; they run in parallel only when
setup.py was asked to build with OpenMP (HW5_OPENMP=1), serially otherwise.
"""
import numpy as np
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange

cnp.import_array()


cdef inline Py_ssize_t _first_valid(Py_ssize_t offset, Py_ssize_t stride) noexcept nogil:
    """Smallest j >= 0 with j*stride + offset >= 0."""
    if offset >= 0:
        return 0
    return (-offset + stride - 1) // stride


cdef inline Py_ssize_t _end_valid(Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t size,
                                  Py_ssize_t count) noexcept nogil:
    """One past the largest j < count with j*stride + offset < size (>= 0)."""
    if size - 1 - offset < 0:
        return 0
    cdef Py_ssize_t end = (size - 1 - offset) // stride + 1
    return end if end < count else count


def im2col_cython(const floating[:, :, :, ::1] x, int field_height, int field_width,
                  int padding, int stride):
    """cols (C*HH*WW, N*P) of x (N, C, H, W); one row per (channel, filter offset)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t HH = field_height, WW = field_width, S = stride, pad = padding
    cdef Py_ssize_t H_out = (H + 2 * pad - HH) // S + 1
    cdef Py_ssize_t W_out = (W + 2 * pad - WW) // S + 1
    cdef Py_ssize_t P = H_out * W_out, K = C * HH * WW
    dtype = np.float32 if floating is float else np.float64
    cols_arr = np.empty((K, N * P), dtype=dtype)
    cdef floating[:, ::1] cols = cols_arr
    cdef Py_ssize_t k, c, a, b, n, i, j, h, j_lo, j_hi, base
    # One row per iteration: rows are disjoint, so threads never share a write.
    for k in prange(K, nogil=True, schedule="static"):
        c = k // (HH * WW)
        a = (k // WW) % HH
        b = k % WW
        j_lo = _first_valid(b - pad, S)
        j_hi = _end_valid(b - pad, S, W, W_out)
        for n in range(N):
            for i in range(H_out):
                base = n * P + i * W_out
                h = i * S + a - pad
                if h < 0 or h >= H or j_lo >= j_hi:
                    for j in range(W_out):
                        cols[k, base + j] = 0
                    continue
                for j in range(j_lo):
                    cols[k, base + j] = 0
                for j in range(j_lo, j_hi):
                    cols[k, base + j] = x[n, c, h, j * S + b - pad]
                for j in range(j_hi, W_out):
                    cols[k, base + j] = 0
    return cols_arr


def col2im_cython(const floating[:, ::1] cols, int N, int C, int H, int W,
                  int field_height, int field_width, int padding, int stride):
    """Adjoint of im2col_cython: dx (N, C, H, W) with overlapping windows summed."""
    cdef Py_ssize_t HH = field_height, WW = field_width, S = stride, pad = padding
    cdef Py_ssize_t H_out = (H + 2 * pad - HH) // S + 1
    cdef Py_ssize_t W_out = (W + 2 * pad - WW) // S + 1
    cdef Py_ssize_t P = H_out * W_out
    dtype = np.float32 if floating is float else np.float64
    dx_arr = np.zeros((N, C, H, W), dtype=dtype)
    cdef floating[:, :, :, ::1] dx = dx_arr
    cdef Py_ssize_t nc, n, c, a, b, k, i, j, h, j_lo, j_hi, base
    # One (image, channel) plane per iteration: planes are disjoint.
    for nc in prange(N * C, nogil=True, schedule="static"):
        n = nc // C
        c = nc % C
        for a in range(HH):
            for b in range(WW):
                k = (c * HH + a) * WW + b
                j_lo = _first_valid(b - pad, S)
                j_hi = _end_valid(b - pad, S, W, W_out)
                for i in range(H_out):
                    h = i * S + a - pad
                    if h < 0 or h >= H:
                        continue
                    base = n * P + i * W_out
                    for j in range(j_lo, j_hi):
                        dx[n, c, h, j * S + b - pad] += cols[k, base + j]
    return dx_arr


def max_pool_backward_cython(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] out,
                             const floating[:, :, :, ::1] dout, int pool_height,
                             int pool_width, int stride):
    """dx of a max pool: each window's dout goes to its first maximum (row-major order).

    x: (N, C, H, W) pool input; out, dout: (N, C, H_out, W_out) pool output and its
    upstream derivative. The maximum is found again as the first entry equal to
    out, so the forward pass need not store indices. Overlapping windows add up.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t H_out = out.shape[2], W_out = out.shape[3]
    cdef Py_ssize_t ph = pool_height, pw = pool_width, S = stride
    dtype = np.float32 if floating is float else np.float64
    dx_arr = np.zeros((N, C, H, W), dtype=dtype)
    cdef floating[:, :, :, ::1] dx = dx_arr
    cdef Py_ssize_t nc, n, c, i, j, a, b, h, w
    cdef floating m
    cdef bint found
    for nc in prange(N * C, nogil=True, schedule="static"):
        n = nc // C
        c = nc % C
        for i in range(H_out):
            for j in range(W_out):
                m = out[n, c, i, j]
                found = False
                for a in range(ph):
                    h = i * S + a
                    for b in range(pw):
                        w = j * S + b
                        if x[n, c, h, w] == m:
                            dx[n, c, h, w] += dout[n, c, i, j]
                            found = True
                            break
                    if found:
                        break
    return dx_arr


def bias_relu_pool_forward_cython(const floating[:, :, ::1] conv, const floating[::1] bias,
                                  int H, int W, int pool_height, int pool_width, int stride):
    """Max pool of relu(conv + bias), reading conv in the layout a matrix product leaves.

    conv: (F, n, H*W), the products theta_2d @ cols of one chunk of n images;
    bias: (F,). Returns out (n, F, H_out, W_out) and first (n, F, H_out, W_out)
    int32: the position h*W + w of each window's first maximum, or -1 where the
    maximum is <= 0, so that the ReLU passes no derivative back through it.
    """
    cdef Py_ssize_t F = conv.shape[0], n_img = conv.shape[1]
    cdef Py_ssize_t ph = pool_height, pw = pool_width, S = stride
    cdef Py_ssize_t H_out = (H - ph) // S + 1, W_out = (W - pw) // S + 1
    dtype = np.float32 if floating is float else np.float64
    out_arr = np.empty((n_img, F, H_out, W_out), dtype=dtype)
    first_arr = np.empty((n_img, F, H_out, W_out), dtype=np.int32)
    cdef floating[:, :, :, ::1] out = out_arr
    cdef int[:, :, :, ::1] first = first_arr
    cdef Py_ssize_t f, n, i, j, a, b, p, best_p
    cdef floating v, best
    with nogil:
        for n in range(n_img):
            for f in range(F):
                for i in range(H_out):
                    for j in range(W_out):
                        # Add the bias before comparing, as the unfused layers do:
                        # rounding can turn distinct products into ties.
                        best_p = (i * S) * W + j * S
                        best = conv[f, n, best_p] + bias[f]
                        for a in range(ph):
                            for b in range(pw):
                                p = (i * S + a) * W + j * S + b
                                v = conv[f, n, p] + bias[f]
                                if v > best:
                                    best, best_p = v, p
                        if best > 0:
                            out[n, f, i, j] = best
                            first[n, f, i, j] = <int>best_p
                        else:
                            out[n, f, i, j] = 0
                            first[n, f, i, j] = -1
    return out_arr, first_arr


def relu_pool_backward_cython(const floating[:, :, :, ::1] dout, const int[:, :, :, ::1] first,
                              int P):
    """Derivative of bias_relu_pool_forward_cython with respect to its conv input.

    dout, first: (n, F, H_out, W_out). Returns dconv (F, n*P): dout summed into
    each window's first maximum, the layout the weight-gradient product needs.
    """
    cdef Py_ssize_t n_img = dout.shape[0], F = dout.shape[1]
    cdef Py_ssize_t H_out = dout.shape[2], W_out = dout.shape[3]
    dtype = np.float32 if floating is float else np.float64
    dconv_arr = np.zeros((F, n_img * P), dtype=dtype)
    cdef floating[:, ::1] dconv = dconv_arr
    cdef Py_ssize_t f, n, i, j, p
    with nogil:
        for f in range(F):
            for n in range(n_img):
                for i in range(H_out):
                    for j in range(W_out):
                        p = first[n, f, i, j]
                        if p >= 0:
                            dconv[f, n * P + p] += dout[n, f, i, j]
    return dconv_arr
