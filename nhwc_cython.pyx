# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Loops behind fast_nhwc: channels-last (NHWC) im2col / col2im, fused elementwise passes,
and Winograd F(4x4, 3x3)'s tile transforms and their adjoints (at the end of the file).

Layout: images are (N, H, W, C), C-contiguous, so a pixel's C channels are one
contiguous run. The column matrix of a convolution is

    cols[(n*H_out + i)*W_out + j, (a*WW + b)*C + c] = xpad[n, i*S + a, j*S + b, c]

(N*P, K) with P = H_out*W_out, K = HH*WW*C: one row per output pixel, so
cols @ w (K, F) is already the NHWC output. For a fixed kernel row a, the
kernel columns b that land inside x read consecutive pixels, i.e. ONE
contiguous run of (count*C) values: im2col is HH memcpys per output pixel.

Every function takes float32 or float64 (the `floating` fused type). Callers
(fast_nhwc.py) validate shapes, dtypes and contiguity first: bounds checks are
off here. The loops are serial and release the GIL, so that fast_nhwc can run
them on slices of the batch at once. Per-channel reductions accumulate in float64.
"""
from cython cimport floating
from libc.math cimport tanh, sqrt
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

# Activations after batch norm (fast_nhwc.ACTIVATIONS maps names to these codes).
cdef enum:
    ACT_NONE = 0
    ACT_RELU = 1
    ACT_GELU = 2
# GELU, tanh form: gelu(z) = z/2 * (1 + tanh(K0 * (z + K1 * z^3)))
cdef double K0 = 0.7978845608028654     # sqrt(2 / pi)
cdef double K1 = 0.044715


cdef inline Py_ssize_t _first_valid(Py_ssize_t offset, Py_ssize_t stride) noexcept nogil:
    """Smallest j >= 0 with j*stride + offset >= 0."""
    if offset >= 0:
        return 0
    return (-offset + stride - 1) // stride


cdef inline Py_ssize_t _clip(Py_ssize_t v, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    return lo if v < lo else (hi if v > hi else v)


def im2col_nhwc(const floating[:, :, :, ::1] x, floating[:, ::1] cols, int field_height,
                int field_width, int padding, int stride):
    """Fill cols (N*P, HH*WW*C) from x (N, H, W, C); zero where the window hangs over the pad."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t HH = field_height, WW = field_width, S = stride, pad = padding
    cdef Py_ssize_t H_out = (H + 2 * pad - HH) // S + 1
    cdef Py_ssize_t W_out = (W + 2 * pad - WW) // S + 1
    cdef Py_ssize_t n, i, j, a, h, w0, b_lo, b_hi, k, row = 0
    cdef size_t item = sizeof(floating)
    cdef floating* dst
    cdef const floating* src
    with nogil:
        for n in range(N):
            for i in range(H_out):
                for j in range(W_out):
                    w0 = j * S - pad                  # input column of kernel column b = 0
                    b_lo = _clip(-w0, 0, WW)          # kernel columns inside x: b_lo:b_hi
                    b_hi = _clip(W - w0, b_lo, WW)
                    for a in range(HH):
                        dst = &cols[row, a * WW * C]
                        h = i * S + a - pad
                        if h < 0 or h >= H:
                            memset(dst, 0, WW * C * item)
                            continue
                        if b_lo > 0:
                            memset(dst, 0, b_lo * C * item)
                        if b_hi > b_lo:
                            src = &x[n, h, w0 + b_lo, 0]
                            if C <= 8:                # tiny runs: a loop beats a memcpy call
                                for k in range((b_hi - b_lo) * C):
                                    dst[b_lo * C + k] = src[k]
                            else:
                                memcpy(dst + b_lo * C, src,
                                       (b_hi - b_lo) * C * item)
                        if b_hi < WW:
                            memset(dst + b_hi * C, 0, (WW - b_hi) * C * item)
                    row += 1


def col2im_nhwc(const floating[:, ::1] cols, floating[:, :, :, ::1] dx, int field_height,
                int field_width, int padding, int stride):
    """Adjoint of im2col_nhwc: dx (N, H, W, C) = sum of each cols row over its window.

    dx is overwritten (zeroed first); overlapping windows add up.
    """
    cdef Py_ssize_t N = dx.shape[0], H = dx.shape[1], W = dx.shape[2], C = dx.shape[3]
    cdef Py_ssize_t HH = field_height, WW = field_width, S = stride, pad = padding
    cdef Py_ssize_t H_out = (H + 2 * pad - HH) // S + 1
    cdef Py_ssize_t W_out = (W + 2 * pad - WW) // S + 1
    cdef Py_ssize_t n, i, j, a, h, w0, b_lo, b_hi, k, L, row = 0
    cdef floating* dst
    cdef const floating* src
    with nogil:
        if N > 0:
            memset(&dx[0, 0, 0, 0], 0, N * H * W * C * sizeof(floating))
        for n in range(N):
            for i in range(H_out):
                for j in range(W_out):
                    w0 = j * S - pad
                    b_lo = _clip(-w0, 0, WW)
                    b_hi = _clip(W - w0, b_lo, WW)
                    L = (b_hi - b_lo) * C
                    for a in range(HH):
                        h = i * S + a - pad
                        if h < 0 or h >= H or L == 0:
                            continue
                        src = &cols[row, (a * WW + b_lo) * C]
                        dst = &dx[n, h, w0 + b_lo, 0]
                        for k in range(L):
                            dst[k] += src[k]
                    row += 1


cdef inline void _add_stats(const floating* v, const double* shift, double* sums,
                            double* sumsq, Py_ssize_t C) noexcept nogil:
    """sums += v - shift, sumsq += (v - shift)^2, channel by channel."""
    cdef Py_ssize_t c
    cdef double d
    for c in range(C):
        d = <double>v[c] - shift[c]
        sums[c] += d
        sumsq[c] += d * d


def max_pool_stats_nhwc(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                        unsigned char[:, :, :, ::1] argmax, double[::1] shift, double[::1] sums,
                        double[::1] sumsq, int pool_height, int pool_width, int stride,
                        bint with_stats):
    """Floor-mode max pool of x (N, H, W, C) into out (N, H_out, W_out, C), one pass.

    argmax[n, i, j, c] = a*pool_width + b of the window's first maximum (row-major;
    a NaN counts as a maximum, as in np.argmax). With with_stats, also adds each
    channel's sum and sum of squares of (out - shift) to sums, sumsq (float64).
    """
    cdef Py_ssize_t N = out.shape[0], H_out = out.shape[1], W_out = out.shape[2]
    cdef Py_ssize_t C = out.shape[3], PH = pool_height, PW = pool_width, S = stride
    cdef Py_ssize_t W = x.shape[2], n, i, j, a, b, c, step_a = W * C
    cdef floating v, k, bv, bk
    cdef bint take
    cdef const floating* src
    cdef unsigned char* arg
    # Running maxima and their window offsets (as floats: the same width as the values,
    # so the channel loop vectorises; malloc'd scratch, so no store aliases a load).
    cdef floating* best = <floating*>malloc(2 * C * sizeof(floating))
    cdef floating* best_k = best + C
    if best == NULL:
        raise MemoryError()
    with nogil:
        for n in range(N):
            for i in range(H_out):
                for j in range(W_out):
                    src = &x[n, i * S, j * S, 0]
                    for c in range(C):
                        best[c] = src[c]
                        best_k[c] = 0
                    for a in range(PH):
                        for b in range(PW):
                            if a == 0 and b == 0:
                                continue
                            src = &x[n, i * S + a, j * S + b, 0]
                            k = a * PW + b
                            for c in range(C):
                                v, bv, bk = src[c], best[c], best_k[c]
                                # a NaN wins once, as in np.max / np.argmax; branch-free
                                take = (v > bv) | ((v != v) & (bv == bv))
                                best[c] = v if take else bv
                                best_k[c] = k if take else bk
                    arg = &argmax[n, i, j, 0]
                    for c in range(C):
                        out[n, i, j, c] = best[c]
                        arg[c] = <unsigned char>best_k[c]
                    if with_stats:
                        _add_stats(best, &shift[0], &sums[0], &sumsq[0], C)
    free(best)


def channel_stats_nhwc(const floating[:, ::1] x, double[::1] shift, double[::1] sums,
                       double[::1] sumsq):
    """Add each channel's sum and sum of squares of (x - shift) to sums, sumsq; x is (rows, C)."""
    cdef Py_ssize_t r, C = x.shape[1]
    with nogil:
        for r in range(x.shape[0]):
            _add_stats(&x[r, 0], &shift[0], &sums[0], &sumsq[0], C)


cdef inline void _relu_mask(const floating* xr, const floating* sc, const floating* sh,
                            floating* mask, Py_ssize_t C) noexcept nogil:
    """mask = 1 where x*sc + sh > 0, else 0. A loop of its own: in one with the product
    that uses it, gcc turned the mask into a branch, mispredicted on half the values
    (8 ns a value instead of 0.4)."""
    cdef Py_ssize_t c
    for c in range(C):
        mask[c] = (xr[c] * sc[c] + sh[c]) > 0


cdef inline floating _act(floating z, int act) noexcept nogil:
    if act == ACT_RELU:               # z <= 0, not z > 0: a NaN passes, as np.maximum's does
        return 0 if z <= 0 else z
    if act == ACT_GELU:
        return <floating>(0.5 * z * (1.0 + tanh(K0 * (z + K1 * z * z * z))))
    return z


cdef inline floating _act_grad(floating z, int act) noexcept nogil:
    """d act(z) / dz (ReLU: 1 for z > 0, else 0)."""
    cdef double t
    if act == ACT_RELU:
        return 1 if z > 0 else 0
    if act == ACT_GELU:
        t = tanh(K0 * (z + K1 * z * z * z))
        return <floating>(0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * K0 * (1.0 + 3.0 * K1 * z * z))
    return 1


def bn_act_forward_nhwc(const floating[:, ::1] x, floating[:, ::1] out, const floating[::1] scale,
                        const floating[::1] shift, int act):
    """out = act(x * scale + shift), scale and shift per channel; x, out (rows, C)."""
    cdef Py_ssize_t r, c, C = x.shape[1]
    cdef const floating* xr
    cdef const floating* sc = &scale[0]
    cdef const floating* sh = &shift[0]
    cdef floating* o
    cdef floating z
    with nogil:
        for r in range(x.shape[0]):
            xr = &x[r, 0]
            o = &out[r, 0]
            if act == ACT_RELU:               # loads into locals: the select vectorises
                for c in range(C):
                    z = xr[c] * sc[c] + sh[c]
                    o[c] = 0 if z <= 0 else z       # NaN passes (layers.relu_forward's rule)
            else:
                for c in range(C):
                    o[c] = _act(xr[c] * sc[c] + sh[c], act)


def bn_act_backward_sums_nhwc(const floating[:, ::1] dout, const floating[:, ::1] x,
                              const floating[::1] scale, const floating[::1] shift, int act,
                              const floating[::1] mean, double[::1] sum_g, double[::1] sum_gx):
    """g = dout * act'(x*scale + shift); add sum(g) and sum(g * (x - mean)) per channel.

    The activation's mask is recomputed from x, so its output need not be kept.
    """
    cdef Py_ssize_t r, c, C = x.shape[1]
    cdef const floating* sc = &scale[0]
    cdef const floating* sh = &shift[0]
    cdef const floating* mu = &mean[0]
    cdef double* sg = &sum_g[0]
    cdef double* sgx = &sum_gx[0]
    cdef const floating* d
    cdef const floating* xr
    cdef floating g, xv
    cdef floating* mask = <floating*>malloc(C * sizeof(floating))
    if mask == NULL:
        raise MemoryError()
    with nogil:
        for r in range(x.shape[0]):
            d = &dout[r, 0]
            xr = &x[r, 0]
            if act == ACT_RELU:
                _relu_mask(xr, sc, sh, mask, C)
                for c in range(C):
                    g = d[c] * mask[c]
                    sg[c] += g
                    sgx[c] += <double>g * (xr[c] - mu[c])
            else:
                for c in range(C):
                    xv = xr[c]
                    g = d[c] * _act_grad(xv * sc[c] + sh[c], act)
                    sg[c] += g
                    sgx[c] += <double>g * (xv - mu[c])
    free(mask)


cdef inline void _bn_dx_row(const floating* d, const floating* xr, const floating* sc,
                            const floating* sh, const floating* A, const floating* B,
                            const floating* Cc, int act, floating* out, floating* mask,
                            Py_ssize_t C) noexcept nogil:
    """out = A*g + B*x + Cc with g = d * act'(x*sc + sh), one pixel's C channels: batch
    norm's dx is affine in (g, x) per channel. mask: (C,) scratch."""
    cdef Py_ssize_t c
    cdef floating g, xv
    if act == ACT_RELU:
        _relu_mask(xr, sc, sh, mask, C)
        for c in range(C):
            out[c] = A[c] * (d[c] * mask[c]) + B[c] * xr[c] + Cc[c]
    else:
        for c in range(C):
            xv = xr[c]
            g = d[c] * _act_grad(xv * sc[c] + sh[c], act)
            out[c] = A[c] * g + B[c] * xv + Cc[c]


def bn_act_backward_nhwc(const floating[:, ::1] dout, const floating[:, ::1] x,
                         const floating[::1] scale, const floating[::1] shift, int act,
                         const floating[::1] A, const floating[::1] B, const floating[::1] Cc,
                         floating[:, ::1] dx):
    """dx = A*g + B*x + Cc per channel, g = dout * act'(x*scale + shift); all (rows, C)."""
    cdef Py_ssize_t r, C = x.shape[1]
    cdef floating* mask = <floating*>malloc(C * sizeof(floating))
    if mask == NULL:
        raise MemoryError()
    with nogil:
        for r in range(x.shape[0]):
            _bn_dx_row(&dout[r, 0], &x[r, 0], &scale[0], &shift[0], &A[0], &B[0], &Cc[0], act,
                       &dx[r, 0], mask, C)
    free(mask)


def bn_act_pool_backward_nhwc(const floating[:, :, :, ::1] dout, const floating[:, :, :, ::1] x,
                              const unsigned char[:, :, :, ::1] argmax,
                              const floating[::1] scale, const floating[::1] shift, int act,
                              const floating[::1] A, const floating[::1] B,
                              const floating[::1] Cc, floating[:, :, :, ::1] dpool_in,
                              int pool_height, int pool_width, int stride):
    """The batch norm dx of bn_act_backward_nhwc, routed through the max pool in the same pass.

    dout, x, argmax: (N, H_out, W_out, C) (x the pool's output); dpool_in (N, H, W, C),
    overwritten: each window's dx goes to its argmax position, zero elsewhere.
    Returns the number of argmax entries outside the window (0 unless corrupted;
    those are skipped).
    """
    cdef Py_ssize_t N = x.shape[0], H_out = x.shape[1], W_out = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t n, i, j, c
    cdef floating* v = <floating*>malloc(2 * C * sizeof(floating))     # dx values, mask
    cdef Py_ssize_t bad = 0
    if v == NULL:
        raise MemoryError()
    with nogil:
        _route_start(dpool_in, H_out, W_out, pool_height, pool_width, stride)
        for n in range(N):
            for i in range(H_out):
                for j in range(W_out):
                    _bn_dx_row(&dout[n, i, j, 0], &x[n, i, j, 0], &scale[0], &shift[0], &A[0],
                               &B[0], &Cc[0], act, v, v + C, C)
                    bad += _route(v, &argmax[n, i, j, 0], dpool_in, n, i, j, C, pool_height,
                                  pool_width, stride)
    free(v)
    return bad


cdef inline bint _tiles(Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t S) noexcept nogil:
    return PH == S and PW == S


cdef void _route_start(floating[:, :, :, ::1] dx, Py_ssize_t H_out, Py_ssize_t W_out,
                       Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t S) noexcept nogil:
    """Zero what _route will not overwrite: all of dx unless the windows tile it, else
    only the rows and columns no window covers (floor mode)."""
    cdef Py_ssize_t N = dx.shape[0], H = dx.shape[1], W = dx.shape[2], C = dx.shape[3], n, h
    if N == 0:
        return
    if not _tiles(PH, PW, S):
        memset(&dx[0, 0, 0, 0], 0, N * H * W * C * sizeof(floating))
        return
    for n in range(N):
        for h in range(H):
            if h >= H_out * S:
                memset(&dx[n, h, 0, 0], 0, W * C * sizeof(floating))
            elif W > W_out * S:
                memset(&dx[n, h, W_out * S, 0], 0, (W - W_out * S) * C * sizeof(floating))


cdef Py_ssize_t _route(const floating* v, const unsigned char* arg, floating[:, :, :, ::1] dx,
                       Py_ssize_t n, Py_ssize_t i, Py_ssize_t j, Py_ssize_t C, Py_ssize_t PH,
                       Py_ssize_t PW, Py_ssize_t S) noexcept nogil:
    """Send v (C,) of output pixel (n, i, j) to each channel's argmax in its window of dx;
    tiling windows write every position (v or 0), others add. Returns the entries of
    arg outside the window (skipped)."""
    cdef Py_ssize_t a, b, c, k, bad = 0
    cdef unsigned char here, at
    cdef floating value
    cdef floating* dst
    if _tiles(PH, PW, S):
        for a in range(PH):
            for b in range(PW):
                dst = &dx[n, i * S + a, j * S + b, 0]
                here = <unsigned char>(a * PW + b)
                for c in range(C):          # locals, so the select vectorises
                    value, at = v[c], arg[c]
                    dst[c] = value if at == here else 0
        for c in range(C):
            bad += arg[c] >= PH * PW
        return bad
    for c in range(C):
        k = arg[c]
        if k >= PH * PW:
            bad += 1
            continue
        dx[n, i * S + k // PW, j * S + k % PW, c] += v[c]
    return bad


def max_pool_backward_nhwc(const floating[:, :, :, ::1] dout,
                           const unsigned char[:, :, :, ::1] argmax,
                           floating[:, :, :, ::1] dx, int pool_height, int pool_width, int stride):
    """dx (N, H, W, C), overwritten: dout (N, H_out, W_out, C) routed to each window's argmax.

    Returns the number of argmax entries outside the window (skipped).
    """
    cdef Py_ssize_t N = dout.shape[0], H_out = dout.shape[1], W_out = dout.shape[2]
    cdef Py_ssize_t C = dout.shape[3], n, i, j
    cdef Py_ssize_t bad = 0
    with nogil:
        _route_start(dx, H_out, W_out, pool_height, pool_width, stride)
        for n in range(N):
            for i in range(H_out):
                for j in range(W_out):
                    bad += _route(&dout[n, i, j, 0], &argmax[n, i, j, 0], dx, n, i, j, C,
                                  pool_height, pool_width, stride)
    return bad


# ------------------------------------------------- Winograd F(4x4, 3x3) transforms
#
# Tiles: image n is cut into th x tw = ceil(H/4) x ceil(W/4) output tiles of 4x4; tile
# t = (n*th + ti)*tw + tj reads the 6x6 input patch at rows 4*ti - 1 .. 4*ti + 4 and
# columns 4*tj - 1 .. 4*tj + 4 (the pad-1 border and whatever lies past H, W read as
# zeros). Transform points p = 6*i + j, i, j < 6; V, M are (36, T, C): point-major, so
# each point's (T, C) slice is one GEMM operand, and a tile's point is a contiguous row.
#
#   V = B^T d B,  out = A^T M A (cropped to H, W),  with
#   B^T = [[4, 0,-5, 0, 1, 0], [0,-4,-4, 1, 1, 0], [0, 4,-4,-1, 1, 0],
#          [0,-2,-1, 2, 1, 0], [0, 2,-1,-2, 1, 0], [0, 4, 0,-5, 0, 1]]
#   A^T = [[1, 1, 1, 1, 1, 0], [0, 1,-1, 2,-2, 0], [0, 1, 1, 4, 4, 0], [0, 1,-1, 8,-8, 1]]
# Each 2-d transform is two passes of a 1-d one over C-long rows (a 6x6xC scratch stays
# in L1/L2); the 1-d transforms are written out so that gcc vectorises them over c.
# The adjoints (backward) apply B and A instead of B^T and A^T, in reverse order.

cdef extern from "winograd_kernels.h" nogil:
    void bt6_f(const float*, const float*, const float*, const float*, const float*, const float*,
               float*, float*, float*, float*, float*, float*, Py_ssize_t)
    void bt6_d(const double*, const double*, const double*, const double*, const double*, const double*,
               double*, double*, double*, double*, double*, double*, Py_ssize_t)
    void b6_f(const float*, const float*, const float*, const float*, const float*, const float*,
              float*, float*, float*, float*, float*, float*, Py_ssize_t, int)
    void b6_d(const double*, const double*, const double*, const double*, const double*, const double*,
              double*, double*, double*, double*, double*, double*, Py_ssize_t, int)
    void at6_f(const float*, const float*, const float*, const float*, const float*, const float*,
               float*, float*, float*, float*, Py_ssize_t)
    void at6_d(const double*, const double*, const double*, const double*, const double*, const double*,
               double*, double*, double*, double*, Py_ssize_t)
    void a4_f(const float*, const float*, const float*, const float*,
              float*, float*, float*, float*, float*, float*, Py_ssize_t)
    void a4_d(const double*, const double*, const double*, const double*,
              double*, double*, double*, double*, double*, double*, Py_ssize_t)


# The 1-d transforms (winograd_kernels.h), dispatched on the fused type.

cdef inline void _bt6(const floating* d0, const floating* d1, const floating* d2,
                      const floating* d3, const floating* d4, const floating* d5,
                      floating* o0, floating* o1, floating* o2, floating* o3,
                      floating* o4, floating* o5, Py_ssize_t n) noexcept nogil:
    """o = B^T d, elementwise over n values: six C-rows in, six out."""
    if floating is float:
        bt6_f(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5, n)
    else:
        bt6_d(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5, n)


cdef inline void _b6_add(const floating* v0, const floating* v1, const floating* v2,
                         const floating* v3, const floating* v4, const floating* v5,
                         floating* o0, floating* o1, floating* o2, floating* o3,
                         floating* o4, floating* o5, Py_ssize_t n, bint add) noexcept nogil:
    """o (+)= B v (the adjoint of _bt6): accumulate when add, else overwrite."""
    if floating is float:
        b6_f(v0, v1, v2, v3, v4, v5, o0, o1, o2, o3, o4, o5, n, add)
    else:
        b6_d(v0, v1, v2, v3, v4, v5, o0, o1, o2, o3, o4, o5, n, add)


cdef inline void _at6(const floating* m0, const floating* m1, const floating* m2,
                      const floating* m3, const floating* m4, const floating* m5,
                      floating* o0, floating* o1, floating* o2, floating* o3,
                      Py_ssize_t n) noexcept nogil:
    """o = A^T m: six C-rows in, four out."""
    if floating is float:
        at6_f(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3, n)
    else:
        at6_d(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3, n)


cdef inline void _a4(const floating* y0, const floating* y1, const floating* y2,
                     const floating* y3, floating* o0, floating* o1, floating* o2,
                     floating* o3, floating* o4, floating* o5, Py_ssize_t n) noexcept nogil:
    """o = A y (the adjoint of _at6): four C-rows in, six out."""
    if floating is float:
        a4_f(y0, y1, y2, y3, o0, o1, o2, o3, o4, o5, n)
    else:
        a4_d(y0, y1, y2, y3, o0, o1, o2, o3, o4, o5, n)


cdef inline Py_ssize_t _wino_tiles(Py_ssize_t size) noexcept nogil:
    return (size + 3) // 4


def winograd_input_nhwc(const floating[:, :, :, ::1] x, floating[:, :, ::1] V):
    """V (36, T, C) = B^T d B for every 6x6 patch d of x (N, H, W, C), T = N*th*tw."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t T = V.shape[1], th = _wino_tiles(H), tw = _wino_tiles(W)
    cdef Py_ssize_t n, ti, tj, a, b, i, h, w, t = 0
    cdef const floating* p[36]
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* vp = &V[0, 0, 0]
    cdef floating* s = <floating*> malloc(36 * C * sizeof(floating))   # B^T d, 6x6 rows of C
    cdef floating* zero = <floating*> malloc(C * sizeof(floating))
    if s == NULL or zero == NULL:
        free(s); free(zero)
        raise MemoryError()
    cdef Py_ssize_t TC = T * C
    with nogil:
        memset(zero, 0, C * sizeof(floating))
        for n in range(N):
            for ti in range(th):
                for tj in range(tw):
                    for a in range(6):
                        h = 4 * ti - 1 + a
                        for b in range(6):
                            w = 4 * tj - 1 + b
                            p[6 * a + b] = (xp + ((n * H + h) * W + w) * C
                                            if 0 <= h < H and 0 <= w < W else zero)
                    for b in range(6):                # columns: s[i, b] = sum_a B^T[i, a] d[a, b]
                        _bt6(p[b], p[6 + b], p[12 + b], p[18 + b], p[24 + b], p[30 + b],
                             s + b * C, s + (6 + b) * C, s + (12 + b) * C, s + (18 + b) * C,
                             s + (24 + b) * C, s + (30 + b) * C, C)
                    for i in range(6):                # rows: V[6i + j] = sum_b s[i, b] B^T[j, b]
                        _bt6(s + 6 * i * C, s + (6 * i + 1) * C, s + (6 * i + 2) * C,
                             s + (6 * i + 3) * C, s + (6 * i + 4) * C, s + (6 * i + 5) * C,
                             vp + 6 * i * TC + t * C, vp + (6 * i + 1) * TC + t * C,
                             vp + (6 * i + 2) * TC + t * C, vp + (6 * i + 3) * TC + t * C,
                             vp + (6 * i + 4) * TC + t * C, vp + (6 * i + 5) * TC + t * C, C)
                    t += 1
    free(s)
    free(zero)


def winograd_input_adjoint_nhwc(const floating[:, :, ::1] dV, floating[:, :, :, ::1] dx):
    """dx (N, H, W, C) = sum over tiles of B dV B^T scattered onto its patch (overlapping
    patches add up; the border and the part past H, W are dropped). dx is overwritten."""
    cdef Py_ssize_t N = dx.shape[0], H = dx.shape[1], W = dx.shape[2], C = dx.shape[3]
    cdef Py_ssize_t T = dV.shape[1], th = _wino_tiles(H), tw = _wino_tiles(W)
    cdef Py_ssize_t n, ti, tj, a, b, i, h, w, t = 0
    cdef floating* q[6]
    cdef const floating* vp = &dV[0, 0, 0]
    cdef floating* xp = &dx[0, 0, 0, 0]
    cdef floating* s = <floating*> malloc(36 * C * sizeof(floating))   # dV B^T, 6x6 rows of C
    cdef floating* sink = <floating*> malloc(6 * C * sizeof(floating))  # writes that fall outside
    if s == NULL or sink == NULL:
        free(s); free(sink)
        raise MemoryError()
    cdef Py_ssize_t TC = T * C
    with nogil:
        memset(xp, 0, N * H * W * C * sizeof(floating))
        for n in range(N):
            for ti in range(th):
                for tj in range(tw):
                    for i in range(6):                # rows: s[i, b] = sum_j dV[6i + j] B^T[j, b]
                        _b6_add(vp + 6 * i * TC + t * C, vp + (6 * i + 1) * TC + t * C,
                                vp + (6 * i + 2) * TC + t * C, vp + (6 * i + 3) * TC + t * C,
                                vp + (6 * i + 4) * TC + t * C, vp + (6 * i + 5) * TC + t * C,
                                s + 6 * i * C, s + (6 * i + 1) * C, s + (6 * i + 2) * C,
                                s + (6 * i + 3) * C, s + (6 * i + 4) * C, s + (6 * i + 5) * C, C, False)
                    for b in range(6):                # columns: dx[a, b] += sum_i B^T[i, a] s[i, b]
                        w = 4 * tj - 1 + b
                        for a in range(6):
                            h = 4 * ti - 1 + a
                            q[a] = (xp + ((n * H + h) * W + w) * C
                                    if 0 <= h < H and 0 <= w < W else sink + a * C)
                        _b6_add(s + b * C, s + (6 + b) * C, s + (12 + b) * C, s + (18 + b) * C,
                                s + (24 + b) * C, s + (30 + b) * C,
                                q[0], q[1], q[2], q[3], q[4], q[5], C, True)
                    t += 1
    free(s)
    free(sink)


def winograd_output_nhwc(const floating[:, :, ::1] M, floating[:, :, :, ::1] out):
    """out (N, H, W, K) = A^T M A of every tile, cropped to H, W (M: (36, T, K))."""
    cdef Py_ssize_t N = out.shape[0], H = out.shape[1], W = out.shape[2], K = out.shape[3]
    cdef Py_ssize_t T = M.shape[1], th = _wino_tiles(H), tw = _wino_tiles(W)
    cdef Py_ssize_t n, ti, tj, j, r, h, w, k, t = 0
    cdef floating* q[4]
    cdef const floating* mp = &M[0, 0, 0]
    cdef floating* op = &out[0, 0, 0, 0]
    cdef floating* s = <floating*> malloc(24 * K * sizeof(floating))   # A^T M, 4x6 rows of K
    cdef floating* sink = <floating*> malloc(4 * K * sizeof(floating))
    if s == NULL or sink == NULL:
        free(s); free(sink)
        raise MemoryError()
    cdef Py_ssize_t TK = T * K
    with nogil:
        for n in range(N):
            for ti in range(th):
                for tj in range(tw):
                    for j in range(6):                # columns: s[r, j] = sum_i A^T[r, i] M[6i + j]
                        _at6(mp + j * TK + t * K, mp + (6 + j) * TK + t * K,
                             mp + (12 + j) * TK + t * K, mp + (18 + j) * TK + t * K,
                             mp + (24 + j) * TK + t * K, mp + (30 + j) * TK + t * K,
                             s + j * K, s + (6 + j) * K, s + (12 + j) * K, s + (18 + j) * K, K)
                    for r in range(4):                # rows: out[r, c] = sum_j s[r, j] A^T[c, j]
                        h = 4 * ti + r
                        if h >= H:
                            break
                        for k in range(4):
                            w = 4 * tj + k
                            q[k] = op + ((n * H + h) * W + w) * K if w < W else sink + k * K
                        _at6(s + 6 * r * K, s + (6 * r + 1) * K, s + (6 * r + 2) * K,
                             s + (6 * r + 3) * K, s + (6 * r + 4) * K, s + (6 * r + 5) * K,
                             q[0], q[1], q[2], q[3], K)
                    t += 1
    free(s)
    free(sink)


def winograd_output_adjoint_nhwc(const floating[:, :, :, ::1] dout, floating[:, :, ::1] dM):
    """dM (36, T, K) = A dY A^T of every tile, dY its 4x4 patch of dout (N, H, W, K), zero
    past H, W (the adjoint of winograd_output_nhwc's crop)."""
    cdef Py_ssize_t N = dout.shape[0], H = dout.shape[1], W = dout.shape[2], K = dout.shape[3]
    cdef Py_ssize_t T = dM.shape[1], th = _wino_tiles(H), tw = _wino_tiles(W)
    cdef Py_ssize_t n, ti, tj, j, r, k, h, w, t = 0
    cdef const floating* p[16]
    cdef const floating* yp = &dout[0, 0, 0, 0]
    cdef floating* mp = &dM[0, 0, 0]
    cdef floating* s = <floating*> malloc(24 * K * sizeof(floating))   # dY A^T, 4x6 rows of K
    cdef floating* zero = <floating*> malloc(K * sizeof(floating))
    if s == NULL or zero == NULL:
        free(s); free(zero)
        raise MemoryError()
    cdef Py_ssize_t TK = T * K
    with nogil:
        memset(zero, 0, K * sizeof(floating))
        for n in range(N):
            for ti in range(th):
                for tj in range(tw):
                    for r in range(4):
                        h = 4 * ti + r
                        for k in range(4):
                            w = 4 * tj + k
                            p[4 * r + k] = yp + ((n * H + h) * W + w) * K if h < H and w < W else zero
                    for r in range(4):                # rows: s[r, j] = sum_c dY[r, c] A^T[c, j]
                        _a4(p[4 * r], p[4 * r + 1], p[4 * r + 2], p[4 * r + 3],
                            s + 6 * r * K, s + (6 * r + 1) * K, s + (6 * r + 2) * K,
                            s + (6 * r + 3) * K, s + (6 * r + 4) * K, s + (6 * r + 5) * K, K)
                    for j in range(6):                # columns: dM[6i + j] = sum_r A^T[r, i] s[r, j]
                        _a4(s + j * K, s + (6 + j) * K, s + (12 + j) * K, s + (18 + j) * K,
                            mp + j * TK + t * K, mp + (6 + j) * TK + t * K,
                            mp + (12 + j) * TK + t * K, mp + (18 + j) * TK + t * K,
                            mp + (24 + j) * TK + t * K, mp + (30 + j) * TK + t * K, K)
                    t += 1
    free(s)
    free(zero)
