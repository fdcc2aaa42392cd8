"""Sandwich layers: common chains of layers as one forward/backward pair.

Each forward returns (out, cache) where cache holds the caches of its parts;
each backward unwinds them in reverse order.
"""
from layers import affine_backward, affine_forward, relu_backward, relu_forward


def affine_relu_forward(x, theta, theta0):
    """Affine followed by ReLU: out = max(0, x.reshape(m, d) @ theta + theta0)."""
    a, affine_cache = affine_forward(x, theta, theta0)
    out, relu_cache = relu_forward(a)
    return out, (affine_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Returns dx, dtheta, dtheta0 of affine_relu_forward."""
    affine_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), affine_cache)
