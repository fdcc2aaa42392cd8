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
from layer_utils import (affine_relu_backward, affine_relu_forward, bn_running_stats,
                         conv_relu_pool_backward, conv_relu_pool_forward, load_bn_running_stats)
from fast_layers import (conv_backward_fast, conv_forward_fast, max_pool_backward_fast,
                         max_pool_floor_backward, max_pool_floor_forward, max_pool_forward_fast)
from layers import (affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss,
                    spatial_batchnorm_backward, spatial_batchnorm_forward)
from validate import check_batch, positive_ints

POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}


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
        C, H, W = positive_ints("input_dim", input_dim)
        num_filters = positive_ints("num_filters", num_filters)
        hidden_dims = positive_ints("hidden_dims", hidden_dims)
        (filter_size,) = positive_ints("filter_size", [filter_size])
        (num_classes,) = positive_ints("num_classes", [num_classes])
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
        check_batch(X, y)
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


# ------------------------------------------------------- 4.4.7: the fast net

def whitening_filters(images, patch=2, eps=5e-4):
    """Frozen first-layer filters that whiten patch x patch patches of the images.

    images: (n, C, H, W) training images. The patches' covariance S = V diag(lam) V^T
    gives K = C * patch^2 filters v_k / sqrt(lam_k + eps); their responses to the
    patches are uncorrelated with unit variance. Each filter comes with its negative,
    so that a ReLU after them keeps both signs: returns (2K, C, patch, patch).
    """
    n, C = images.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(images, (patch, patch), axis=(2, 3))
    patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, C * patch * patch).astype(np.float64)
    centred = patches - patches.mean(axis=0)
    lam, V = np.linalg.eigh(centred.T @ centred / len(centred))
    filters = (V / np.sqrt(lam + eps)).T[::-1]          # largest variance first
    filters = filters.reshape(-1, C, patch, patch)
    return np.concatenate([filters, -filters]).astype(images.dtype)


def translate_and_flip(X, rng, shift=2, flip=True):
    """A random translation by up to `shift` pixels (reflected edges) and, when flip, a
    random left-right mirror for each image of X (m, C, H, W); returns a new array."""
    m, _, H, W = X.shape
    padded = np.pad(X, ((0, 0), (0, 0), (shift, shift), (shift, shift)), mode="reflect")
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, m))
    flip = (rng.random(m) < 0.5) & flip
    out = np.empty_like(X)
    for i in range(m):
        crop = padded[i, :, dy[i]:dy[i] + H, dx[i]:dx[i] + W]
        out[i] = crop[:, :, ::-1] if flip[i] else crop
    return out


class AlternatingFlips:
    """Mirror each training image in every other epoch, not at random (airbench's
    alternating flip): every image is seen both ways in any two epochs in a row.

    Works on the training images X (n, C, H, W) in place: a random half (seeded) is
    mirrored at once; called with the Solver after every epoch (Solver's after_epoch),
    it mirrors all n images whenever the parity of solver.epoch changed, so at epoch e
    image i is mirrored iff it was at epoch 0 XOR e is odd, and then runs then(solver)
    when given (the caller's own after_epoch). After solver.resume(), align(solver)
    mirrors the images as at the epoch resumed at (resume_mirrored does both). The
    model then translates only (WhitenedConvNet(flip=False)).
    """

    def __init__(self, X, seed=0, then=None):
        if X.ndim != 4:
            raise ValueError(f"X must be images (n, C, H, W), got shape {X.shape}")
        self.X, self.parity, self.then = X, 0, then
        start = np.random.default_rng(seed).random(len(X)) < 0.5
        X[start] = X[start][..., ::-1]

    def align(self, solver):
        """Mirror every image if the parity of solver.epoch changed since the last call."""
        parity = solver.epoch % 2
        if parity != self.parity:
            self.X[...] = self.X[..., ::-1]     # NumPy buffers the overlapping copy
            self.parity = parity

    def __call__(self, solver):
        self.align(solver)
        if self.then is not None:
            self.then(solver)


def resume_mirrored(solver):
    """solver.resume(), then, when its after_epoch is an AlternatingFlips, its training
    images mirrored as at the epoch it resumed at (then(solver) does not run); returns
    the solver."""
    solver.resume()
    flips = solver.settings["after_epoch"]
    if isinstance(flips, AlternatingFlips):
        flips.align(solver)
    return solver


class WhitenedConvNet:
    """A fast CIFAR-10 net after the airbench recipes (Jordan 2024) and Page's ResNet-9.

        whiten (frozen 2x2 conv, 2K filters, no padding) - relu
        [conv 3x3 - max pool 2 - BN - relu - conv 3x3 - BN - relu] x 3
        global max pool - affine * head_scale - softmax with label smoothing

    A 32 x 32 image becomes 31 x 31 after the whitening conv; the pools drop an odd
    last row and column (floor, as PyTorch), giving 15, 7 and 3, and the global max
    pool takes the 3 x 3 that remain: about 15% fewer conv FLOPs than padding to 32.

    input_dim:   (C, H, W), H and W at least 9 (three 2x2 pools follow the 2x2 conv).
    widths:      (w1, w2, w3) channels of the three blocks.
    whiten:      (2K, C, 2, 2) frozen filters from whitening_filters(training images).
    smoothing:   label smoothing s of the loss.
    head_scale:  the scores are (h @ theta7 + theta7_0) * head_scale; a small scale
                 keeps the first softmax near uniform and slows the head's learning.
    bn_momentum: running = momentum * running + (1 - momentum) * batch statistics.
    augment:     draw a random translation (2 px) and mirror for every training image.
    flip:        whether augment mirrors too (False when AlternatingFlips mirrors the data).
    tta:         test-time views averaged into the scores: 'none', 'flip' (the image
                 and its mirror) or 'flip_translate' (also both shifted by one pixel).
    dirac:       start every conv's first C_in filters as identities (see below).
    seed / rng:  as in FullyConnectedNet (rng: initial weights, then augmentation).
    Parameters: theta1..theta6 (convs, no bias: BN follows), gamma1..6 and beta1..6,
    theta7 (w3, C) and theta7_0. Buffers: the whitening filters and BN statistics.
    Every conv starts as a random (PyTorch-default) filter bank whose first C_in
    filters are replaced by identities (Dirac init), so each block starts close to
    passing its input through.
    """

    def __init__(self, whiten, input_dim=(3, 32, 32), widths=(64, 256, 256), num_classes=10,
                 smoothing=0.2, head_scale=1 / 9, bn_momentum=0.4, augment=True, tta="flip",
                 dirac=True, flip=True, dtype=np.float32, seed=None, rng=None):
        C, H, W = positive_ints("input_dim", input_dim)
        widths = positive_ints("widths", widths)
        if len(widths) != 3 or H < 9 or W < 9:
            raise ValueError(f"need three widths and H, W >= 9, got widths={widths}, "
                             f"input_dim={input_dim}")
        if whiten.ndim != 4 or whiten.shape[1:] != (C, 2, 2):
            raise ValueError(f"whiten must be (2K, {C}, 2, 2) filters, got {whiten.shape}")
        if tta not in TTA_VIEWS:
            raise ValueError(f"tta must be one of {sorted(TTA_VIEWS)}, got {tta!r}")
        if seed is not None and rng is not None:
            raise ValueError("give seed or rng, not both")
        self.input_dim, self.widths, self.num_classes = (C, H, W), widths, num_classes
        self.smoothing, self.head_scale, self.bn_momentum = smoothing, head_scale, bn_momentum
        self.augment, self.tta, self.dtype = augment, tta, np.dtype(dtype)
        self.dirac, self.flip = bool(dirac), bool(flip)
        self.rng = np.random.default_rng(seed if seed is not None else rng)
        self.whiten = whiten.astype(self.dtype)
        self.params = {}
        self.bn_params = {}
        channels = [whiten.shape[0], widths[0], widths[0], widths[1], widths[1], widths[2], widths[2]]
        for l in range(1, 7):
            c_in, c_out = channels[l - 1], channels[l]
            bound = 1 / np.sqrt(c_in * 9)
            theta = self.rng.uniform(-bound, bound, (c_out, c_in, 3, 3))
            if self.dirac:
                k = min(c_in, c_out)
                theta[:k] = 0
                theta[np.arange(k), np.arange(k), 1, 1] = 1
            self.params[f"theta{l}"] = theta.astype(self.dtype)
            self.params[f"gamma{l}"] = np.ones(c_out, dtype=self.dtype)
            self.params[f"beta{l}"] = np.zeros(c_out, dtype=self.dtype)
            self.bn_params[l] = {"mode": "train", "momentum": bn_momentum,
                                 "running_mean": np.zeros(c_out, dtype=self.dtype),
                                 "running_var": np.ones(c_out, dtype=self.dtype)}
        bound = 1 / np.sqrt(widths[2])
        self.params["theta7"] = self.rng.uniform(-bound, bound, (widths[2], num_classes)).astype(self.dtype)
        self.params["theta7_0"] = np.zeros(num_classes, dtype=self.dtype)

    @property
    def buffers(self):
        """The whitening filters and batch norm's running statistics."""
        return {"whiten": self.whiten, **bn_running_stats(self.bn_params)}

    def load_buffers(self, buffers):
        self.whiten = buffers["whiten"]
        load_bn_running_stats(self.bn_params, buffers)

    def _forward(self, X, mode):
        """Scores of X and the caches of every layer."""
        p, caches = self.params, []
        zeros = {l: np.zeros(p[f"theta{l}"].shape[0], dtype=self.dtype) for l in range(1, 7)}
        h, _ = conv_forward_fast(X, self.whiten, np.zeros(len(self.whiten), self.dtype),
                                 {"stride": 1, "pad": 0})
        h, cache = relu_forward(h)
        caches.append(cache)
        for l in range(1, 7):
            self.bn_params[l]["mode"] = mode
            h, conv_cache = conv_forward_fast(h, p[f"theta{l}"], zeros[l], SAME_3x3)
            pool_cache = None
            if l % 2:                                       # first conv of a block: pool
                h, pool_cache = max_pool_floor_forward(h, POOL_PARAM)
            h, bn_cache = spatial_batchnorm_forward(h, p[f"gamma{l}"], p[f"beta{l}"],
                                                    self.bn_params[l])
            h, relu_cache = relu_forward(h)
            caches.append((conv_cache, pool_cache, bn_cache, relu_cache))
        h, pool_cache = max_pool_forward_fast(h, {"pool_height": h.shape[2], "pool_width":
                                                  h.shape[3], "stride": max(h.shape[2:])})
        scores, affine_cache = affine_forward(h, p["theta7"], p["theta7_0"])
        caches.append((pool_cache, affine_cache))
        return scores * self.dtype.type(self.head_scale), caches

    def loss(self, X, y=None):
        """Scores (m, num_classes) when y is None (averaged over the tta views);
        otherwise (loss, grads) on a training batch (augmented when augment)."""
        if X.ndim != 4 or X.shape[1:] != self.input_dim:
            raise ValueError(f"shape mismatch: X must be (m, *input_dim) = "
                             f"(m, {', '.join(map(str, self.input_dim))}), got {X.shape}")
        check_batch(X, y)
        X = X.astype(self.dtype, copy=False)
        if y is None:
            views = TTA_VIEWS[self.tta](X)
            return sum(w * self._forward(v, "test")[0] for w, v in views)
        if self.augment:
            X = translate_and_flip(X, self.rng, flip=self.flip)
        scores, caches = self._forward(X, "train")
        loss, dscores = softmax_loss(scores, y, smoothing=self.smoothing)
        grads = {}
        pool_cache, affine_cache = caches.pop()
        dh, grads["theta7"], grads["theta7_0"] = affine_backward(
            dscores * self.dtype.type(self.head_scale), affine_cache)
        dh = max_pool_backward_fast(dh.reshape(pool_cache[1].shape), pool_cache)
        for l in range(6, 0, -1):
            conv_cache, pool_cache, bn_cache, relu_cache = caches.pop()
            dh = relu_backward(dh, relu_cache)
            dh, grads[f"gamma{l}"], grads[f"beta{l}"] = spatial_batchnorm_backward(dh, bn_cache)
            if pool_cache is not None:
                dh = max_pool_floor_backward(dh, pool_cache)
            dh, grads[f"theta{l}"], _ = conv_backward_fast(dh, conv_cache, compute_dx=l > 1)
        return loss, grads


SAME_3x3 = {"stride": 1, "pad": 1}


def _shift(X, dy, dx):
    """X moved by (dy, dx) pixels, the uncovered border filled by reflection."""
    H, W = X.shape[2:]
    padded = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    return padded[:, :, 1 - dy:1 - dy + H, 1 - dx:1 - dx + W]


# name -> function of X giving [(weight, view)]; the weights sum to 1.
TTA_VIEWS = {
    "none": lambda X: [(1.0, X)],
    "flip": lambda X: [(0.5, X), (0.5, X[:, :, :, ::-1])],
    "flip_translate": lambda X: [(0.25, X), (0.25, X[:, :, :, ::-1]),
                                 (0.125, _shift(X, 1, 1)), (0.125, _shift(X, 1, 1)[:, :, :, ::-1]),
                                 (0.125, _shift(X, -1, -1)),
                                 (0.125, _shift(X, -1, -1)[:, :, :, ::-1])],
}
