"""The numerical checks the notebooks print: each returns relative errors.

Forward passes are compared with independent reference computations (einsum
over sliding windows, written differently from layers.py); backward passes and
models with centred differences (gradient_check.py); update rules with the
handout's equations. Everything runs in float64 on tiny shapes: the centred
difference's own error is ~1e-10 there, so an error near 1e-7 or above means
a wrong derivative, not round-off.
"""
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error


def random_arrays(seed=0, **shapes):
    """{name: standard normal float64 array of that shape}, drawn in argument order."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape) for name, shape in shapes.items()}


def norm_error(x, y):
    """||x - y|| / max(1e-8, ||x|| + ||y||): the error of the whole array at once.

    rel_error takes the worst entry; an entry of size ~1e-6 carries the centred
    difference's round-off (~1e-10) as a relative error of ~1e-5 even when the
    gradient is exact, and this measure is immune to that.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.linalg.norm(x - y) / max(1e-8, np.linalg.norm(x) + np.linalg.norm(y)))


def report(errors, title=None):
    """Print {name: relative error} one per line, aligned; returns the largest error.

    A value may be a pair (rel_error, norm_error), as model_gradient_errors gives.
    """
    if title:
        print(title)
    width = max(len(name) for name in errors)
    worst = 0.0
    for name, err in errors.items():
        if isinstance(err, tuple):
            print(f"  {name:<{width}}  relative error {err[0]:.2e}  (norm-wise {err[1]:.2e})")
            err = err[0]
        else:
            print(f"  {name:<{width}}  relative error {err:.2e}")
        worst = max(worst, err)
    return worst


# ------------------------------------------------------------- layer checks

def layer_gradient_errors(forward, backward, inputs, *args, seed=0):
    """Relative errors of backward's gradients against centred differences.

    forward(*inputs.values(), *args) -> (out, cache); backward(dout, cache) returns
    the gradient for each input in order (a bare array when there is one input).
    The upstream derivative dout is a random array, so each gradient is checked
    in every direction at once. Returns {'d<name>': error}.
    """
    names = list(inputs)
    out, cache = forward(*inputs.values(), *args)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    errors = {}
    for name, grad in zip(names, grads):
        def f(value, name=name):
            return forward(*({**inputs, name: value}).values(), *args)[0]
        errors[f"d{name}"] = rel_error(eval_numerical_gradient_array(f, inputs[name], dout), grad)
    return errors


def loss_gradient_error(loss_fn, x, y):
    """(loss, relative error of dx) for a loss layer loss_fn(x, y) -> (loss, dx)."""
    loss, dx = loss_fn(x, y)
    numeric = eval_numerical_gradient(lambda v: loss_fn(v, y)[0], x)
    return loss, rel_error(numeric, dx)


def model_gradient_errors(model, X, y):
    """{parameter name: (rel_error, norm_error)} of model.loss's gradients at (X, y)."""
    _, grads = model.loss(X, y)
    errors = {}
    for name, value in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], value)
        errors[name] = (rel_error(numeric, grads[name]), norm_error(numeric, grads[name]))
    return errors


# ------------------------------------------------------ reference forwards

def affine_reference(x, theta, theta0):
    """a_ij = sum_k x_ik theta_kj + theta0_j, with x flattened per example."""
    return np.einsum("ik,kj->ij", x.reshape(len(x), -1), theta) + theta0


def conv_reference(x, theta, theta0, stride, pad):
    """Cross-correlation from a strided view of every window of the padded input."""
    HH, WW = theta.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(xpad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwab,fcab->nfhw", windows, theta) + theta0[:, None, None]


def max_pool_reference(x, pool_height, pool_width, stride):
    """Maximum over every pool_height x pool_width window taken every stride pixels."""
    windows = sliding_window_view(x, (pool_height, pool_width), axis=(2, 3))
    return windows[:, :, ::stride, ::stride].max(axis=(4, 5))


# ------------------------------------------------------------- update rules

def _reference_update(rule, theta, grads, config):
    """The handout's equations for rule, applied to the gradient sequence grads."""
    alpha = config["learning_rate"]
    state = {}
    if rule == "sgd_momentum":
        v = np.zeros_like(theta)
        for g in grads:
            v = config["momentum"] * v - alpha * g
            theta = theta + v
        state["velocity"] = v
    elif rule == "rmsprop":
        c = np.zeros_like(theta)
        for g in grads:
            c = config["decay_rate"] * c + (1 - config["decay_rate"]) * g ** 2
            theta = theta - alpha * g / (np.sqrt(c) + config["epsilon"])
        state["cache"] = c
    elif rule == "adam":
        b1, b2 = config["beta1"], config["beta2"]
        m, v = np.zeros_like(theta), np.zeros_like(theta)
        for t, g in enumerate(grads, start=1):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g ** 2
            theta = theta - alpha * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t))
                                                            + config["epsilon"])
        state.update(m=m, v=v)
    else:
        raise ValueError(f"no reference for update rule {rule!r}")
    return theta, state


REFERENCE_CONFIGS = {
    "sgd_momentum": dict(learning_rate=1e-3, momentum=0.9),
    "rmsprop": dict(learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8),
    "adam": dict(learning_rate=1e-2, beta1=0.9, beta2=0.999, epsilon=1e-8),
}


def update_rule_errors(rule, steps=5, shape=(4, 5), seed=0):
    """Relative errors of optim.<rule> against the handout's equations over several steps.

    Both start from the same theta and see the same gradients; compares the
    parameters and the state the rule carries between calls.
    """
    import optim
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(steps)]
    expected, state = _reference_update(rule, theta, grads, REFERENCE_CONFIGS[rule])
    config = dict(REFERENCE_CONFIGS[rule])
    for g in grads:
        theta, config = getattr(optim, rule)(theta, g, config)
    errors = {"next theta": rel_error(theta, expected)}
    errors.update({name: rel_error(config[name], value) for name, value in state.items()})
    return errors


# ------------------------------------------------------------------ dropout

def dropout_statistics(x, ps, seed=0):
    """For each drop probability p: means and zero fractions of dropout in both modes.

    Returns rows (p, mean of x, mean train output, mean test output,
    fraction zeroed in train, fraction zeroed in test).
    """
    from layers import dropout_forward
    rows = []
    for p in ps:
        train, _ = dropout_forward(x, {"p": p, "mode": "train", "seed": seed})
        test, _ = dropout_forward(x, {"p": p, "mode": "test"})
        rows.append((p, x.mean(), train.mean(), test.mean(),
                     np.mean(train == 0), np.mean(test == 0)))
    return rows


# ------------------------------------------------------------- fast layers

def _best_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def fast_vs_naive(x_shape=(50, 3, 32, 32), theta_shape=(25, 3, 3, 3), conv_param=None,
                  pool_param=None, repeats=2, seed=0):
    """Time each naive layer against its fast twin on one input; check they agree.

    Returns rows (operation, naive seconds, fast seconds, speed-up, relative error of
    the fast result against the naive one); times are the best of `repeats` runs.
    """
    from fast_layers import (conv_backward_fast, conv_forward_fast, max_pool_backward_fast,
                             max_pool_forward_fast)
    from layers import (conv_backward_naive, conv_forward_naive, max_pool_backward_naive,
                        max_pool_forward_naive)
    conv_param = conv_param or {"stride": 1, "pad": 1}
    pool_param = pool_param or {"pool_height": 2, "pool_width": 2, "stride": 2}
    arrays = random_arrays(seed, x=x_shape, theta=theta_shape, theta0=theta_shape[:1])
    x, theta, theta0 = arrays["x"], arrays["theta"], arrays["theta0"]

    conv_naive, conv_cache_naive = conv_forward_naive(x, theta, theta0, conv_param)
    conv_fast, conv_cache_fast = conv_forward_fast(x, theta, theta0, conv_param)
    dconv = np.random.default_rng(seed + 1).standard_normal(conv_naive.shape)
    grads_naive = conv_backward_naive(dconv, conv_cache_naive)
    grads_fast = conv_backward_fast(dconv, conv_cache_fast)
    pool_naive, pool_cache_naive = max_pool_forward_naive(x, pool_param)
    pool_fast, pool_cache_fast = max_pool_forward_fast(x, pool_param)
    dpool = np.random.default_rng(seed + 2).standard_normal(pool_naive.shape)

    cases = [
        ("conv forward", lambda: conv_forward_naive(x, theta, theta0, conv_param),
         lambda: conv_forward_fast(x, theta, theta0, conv_param), rel_error(conv_naive, conv_fast)),
        ("conv backward", lambda: conv_backward_naive(dconv, conv_cache_naive),
         lambda: conv_backward_fast(dconv, conv_cache_fast),
         max(rel_error(a, b) for a, b in zip(grads_naive, grads_fast))),
        ("max pool forward", lambda: max_pool_forward_naive(x, pool_param),
         lambda: max_pool_forward_fast(x, pool_param), rel_error(pool_naive, pool_fast)),
        ("max pool backward", lambda: max_pool_backward_naive(dpool, pool_cache_naive),
         lambda: max_pool_backward_fast(dpool, pool_cache_fast),
         rel_error(max_pool_backward_naive(dpool, pool_cache_naive),
                   max_pool_backward_fast(dpool, pool_cache_fast))),
    ]
    rows = []
    for name, naive, fast, error in cases:
        t_naive, t_fast = _best_time(naive, repeats), _best_time(fast, repeats)
        rows.append((name, t_naive, t_fast, t_naive / t_fast, error))
    return rows
