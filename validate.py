"""Argument checks shared by the layers, models, Solver, search and data code.

Every check raises ValueError with a message that names the argument, the value
it got and the rule it broke; each check is written once, here. The module
imports nothing from the project.
"""
import math

import numpy as np


def require(condition, message):
    """Raise ValueError(message) unless condition holds."""
    if not condition:
        raise ValueError(message)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def positive_int(name, value):
    """value as an int; ValueError unless it is an integer > 0 (bools are refused)."""
    require(_is_int(value) and value > 0, f"{name} must be a positive integer, got {value!r}")
    return int(value)


def nonnegative_int(name, value):
    """value as an int; ValueError unless it is an integer >= 0 (bools are refused)."""
    require(_is_int(value) and value >= 0,
            f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def positive_ints(name, values):
    """values as a tuple of ints; ValueError unless each is an integer > 0."""
    values = tuple(values)
    require(all(_is_int(v) and v > 0 for v in values),
            f"{name} must hold positive integers, got {values!r}")
    return tuple(int(v) for v in values)


def _real_number(value):
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def positive_float(name, value):
    """value as a float; ValueError unless it is a finite real number > 0."""
    require(_real_number(value) and math.isfinite(value) and value > 0,
            f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def nonnegative_float(name, value):
    """value as a float; ValueError unless it is a finite real number >= 0."""
    require(_real_number(value) and math.isfinite(value) and value >= 0,
            f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def float_dtype(name, dtype):
    """np.dtype(dtype); ValueError unless it is a real floating type."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as error:
        raise ValueError(f"{name} must be a floating dtype, got {dtype!r}") from error
    require(dtype.kind == "f", f"{name} must be a real floating dtype, got {dtype}")
    return dtype


def require_float(name, array):
    """The dtype gate: ValueError unless array is a real floating ndarray.

    Integers would be truncated (scaled masks, gradients cast to the input's dtype),
    bools and objects have no arithmetic the layers can trust, and complex numbers
    have no order for max or ReLU.
    """
    require(isinstance(array, np.ndarray),
            f"{name} must be a NumPy array, got {type(array).__name__}")
    require(array.dtype.kind == "f", f"{name} must hold floats (a real floating dtype), got dtype {array.dtype}")


def require_shape(name, array, shape):
    """ValueError unless array.shape == shape (no broadcasting is ever assumed)."""
    require(np.shape(array) == tuple(shape),
            f"shape mismatch: {name} must have shape {tuple(shape)}, got {np.shape(array)}")


def check_labels(y, num_classes):
    """y as an array; ValueError unless it is (m,) integers with entries in [0, num_classes)."""
    y = np.asarray(y)
    require(y.ndim == 1, f"y must be a 1-d array of class labels, got shape {y.shape}")
    require(y.dtype.kind in "iu", f"y must hold integer class labels, got dtype {y.dtype}")
    if y.size:
        lo, hi = int(y.min()), int(y.max())
        require(lo >= 0 and hi < num_classes,
                f"y must hold labels in [0, {num_classes}) for {num_classes} classes, "
                f"got labels from {lo} to {hi}")
    return y


def check_batch(X, y=None):
    """ValueError for an empty batch X, or labels y whose count differs from X's."""
    require(np.ndim(X) >= 1 and np.shape(X)[0] > 0,
            f"X must hold at least one example, got shape {np.shape(X)}")
    if y is not None:
        require(np.ndim(y) == 1 and np.shape(y)[0] == np.shape(X)[0],
                f"shape mismatch: y must be ({np.shape(X)[0]},), one label per example of X, "
                f"got shape {np.shape(y)}")


def check_keys(name, settings, valid):
    """ValueError naming the valid keys when the dict settings holds any other."""
    require(isinstance(settings, dict), f"{name} must be a dict, got {type(settings).__name__}")
    unknown = sorted(set(settings) - set(valid))
    require(not unknown, f"unknown {name} key(s) {unknown}; valid keys are {sorted(valid)}")


def window_count(size, field, pad, stride, names=("W", "F", "P", "S")):
    """Number of windows that fit along one axis: 1 + (W - F + 2P) / S.

    Raises ValueError naming W, F, P and S when the windows do not tile the
    padded input exactly (the quotient is not a whole number or is negative).
    """
    w, f, p, s = names
    span = size - field + 2 * pad
    require(span >= 0,
            f"window does not fit: {w}={size}, {f}={field}, {p}={pad} gives "
            f"{w} - {f} + 2{p} = {span} < 0")
    require(span % stride == 0,
            f"hyperparameters do not tile the input: 1 + ({w} - {f} + 2{p}) / {s} = "
            f"1 + ({size} - {field} + 2*{pad}) / {stride} = {1 + span / stride:g} "
            f"is not an integer ({w}={size}, {f}={field}, {p}={pad}, {s}={stride})")
    return 1 + span // stride


def conv_geometry(x_shape, theta_shape, conv_param):
    """Validate a convolution and return (stride, pad, H_out, W_out).

    x_shape: (m, C, H, W); theta_shape: (F, C, HH, WW); conv_param: dict with
    'stride' (default 1) and 'pad' (default 0).
    """
    require(len(x_shape) == 4, f"x must be 4-d (m, C, H, W), got shape {tuple(x_shape)}")
    require(len(theta_shape) == 4,
            f"theta must be 4-d (F, C, HH, WW), got shape {tuple(theta_shape)}")
    _, C, H, W = x_shape
    _, C_theta, HH, WW = theta_shape
    require(C == C_theta, f"channel mismatch: x has C={C} channels but theta expects {C_theta}")
    check_keys("conv_param", conv_param, ("stride", "pad"))
    stride = positive_int("conv_param['stride']", conv_param.get("stride", 1))
    pad = nonnegative_int("conv_param['pad']", conv_param.get("pad", 0))
    H_out = window_count(H, HH, pad, stride, ("H", "HH", "P", "S"))
    W_out = window_count(W, WW, pad, stride, ("W", "WW", "P", "S"))
    return stride, pad, H_out, W_out


def _pool_window(x_shape, pool_param):
    require(len(x_shape) == 4, f"x must be 4-d (m, C, H, W), got shape {tuple(x_shape)}")
    check_keys("pool_param", pool_param, ("pool_height", "pool_width", "stride"))
    ph = positive_int("pool_param['pool_height']", pool_param.get("pool_height", 2))
    pw = positive_int("pool_param['pool_width']", pool_param.get("pool_width", 2))
    stride = positive_int("pool_param['stride']", pool_param.get("stride", 2))
    return ph, pw, stride


def pool_geometry(x_shape, pool_param):
    """Validate a max pool whose windows tile x; return (pool_height, pool_width, stride,
    H_out, W_out)."""
    ph, pw, stride = _pool_window(x_shape, pool_param)
    H, W = x_shape[2:]
    H_out = window_count(H, ph, 0, stride, ("H", "pool_height", "P", "S"))
    W_out = window_count(W, pw, 0, stride, ("W", "pool_width", "P", "S"))
    return ph, pw, stride, H_out, W_out


def floor_pool_geometry(x_shape, pool_param):
    """Like pool_geometry for a floor-mode pool (windows that do not fit are dropped,
    as in PyTorch): H_out = (H - pool_height) // stride + 1."""
    ph, pw, stride = _pool_window(x_shape, pool_param)
    H, W = x_shape[2:]
    require(H >= ph and W >= pw, f"the {ph}x{pw} pool window does not fit in x's {H}x{W} images")
    return ph, pw, stride, (H - ph) // stride + 1, (W - pw) // stride + 1


def unit_interval(name, value, closed=False):
    """value as a float; ValueError unless it is a real number in [0, 1) ([0, 1] if closed).

    For probabilities, slopes and decay rates: at 1 a moving average never moves.
    """
    inside = _real_number(value) and 0 <= value and (value <= 1 if closed else value < 1)
    require(inside,
            f"{name} must be a number in [0, {'1]' if closed else '1)'}, got {value!r}")
    return float(value)


def check_examples(X, example_shape, y=None):
    """ValueError unless X is a batch (m, *example_shape) of m >= 1 examples and y, when
    given, holds one label per example (check_batch): a model's input against its input_dim."""
    example_shape = tuple(example_shape)
    require(np.ndim(X) == 1 + len(example_shape) and np.shape(X)[1:] == example_shape,
            f"shape mismatch: X must be (m, *input_dim) = "
            f"(m, {', '.join(map(str, example_shape))}), got {np.shape(X)}")
    check_batch(X, y)
