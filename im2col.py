"""im2col / col2im by fancy indexing, in pure NumPy.

A convolution with filters of size HH x WW becomes one matrix product once every
receptive field is laid out as a column:

    cols[k, n*P + p] = xpad[n, c, i*S + a, j*S + b]
    with k = (c*HH + a)*WW + b          (row: channel, then filter row, then filter column)
    and  p = i*W_out + j                (column within image n: output row, then column)

so cols has shape (C*HH*WW, N*P) with P = H_out*W_out, and a convolution is
theta.reshape(F, -1) @ cols. Columns are grouped by image so that a batch can be
processed in chunks of whole images. Output sizes come from layers.window_count,
which rejects geometries that do not tile the input.

This is the portable fallback; im2col_cython does the same with loops.
"""
import numpy as np

from validate import (nonnegative_int, positive_int, require, require_float, require_shape,
                      window_count)


def _output_size(x_shape, field_height, field_width, padding, stride):
    """(H_out, W_out) after checking the shape is 4-d and the window sizes, padding and
    stride are integers in range (a stride of 0 would divide by zero)."""
    require(len(x_shape) == 4, f"x must be 4-d (N, C, H, W), got shape {tuple(x_shape)}")
    positive_int("field_height", field_height)
    positive_int("field_width", field_width)
    nonnegative_int("padding", padding)
    positive_int("stride", stride)
    _, _, H, W = x_shape
    H_out = window_count(H, field_height, padding, stride, ("H", "HH", "P", "S"))
    W_out = window_count(W, field_width, padding, stride, ("W", "WW", "P", "S"))
    return H_out, W_out


def get_im2col_indices(x_shape, field_height, field_width, padding=0, stride=1):
    """Index arrays (c, h, w) with cols_of_image_n = xpad[n, c, h, w].

    x_shape: (N, C, H, W). Returns c of shape (K, 1) and h, w of shape (K, P),
    K = C*HH*WW, P = H_out*W_out, all integer; h and w index the padded input.
    """
    C = x_shape[1]
    H_out, W_out = _output_size(x_shape, field_height, field_width, padding, stride)
    # Row k = (c*HH + a)*WW + b: c varies slowest, b fastest.
    c = np.repeat(np.arange(C), field_height * field_width)[:, None]
    a = np.tile(np.repeat(np.arange(field_height), field_width), C)[:, None]
    b = np.tile(np.arange(field_width), C * field_height)[:, None]
    # Column p = i*W_out + j: the window's top-left corner is (i*S, j*S).
    i = np.repeat(np.arange(H_out), W_out)[None, :]
    j = np.tile(np.arange(W_out), H_out)[None, :]
    return c, a + stride * i, b + stride * j


def _pad(x, padding):
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def im2col_indices(x, field_height, field_width, padding=0, stride=1):
    """Lay out every receptive field of x (N, C, H, W) as a column: (C*HH*WW, N*P)."""
    require_float("x", x)
    c, h, w = get_im2col_indices(x.shape, field_height, field_width, padding, stride)
    per_image = _pad(x, padding)[:, c, h, w]                     # (N, K, P)
    return per_image.transpose(1, 0, 2).reshape(c.shape[0], -1)


def col2im_indices(cols, x_shape, field_height, field_width, padding=0, stride=1):
    """Adjoint of im2col_indices: sum each column back into its window.

    cols: (C*HH*WW, N*P). Returns an array of shape x_shape where overlapping
    windows add up; this is dx when cols is the gradient of im2col's output.
    """
    require_float("cols", cols)
    c, h, w = get_im2col_indices(x_shape, field_height, field_width, padding, stride)
    N, C, H, W = x_shape
    require_shape("cols (one column per window of each image)", cols,
                  (c.shape[0], N * h.shape[1]))
    xpad = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    per_image = cols.reshape(c.shape[0], N, -1).transpose(1, 0, 2)   # (N, K, P)
    n = np.arange(N)[:, None, None]
    np.add.at(xpad, (n, c[None], h[None], w[None]), per_image)
    return xpad[:, :, padding:padding + H, padding:padding + W]
