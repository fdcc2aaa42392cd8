"""Problem 4.4.7's fast network, WhitenedConvNet, and its frozen whitening filters.

A frozen 2x2 whitening conv, three conv-pool-BN-relu blocks, a global max pool and a
scaled linear head, after the airbench recipes; how it is trained (the recipe, the
data, the run) is in best_model.py, its augmentation in augment.py.
"""
import numpy as np

from augment import translate_and_flip
from layer_utils import bn_running_stats, load_bn_running_stats
from fast_layers import (conv_backward_fast, conv_forward_fast, max_pool_backward_fast,
                         max_pool_floor_backward, max_pool_floor_forward, max_pool_forward_fast)
from fast_nhwc import (conv_backward_nhwc, conv_forward_nhwc, max_pool_floor_backward_nhwc,
                       max_pool_floor_forward_nhwc, pool_bn_act_backward, pool_bn_act_forward)
from layers import (affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss,
                    spatial_batchnorm_backward, spatial_batchnorm_forward)
from validate import (check_examples, float_dtype, positive_float, positive_int, positive_ints,
                      require, unit_interval)

POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}

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
    engine:      'nhwc' (default): the layers run channels-last (fast_nhwc: one transpose
                 of the input, pool + BN + ReLU fused); 'nchw': the course's fast layers,
                 image by image as the other nets (the reference the engine is tested
                 and benchmarked against). Both compute the same function.
    seed / rng:  as in FullyConnectedNet (rng: initial weights, then augmentation).
    Parameters: theta1..theta6 (convs, no bias: BN follows), gamma1..6 and beta1..6,
    theta7 (w3, C) and theta7_0. Buffers: the whitening filters and BN statistics.
    Every conv starts as a random (PyTorch-default) filter bank whose first C_in
    filters are replaced by identities (Dirac init), so each block starts close to
    passing its input through.
    """

    def __init__(self, whiten, input_dim=(3, 32, 32), widths=(64, 256, 256), num_classes=10,
                 smoothing=0.2, head_scale=1 / 9, bn_momentum=0.4, augment=True, tta="flip",
                 dirac=True, flip=True, engine="nhwc", dtype=np.float32, seed=None, rng=None):
        C, H, W = positive_ints("input_dim", input_dim)
        widths = positive_ints("widths", widths)
        require(len(widths) == 3 and H >= 9 and W >= 9,
                f"need three widths and H, W >= 9, got widths={widths}, input_dim={input_dim}")
        require(isinstance(whiten, np.ndarray) and whiten.ndim == 4
                and whiten.shape[1:] == (C, 2, 2),
                f"whiten must be (2K, {C}, 2, 2) filters, got shape {np.shape(whiten)}")
        require(tta in TTA_VIEWS, f"tta must be one of {sorted(TTA_VIEWS)}, got {tta!r}")
        require(engine in ("nhwc", "nchw"), f"engine must be 'nhwc' or 'nchw', got {engine!r}")
        require(seed is None or rng is None, "give seed or rng, not both")
        positive_int("num_classes", num_classes)
        unit_interval("smoothing", smoothing)
        positive_float("head_scale", head_scale)
        unit_interval("bn_momentum", bn_momentum)
        # kept as given: the Solver's checkpoint names hash the model's settings as written
        self.input_dim, self.widths, self.num_classes = (C, H, W), widths, num_classes
        self.smoothing, self.head_scale, self.bn_momentum = smoothing, head_scale, bn_momentum
        self.augment, self.tta, self.dtype = augment, tta, float_dtype("dtype", dtype)
        self.dirac, self.flip, self.engine = bool(dirac), bool(flip), engine
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

    def _forward_nchw(self, X, mode):
        """Scores of X (m, C, H, W) and the caches of every layer, with the course's fast layers."""
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

    def _backward_nchw(self, dscores, caches):
        """Gradients of the parameters from dscores, the loss's gradient of the scores."""
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
        return grads

    def _forward_nhwc(self, X, mode):
        """As _forward_nchw, channels-last: X is transposed once to (m, H, W, C), each
        block's max pool, batch norm and ReLU run as one fused layer."""
        p, caches = self.params, []
        x = np.ascontiguousarray(X.transpose(0, 2, 3, 1))
        h, _ = conv_forward_nhwc(x, self.whiten, None, {"stride": 1, "pad": 0})
        h, cache = relu_forward(h)
        for l in range(1, 7):
            self.bn_params[l]["mode"] = mode
            h, conv_cache = conv_forward_nhwc(h, p[f"theta{l}"], None, SAME_3x3)
            h, bn_cache = pool_bn_act_forward(h, p[f"gamma{l}"], p[f"beta{l}"], self.bn_params[l],
                                              POOL_PARAM if l % 2 else None)
            caches.append((conv_cache, bn_cache))
        h, pool_cache = max_pool_floor_forward_nhwc(h, {"pool_height": h.shape[1], "pool_width":
                                                        h.shape[2], "stride": max(h.shape[1:3])})
        scores, affine_cache = affine_forward(h, p["theta7"], p["theta7_0"])
        caches.append((pool_cache, affine_cache, h.shape))
        return scores * self.dtype.type(self.head_scale), caches

    def _backward_nhwc(self, dscores, caches):
        """Gradients of the parameters from dscores, through the channels-last layers."""
        grads = {}
        pool_cache, affine_cache, pooled_shape = caches.pop()
        dh, grads["theta7"], grads["theta7_0"] = affine_backward(
            dscores * self.dtype.type(self.head_scale), affine_cache)
        dh = max_pool_floor_backward_nhwc(dh.reshape(pooled_shape), pool_cache)
        for l in range(6, 0, -1):
            conv_cache, bn_cache = caches.pop()
            dh, grads[f"gamma{l}"], grads[f"beta{l}"] = pool_bn_act_backward(dh, bn_cache)
            dh, grads[f"theta{l}"], _ = conv_backward_nhwc(dh, conv_cache, compute_dx=l > 1)
        return grads

    def _forward(self, X, mode):
        """Scores of X and the caches of every layer, on the model's engine."""
        return (self._forward_nhwc if self.engine == "nhwc" else self._forward_nchw)(X, mode)

    def loss(self, X, y=None):
        """Scores (m, num_classes) when y is None (averaged over the tta views);
        otherwise (loss, grads) on a training batch (augmented when augment)."""
        check_examples(X, self.input_dim, y)
        X = X.astype(self.dtype, copy=False)
        if y is None:
            views = TTA_VIEWS[self.tta](X)
            return sum(w * self._forward(v, "test")[0] for w, v in views)
        if self.augment:
            X = translate_and_flip(X, self.rng, flip=self.flip)
        scores, caches = self._forward(X, "train")
        loss, dscores = softmax_loss(scores, y, smoothing=self.smoothing)
        backward = self._backward_nhwc if self.engine == "nhwc" else self._backward_nchw
        return loss, backward(dscores, caches)


SAME_3x3 = {"stride": 1, "pad": 1}


def _shift(X, dy, dx):
    """X moved by (dy, dx) pixels, the uncovered border filled by reflection."""
    H, W = X.shape[2:]
    padded = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    return padded[:, :, 1 - dy:1 - dy + H, 1 - dx:1 - dx + W]


def _with_mirrors(weighted):
    """[(w / 2, view), (w / 2, its mirror)] for every (w, view) of weighted."""
    return [(w / 2, v) for w, view in weighted for v in (view, view[:, :, :, ::-1])]


# The 8 one-pixel moves (dy, dx) of 'flip_shift8'.
NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]

# name -> function of X giving [(weight, view)]; the weights sum to 1. 'flip_translate' is
# airbench94's level 2; 'flip_shift8' gives the image and its mirror half the weight and
# shares the other half among both moved by one pixel in each of the 8 directions (18 views).
TTA_VIEWS = {
    "none": lambda X: [(1.0, X)],
    "flip": lambda X: [(0.5, X), (0.5, X[:, :, :, ::-1])],
    "flip_translate": lambda X: [(0.25, X), (0.25, X[:, :, :, ::-1]),
                                 (0.125, _shift(X, 1, 1)), (0.125, _shift(X, 1, 1)[:, :, :, ::-1]),
                                 (0.125, _shift(X, -1, -1)),
                                 (0.125, _shift(X, -1, -1)[:, :, :, ::-1])],
    "flip_shift8": lambda X: _with_mirrors([(0.5, X)] + [(0.5 / 8, _shift(X, dy, dx))
                                                          for dy, dx in NEIGHBOURS]),
}
