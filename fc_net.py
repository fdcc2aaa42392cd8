"""Fully connected networks: a two-layer net and a net of any depth.

A model is a dict of parameters plus loss(X, y=None): scores at test time,
(loss, grads) at training time with grads keyed like params. Layer l has
weights 'theta<l>' of shape (d_{l-1}, d_l) and biases 'theta<l>_0' of shape (d_l,).
The loss is softmax cross-entropy plus the L2 penalty 0.5 * reg * sum theta^2
over the weights (not the biases).
"""
import numpy as np

from layer_utils import (affine_bn_relu_backward, affine_bn_relu_forward, affine_relu_backward,
                         affine_relu_forward, bn_running_stats, load_bn_running_stats)
from layers import affine_backward, affine_forward, dropout_backward, dropout_forward, softmax_loss
from validate import (check_batch, check_labels, float_dtype, nonnegative_float, positive_float,
                      positive_int, positive_ints, require, unit_interval)


def init_affine_params(dims, weight_scale, dtype, rng):
    """Weights theta<l> ~ N(0, weight_scale^2) of shape (dims[l-1], dims[l]) and zero biases."""
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:]), start=1):
        params[f"theta{l}"] = (weight_scale * rng.standard_normal((fan_in, fan_out))).astype(dtype)
        params[f"theta{l}_0"] = np.zeros(fan_out, dtype=dtype)
    return params


def l2_penalty(params, reg, grads):
    """Return 0.5 * reg * sum ||theta<l>||^2 and add reg * theta<l> to grads in place."""
    penalty = 0.0
    if reg == 0:
        return penalty  # spares a pass over every weight
    for name, value in params.items():
        if name.startswith("theta") and not name.endswith("_0"):
            penalty += 0.5 * reg * float(np.sum(value * value))
            grads[name] += reg * value
    return penalty


def check_input(X, input_dim):
    """Raise ValueError unless X is a batch whose examples flatten to input_dim values."""
    d = int(np.prod(X.shape[1:])) if X.ndim >= 2 else -1
    if d != input_dim:
        raise ValueError(f"shape mismatch: X of shape {X.shape} must be (m, ...) with "
                         f"{input_dim} values per example (input_dim)")


class FullyConnectedNet:
    """{affine - [batch norm] - relu - [dropout]} x (L - 1) - affine - softmax, for any L >= 1.

    hidden_dims:  list of hidden layer widths (empty gives softmax regression).
    input_dim:    d, size of one flattened input.
    num_classes:  C.
    dropout:      probability p of DROPPING a hidden unit; 0 disables dropout.
    normalization: None, or 'batchnorm': each hidden affine layer l is followed by batch
                  norm with parameters 'gamma<l>' (ones) and 'beta<l>' (zeros); its running
                  statistics are the model's buffers, which the Solver keeps with the
                  best parameters and in checkpoints.
    reg:          L2 strength (on the theta<l> weights only).
    weight_scale: standard deviation of the initial weights.
    dtype:        parameter dtype; float64 for gradient checks, float32 to train.
    seed:         the handout's switch for gradient checks: seeds the initial weights
                  and FIXES the dropout mask, so the loss is a deterministic function.
                  Never train with it: every step would drop the same units.
    rng:          for training: a seed or np.random.Generator that draws the initial
                  weights and then a NEW dropout mask at every training-mode forward
                  pass. It is self.rng, whose state the Solver saves in checkpoints.
    With neither, weights and masks come from a generator seeded by the OS.
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout=0,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None,
                 rng=None):
        hidden_dims = positive_ints("hidden_dims", hidden_dims)
        positive_int("input_dim", input_dim)
        positive_int("num_classes", num_classes)
        unit_interval("dropout (the probability of dropping a unit)", dropout)
        nonnegative_float("reg", reg)
        positive_float("weight_scale", weight_scale)
        float_dtype("dtype", dtype)
        require(normalization in (None, "batchnorm"),
                f"normalization must be None or 'batchnorm', got {normalization!r}")
        require(seed is None or rng is None, "give seed (fixed dropout masks, for gradient "
                "checks) or rng (new masks every step, for training), not both")
        # Settings are kept as given: the Solver's checkpoint names hash them as written.
        self.hidden_dims = list(hidden_dims)
        self.weight_scale = weight_scale
        self.reg = reg
        self.dropout = dropout
        self.normalization = normalization
        self.dtype = dtype
        self.input_dim = input_dim
        self.num_classes = num_classes
        self.num_layers = len(hidden_dims) + 1
        dims = [input_dim, *hidden_dims, num_classes]
        self.rng = np.random.default_rng(seed if seed is not None else rng)
        self.params = init_affine_params(dims, weight_scale, dtype, self.rng)
        self.bn_params = {}
        if normalization == "batchnorm":
            for l, width in enumerate(hidden_dims, start=1):
                self.params[f"gamma{l}"] = np.ones(width, dtype=dtype)
                self.params[f"beta{l}"] = np.zeros(width, dtype=dtype)
                self.bn_params[l] = {"mode": "train", "running_mean": np.zeros(width, dtype=dtype),
                                     "running_var": np.ones(width, dtype=dtype)}
        self.use_dropout = dropout > 0
        self.dropout_param = {"mode": "train", "p": dropout}
        if seed is not None:
            self.dropout_param["seed"] = seed
        else:
            self.dropout_param["rng"] = self.rng

    @property
    def buffers(self):
        """Batch norm's running statistics, 'running_mean<l>' and 'running_var<l>'."""
        return bn_running_stats(self.bn_params)

    def load_buffers(self, buffers):
        load_bn_running_stats(self.bn_params, buffers)

    def loss(self, X, y=None):
        """Scores (m, C) when y is None; otherwise (loss, grads) for labels y of shape (m,)."""
        check_input(X, self.input_dim)
        check_batch(X, y)
        X = X.astype(self.dtype, copy=False)
        mode = "test" if y is None else "train"
        self.dropout_param["mode"] = mode
        L, p = self.num_layers, self.params
        caches = []
        h = X
        for l in range(1, L):
            if self.bn_params:
                self.bn_params[l]["mode"] = mode
                h, cache = affine_bn_relu_forward(h, p[f"theta{l}"], p[f"theta{l}_0"],
                                                  p[f"gamma{l}"], p[f"beta{l}"], self.bn_params[l])
            else:
                h, cache = affine_relu_forward(h, p[f"theta{l}"], p[f"theta{l}_0"])
            caches.append(cache)
            if self.use_dropout:
                h, cache = dropout_forward(h, self.dropout_param)
                caches.append(cache)
        scores, last_cache = affine_forward(h, self.params[f"theta{L}"], self.params[f"theta{L}_0"])
        if y is None:
            return scores

        check_labels(y, self.num_classes)
        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh, grads[f"theta{L}"], grads[f"theta{L}_0"] = affine_backward(dscores, last_cache)
        for l in range(L - 1, 0, -1):
            if self.use_dropout:
                dh = dropout_backward(dh, caches.pop())
            if self.bn_params:
                dh, grads[f"theta{l}"], grads[f"theta{l}_0"], grads[f"gamma{l}"], \
                    grads[f"beta{l}"] = affine_bn_relu_backward(dh, caches.pop())
            else:
                dh, grads[f"theta{l}"], grads[f"theta{l}_0"] = affine_relu_backward(dh, caches.pop())
        loss += l2_penalty(self.params, self.reg, grads)
        return loss, grads


class TwoLayerNet(FullyConnectedNet):
    """affine - relu - affine - softmax, with params 'theta1', 'theta1_0', 'theta2', 'theta2_0'.

    input_dim d, hidden_dim h, num_classes C: theta1 is (d, h), theta2 is (h, C).
    """

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0, dtype=np.float64, seed=None, rng=None):
        positive_int("hidden_dim", hidden_dim)
        super().__init__([hidden_dim], input_dim=input_dim, num_classes=num_classes,
                         reg=reg, weight_scale=weight_scale, dtype=dtype, seed=seed, rng=rng)
