"""A three-layer convolutional network for images of shape (C, H, W).

conv - relu - 2x2 max pool - affine - relu - affine - softmax, with the usual
model contract: a dict of parameters and loss(X, y=None) that returns scores at
test time and (loss, grads) at training time, grads keyed like params.
"""
import numpy as np

from fc_net import l2_penalty
from layer_utils import (affine_relu_backward, affine_relu_forward, conv_relu_pool_backward,
                         conv_relu_pool_forward)
from layers import affine_backward, affine_forward, softmax_loss
from validate import (check_examples, float_dtype, nonnegative_float, positive_float, positive_int,
                      positive_ints, require)


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax.

    input_dim:    (C, H, W) of one image; H and W must be even for the 2x2 pool.
    num_filters:  F, filters of the conv layer.
    filter_size:  odd side length HH = WW of the filters; the conv uses stride 1 and
                  'same' padding P = (filter_size - 1) // 2, so it keeps H and W.
    hidden_dim:   width of the hidden affine layer.
    num_classes:  number of scores.
    weight_scale: standard deviation of the initial weights (> 0); biases start at 0.
    reg:          L2 strength (>= 0): the loss adds 0.5 * reg * sum theta^2 over weights.
    dtype:        floating dtype of the parameters, activations and gradients.
    seed:         seeds the weight initialisation.

    Parameters: theta1 (F, C, HH, WW), theta1_0 (F,); theta2 (F*H/2*W/2, hidden_dim),
    theta2_0 (hidden_dim,); theta3 (hidden_dim, num_classes), theta3_0 (num_classes,).
    Invalid arguments raise ValueError.
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32, seed=None):
        require(len(input_dim) == 3, f"input_dim must be (C, H, W), got {input_dim!r}")
        C, H, W = positive_ints("input_dim (C, H, W)", input_dim)
        for name, value in [("num_filters", num_filters), ("filter_size", filter_size),
                            ("hidden_dim", hidden_dim), ("num_classes", num_classes)]:
            positive_int(name, value)
        require(H % 2 == 0 and W % 2 == 0,
                f"the 2x2 max pool needs even H and W, got H={H}, W={W}")
        require(filter_size % 2 == 1, f"filter_size must be odd so that 'same' padding "
                                      f"P = (filter_size - 1) // 2 keeps H and W, got {filter_size}")
        positive_float("weight_scale", weight_scale)
        nonnegative_float("reg", reg)

        self.input_dim = (C, H, W)
        self.num_classes = num_classes
        self.reg = reg
        self.dtype = float_dtype("dtype", dtype)
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        fan_out = {"theta1": num_filters, "theta2": hidden_dim, "theta3": num_classes}
        shapes = {"theta1": (num_filters, C, filter_size, filter_size),
                  "theta2": (num_filters * (H // 2) * (W // 2), hidden_dim),
                  "theta3": (hidden_dim, num_classes)}
        rng = np.random.default_rng(seed)
        self.params = {}
        for name, shape in shapes.items():
            self.params[name] = (weight_scale * rng.standard_normal(shape)).astype(self.dtype)
            self.params[name + "_0"] = np.zeros(fan_out[name], dtype=self.dtype)

    def loss(self, X, y=None):
        """Scores (m, num_classes) when y is None; otherwise (loss, grads).

        X: (m, C, H, W) images, cast to the model's dtype; y: (m,) labels.
        """
        check_examples(X, self.input_dim, y)
        X = X.astype(self.dtype, copy=False)
        p = self.params
        h1, cache1 = conv_relu_pool_forward(X, p["theta1"], p["theta1_0"],
                                            self.conv_param, self.pool_param)
        h2, cache2 = affine_relu_forward(h1, p["theta2"], p["theta2_0"])
        scores, cache3 = affine_forward(h2, p["theta3"], p["theta3_0"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh2, grads["theta3"], grads["theta3_0"] = affine_backward(dscores, cache3)
        dh1, grads["theta2"], grads["theta2_0"] = affine_relu_backward(dh2, cache2)
        # The images are data, not parameters: skip their derivative.
        _, grads["theta1"], grads["theta1_0"] = conv_relu_pool_backward(dh1, cache1,
                                                                        compute_dx=False)
        loss += l2_penalty(p, self.reg, grads)
        return loss, grads
