"""A convolutional network of any depth for Problem 4.4.7.

    [conv 3x3 - relu - 2x2 max pool] x N - [affine - relu] x M - affine - softmax

Every conv keeps the spatial size (stride 1, 'same' padding) and every pool
halves it, so an H x W image leaves the conv stack as F_N x H/2^N x W/2^N.
Layers are numbered in order: the N convs are theta1..thetaN with shapes
(F_l, F_{l-1}, k, k), the M hidden affine layers and the output layer follow
as theta<N+1>..theta<N+M+1>, and each theta<l> has its bias theta<l>_0.
The loss is softmax cross-entropy plus 0.5 * reg * sum ||theta<l>||^2 over the
weights, as in fc_net and cnn.
"""
import numpy as np

from fc_net import l2_penalty
from layer_utils import (affine_relu_backward, affine_relu_forward, conv_relu_pool_backward,
                         conv_relu_pool_forward)
from layers import affine_backward, affine_forward, softmax_loss

POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _positive_ints(name, values):
    values = tuple(values)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise ValueError(f"{name} must hold positive integers, got {values!r}")
    return tuple(int(v) for v in values)


class ConvNet:
    """[conv - relu - pool] x N - [affine - relu] x M - affine - softmax.

    input_dim:    (C, H, W) of one image; H and W must be divisible by 2^N.
    num_filters:  (F_1, ..., F_N), filters of each conv layer (N >= 1).
    filter_size:  odd side k of every filter; stride 1 and padding (k - 1) / 2.
    hidden_dims:  (h_1, ..., h_M) widths of the hidden affine layers (M >= 0).
    num_classes:  number of scores.
    weight_scale: standard deviation of every initial weight; None (default) draws
                  each ReLU layer with sqrt(2 / fan_in) (He et al. 2015), which keeps
                  the activations' scale through the depth for inputs of unit variance,
                  and the output layer with 0.01 / sqrt(fan_in), so that the initial
                  scores are near zero and the loss starts near ln(num_classes).
    reg:          L2 strength (>= 0).
    dtype:        floating dtype of parameters, activations and gradients.
    seed:         seeds the initialisation.
    Invalid arguments raise ValueError.
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=(32, 64, 128), filter_size=3,
                 hidden_dims=(256,), num_classes=10, weight_scale=None, reg=0.0,
                 dtype=np.float32, seed=None):
        if len(input_dim) != 3:
            raise ValueError(f"input_dim must be (C, H, W), got {input_dim!r}")
        C, H, W = _positive_ints("input_dim", input_dim)
        num_filters = _positive_ints("num_filters", num_filters)
        hidden_dims = _positive_ints("hidden_dims", hidden_dims)
        (filter_size,) = _positive_ints("filter_size", [filter_size])
        (num_classes,) = _positive_ints("num_classes", [num_classes])
        if not num_filters:
            raise ValueError("num_filters must name at least one conv layer")
        if filter_size % 2 == 0:
            raise ValueError(f"filter_size must be odd so that padding (k - 1) / 2 keeps "
                             f"H and W, got {filter_size}")
        shrink = 2 ** len(num_filters)
        if H % shrink or W % shrink:
            raise ValueError(f"{len(num_filters)} 2x2 pools need H and W divisible by "
                             f"{shrink}, got H={H}, W={W}")
        if weight_scale is not None and not weight_scale > 0:
            raise ValueError(f"weight_scale must be positive or None, got {weight_scale!r}")
        if not reg >= 0:
            raise ValueError(f"reg must be non-negative, got {reg!r}")
        if np.dtype(dtype).kind != "f":
            raise ValueError(f"dtype must be a floating type, got {np.dtype(dtype)}")

        self.input_dim = (C, H, W)
        self.num_classes = num_classes
        self.num_conv = len(num_filters)
        self.num_affine = len(hidden_dims) + 1
        self.reg = reg
        self.dtype = np.dtype(dtype)
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}

        shapes = [(f, c, filter_size, filter_size)
                  for c, f in zip((C,) + num_filters[:-1], num_filters)]
        flat = num_filters[-1] * (H // shrink) * (W // shrink)
        dims = (flat,) + hidden_dims + (num_classes,)
        shapes += list(zip(dims[:-1], dims[1:]))
        rng = np.random.default_rng(seed)
        self.params = {}
        for l, shape in enumerate(shapes, start=1):
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            # He scale for ReLU layers; the output layer starts near zero so that the
            # first softmax is almost uniform and the loss starts at ln(num_classes).
            gain = 1e-4 if l == len(shapes) else 2.0
            std = np.sqrt(gain / fan_in) if weight_scale is None else weight_scale
            self.params[f"theta{l}"] = (std * rng.standard_normal(shape)).astype(self.dtype)
            self.params[f"theta{l}_0"] = np.zeros(shape[0] if len(shape) == 4 else shape[1],
                                                  dtype=self.dtype)

    def loss(self, X, y=None):
        """Scores (m, num_classes) when y is None; otherwise (loss, grads).

        X: (m, C, H, W) images, cast to the model's dtype; y: (m,) labels.
        """
        if X.ndim != 4 or X.shape[1:] != self.input_dim:
            raise ValueError(f"shape mismatch: X must be (m, *input_dim) = "
                             f"(m, {', '.join(map(str, self.input_dim))}), got {X.shape}")
        h = X.astype(self.dtype, copy=False)
        p = self.params
        caches = []
        for l in range(1, self.num_conv + 1):
            h, cache = conv_relu_pool_forward(h, p[f"theta{l}"], p[f"theta{l}_0"],
                                              self.conv_param, POOL_PARAM)
            caches.append(cache)
        last = self.num_conv + self.num_affine
        for l in range(self.num_conv + 1, last):
            h, cache = affine_relu_forward(h, p[f"theta{l}"], p[f"theta{l}_0"])
            caches.append(cache)
        scores, cache = affine_forward(h, p[f"theta{last}"], p[f"theta{last}_0"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh, grads[f"theta{last}"], grads[f"theta{last}_0"] = affine_backward(dscores, cache)
        for l in range(last - 1, self.num_conv, -1):
            dh, grads[f"theta{l}"], grads[f"theta{l}_0"] = affine_relu_backward(dh, caches.pop())
        for l in range(self.num_conv, 0, -1):
            # The first layer's input is the images: data, not parameters.
            dh, grads[f"theta{l}"], grads[f"theta{l}_0"] = conv_relu_pool_backward(
                dh, caches.pop(), compute_dx=l > 1)
        loss += l2_penalty(p, self.reg, grads)
        return loss, grads
