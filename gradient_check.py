"""Numerical gradients by centred differences, for checking backward passes.

Use float64 inputs: with h = 1e-5 the centred difference
(f(x + h) - f(x - h)) / 2h has truncation error O(h^2) ~ 1e-10, far below
float32's resolution.
"""
import numpy as np


def rel_error(x, y):
    """Relative error max |x - y| / max(1e-8, |x| + |y|), taken elementwise.

    x and y must have the same shape: broadcasting would compare other entries.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: rel_error compares arrays of one shape, got "
                         f"{x.shape} and {y.shape}")
    if x.size == 0:
        raise ValueError("rel_error of empty arrays is undefined")
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _check_float(x):
    """Centred differences move x by h = 1e-5: an integer array would round it away."""
    if not (isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"x must be a float array (float64 for accurate checks), got "
                         f"{type(x).__name__} of dtype {getattr(x, 'dtype', None)}")


def _check_df(df, f_value):
    """df must be shaped like f(x): broadcasting would weight other entries."""
    if np.shape(df) != np.shape(f_value):
        raise ValueError(f"shape mismatch: df must have f(x)'s shape {np.shape(f_value)}, "
                         f"got {np.shape(df)}")


def eval_numerical_gradient(f, x, verbose=False, h=1e-5):
    """Gradient of a scalar function f at x, one entry at a time.

    f: callable taking x (modified in place and restored) and returning a scalar.
    x: float array; returns an array shaped like x with
       df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / 2h.
    """
    _check_float(x)
    grad = np.zeros_like(x, dtype=np.float64)
    for ix in np.ndindex(*x.shape):
        old = x[ix]
        x[ix] = old + h
        f_plus = f(x)
        x[ix] = old - h
        f_minus = f(x)
        x[ix] = old
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of sum(f(x) * df) at x: the backward pass of an array function f.

    f:  callable taking x (modified in place and restored) and returning an array.
    df: upstream derivative, shaped like f(x).
    Returns an array shaped like x.
    """
    _check_float(x)
    grad = np.zeros_like(x, dtype=np.float64)
    for ix in np.ndindex(*x.shape):
        old = x[ix]
        x[ix] = old + h
        f_plus = np.array(f(x), copy=True)
        x[ix] = old - h
        f_minus = np.array(f(x), copy=True)
        x[ix] = old
        _check_df(df, f_plus)
        grad[ix] = np.sum((f_plus - f_minus) * df) / (2 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None, verbose=True):
    """Compare analytic_grad with centred differences at num_checks random entries of x.

    Returns the list of relative errors, printing each when verbose.
    """
    _check_float(x)
    if np.shape(analytic_grad) != x.shape:
        raise ValueError(f"shape mismatch: analytic_grad must have x's shape {x.shape}, "
                         f"got {np.shape(analytic_grad)}")
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        old = x[ix]
        x[ix] = old + h
        f_plus = f(x)
        x[ix] = old - h
        f_minus = f(x)
        x[ix] = old
        numeric = (f_plus - f_minus) / (2 * h)
        analytic = analytic_grad[ix]
        errors.append(rel_error(numeric, analytic))
        if verbose:
            print(f"numerical: {numeric:f} analytic: {analytic:f}, relative error: {errors[-1]:e}")
    return errors
