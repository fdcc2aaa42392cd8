# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Loops behind fast_nhwc: channels-last (NHWC) im2col / col2im and fused elementwise passes.

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
    if act == ACT_RELU:
        return z if z > 0 else 0
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
                    o[c] = z if z > 0 else 0
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
