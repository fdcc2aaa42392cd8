"""First-order update rules.

Every rule has the signature

    next_theta, config = update(theta, dtheta, config)

theta:  current parameter array; dtheta: gradient of the loss, same shape.
config: dict of hyperparameters and state (velocities, moving averages); pass
        None on the first call to get the defaults. The rule returns the
        config it used, with updated state, to be passed to the next call.
Each parameter of a model keeps its own config. State arrays take theta's
dtype so float32 training stays float32.
"""
import math
import numbers

import numpy as np

from validate import (nonnegative_float, nonnegative_int, positive_float, require,
                      require_float, require_shape, unit_interval)

# The range each hyperparameter must lie in. A rate of 1 would freeze a moving average
# (Adam with beta1 = 1 divides by 1 - beta1^t = 0), an epsilon of 0 divides by zero.
RANGES = {"momentum": unit_interval, "beta1": unit_interval, "beta2": unit_interval,
          "decay_rate": unit_interval, "rho": unit_interval, "epsilon": positive_float,
          "weight_decay": nonnegative_float, "t": nonnegative_int}


def _with_defaults(theta, dtheta, config, state=(), **defaults):
    """config with the defaults filled in, after checking every argument: theta and dtheta
    float arrays of one shape (no broadcasting), each setting in its range (RANGES) and
    each state array shaped like theta. A key that is neither a hyperparameter nor the
    rule's state (a typo such as 'lr') raises ValueError."""
    require_float("theta", theta)
    require_float("dtheta", dtheta)
    require_shape("dtheta (the gradient of theta)", dtheta, theta.shape)
    config = {} if config is None else config
    require(isinstance(config, dict),
            f"config must be a dict or None, got {type(config).__name__}")
    unknown = sorted(set(config) - set(defaults) - set(state))
    if unknown:
        raise ValueError(f"unknown optim_config key(s) {unknown}; valid keys are "
                         f"{sorted(defaults)} (and the state {sorted(state)})")
    for key, value in defaults.items():
        config.setdefault(key, value)
    rate = config["learning_rate"]
    require(isinstance(rate, numbers.Real) and not isinstance(rate, (bool, np.bool_))
            and math.isfinite(rate) and rate >= 0,
            f"learning_rate must be non-negative (a finite number), got {rate!r}")
    for key in set(defaults) & set(RANGES):
        RANGES[key](f"optim_config['{key}']", config[key])
    for key in state:
        if config.get(key) is not None:
            require_float(f"optim_config['{key}']", config[key])
            require_shape(f"optim_config['{key}'] (state kept for theta)", config[key],
                          theta.shape)
    return config


def sgd(theta, dtheta, config=None):
    """Vanilla SGD: theta <- theta - alpha * dtheta.  config: learning_rate (1e-2)."""
    config = _with_defaults(theta, dtheta, config, learning_rate=1e-2)
    return theta - config["learning_rate"] * dtheta, config


def sgd_momentum(theta, dtheta, config=None):
    """SGD with momentum.

        v     <- mu * v - alpha * dtheta
        theta <- theta + v

    config: learning_rate alpha (1e-2), momentum mu (0.9), velocity v (zeros).
    """
    config = _with_defaults(theta, dtheta, config, ("velocity",), learning_rate=1e-2,
                            momentum=0.9)
    v = config.get("velocity")
    v = np.zeros_like(theta) if v is None else v
    v = config["momentum"] * v - config["learning_rate"] * dtheta
    config["velocity"] = v
    return theta + v, config


def sgd_nesterov(theta, dtheta, config=None):
    """SGD with Nesterov momentum and decoupled weight decay.

        v     <- mu * v + dtheta
        theta <- theta - alpha * (dtheta + mu * v) - alpha * lambda * theta

    The step looks ahead along the new velocity (Nesterov); the decay shrinks theta by
    alpha * lambda outside the gradient, so it follows the learning-rate schedule but
    not the momentum (decoupled, as in AdamW).
    config: learning_rate alpha (1e-2), momentum mu (0.9), weight_decay lambda (0),
            velocity v (zeros).
    """
    config = _with_defaults(theta, dtheta, config, ("velocity",), learning_rate=1e-2,
                            momentum=0.9, weight_decay=0.0)
    v = config.get("velocity")
    v = np.zeros_like(theta) if v is None else v
    mu, alpha = config["momentum"], config["learning_rate"]
    v = mu * v + dtheta
    config["velocity"] = v
    step = alpha * (dtheta + mu * v)
    if config["weight_decay"]:
        step = step + alpha * config["weight_decay"] * theta
    return (theta - step).astype(theta.dtype, copy=False), config


def rmsprop(theta, dtheta, config=None):
    """RMSProp.

        c     <- gamma * c + (1 - gamma) * dtheta^2
        theta <- theta - alpha * dtheta / (sqrt(c) + eps)

    config: learning_rate alpha (1e-2), decay_rate gamma (0.99), epsilon eps (1e-8),
            cache c (zeros).
    """
    config = _with_defaults(theta, dtheta, config, ("cache",), learning_rate=1e-2,
                            decay_rate=0.99, epsilon=1e-8)
    c = config.get("cache")
    c = np.zeros_like(theta) if c is None else c
    gamma = config["decay_rate"]
    c = gamma * c + (1 - gamma) * dtheta * dtheta
    config["cache"] = c
    return theta - config["learning_rate"] * dtheta / (np.sqrt(c) + config["epsilon"]), config


def adam(theta, dtheta, config=None):
    """Adam: RMSProp on a momentum-smoothed gradient, with bias correction.

        m     <- beta1 * m + (1 - beta1) * dtheta
        v     <- beta2 * v + (1 - beta2) * dtheta^2
        t     <- t + 1
        mb    <- m / (1 - beta1^t)
        vb    <- v / (1 - beta2^t)
        theta <- theta - alpha * mb / (sqrt(vb) + eps)

    config: learning_rate alpha (1e-3), beta1 (0.9), beta2 (0.999), epsilon eps (1e-8),
            m and v (zeros), t (0).
    """
    config = _with_defaults(theta, dtheta, config, ("m", "v"), learning_rate=1e-3, beta1=0.9,
                            beta2=0.999, epsilon=1e-8, t=0)
    m, v = config.get("m"), config.get("v")
    m = np.zeros_like(theta) if m is None else m
    v = np.zeros_like(theta) if v is None else v
    b1, b2 = config["beta1"], config["beta2"]
    m = b1 * m + (1 - b1) * dtheta
    v = b2 * v + (1 - b2) * dtheta * dtheta
    t = config["t"] + 1
    mb = m / (1 - b1 ** t)
    vb = v / (1 - b2 ** t)
    config.update(m=m, v=v, t=t)
    return theta - config["learning_rate"] * mb / (np.sqrt(vb) + config["epsilon"]), config


def adagrad(theta, dtheta, config=None):
    """AdaGrad: per-parameter rates from the running sum of squared gradients.

        c     <- c + dtheta^2
        theta <- theta - alpha * dtheta / (sqrt(c) + eps)

    config: learning_rate alpha (1e-2), epsilon eps (1e-8), cache c (zeros).
    """
    config = _with_defaults(theta, dtheta, config, ("cache",), learning_rate=1e-2,
                            epsilon=1e-8)
    c = config.get("cache")
    c = (np.zeros_like(theta) if c is None else c) + dtheta * dtheta
    config["cache"] = c
    return theta - config["learning_rate"] * dtheta / (np.sqrt(c) + config["epsilon"]), config


def adadelta(theta, dtheta, config=None):
    """AdaDelta (Zeiler 2012): step sizes from the ratio of two running RMS values.

        g2    <- rho * g2 + (1 - rho) * dtheta^2
        step  <- -sqrt(d2 + eps) / sqrt(g2 + eps) * dtheta
        d2    <- rho * d2 + (1 - rho) * step^2
        theta <- theta + alpha * step

    config: learning_rate alpha (1.0, Zeiler's rule has none), rho (0.95),
            epsilon eps (1e-6), g2 and d2 (zeros).
    """
    config = _with_defaults(theta, dtheta, config, ("g2", "d2"), learning_rate=1.0, rho=0.95,
                            epsilon=1e-6)
    g2, d2 = config.get("g2"), config.get("d2")
    g2 = np.zeros_like(theta) if g2 is None else g2
    d2 = np.zeros_like(theta) if d2 is None else d2
    rho, eps = config["rho"], config["epsilon"]
    g2 = rho * g2 + (1 - rho) * dtheta * dtheta
    step = -np.sqrt(d2 + eps) / np.sqrt(g2 + eps) * dtheta
    d2 = rho * d2 + (1 - rho) * step * step
    config.update(g2=g2, d2=d2)
    return theta + config["learning_rate"] * step, config


class PiecewiseLinear:
    """A learning-rate schedule for Solver(lr_schedule=...): linear between knots.

    knots: [(progress, multiplier), ...] with progress (fraction of training done)
    rising from 0 to 1; e.g. [(0, 0.2), (0.25, 1), (1, 0.05)] warms up from 0.2 to the
    full rate over the first quarter of the steps, then decays linearly to 0.05.
    """

    def __init__(self, knots):
        knots = [(float(p), float(v)) for p, v in knots]
        progress = [p for p, _ in knots]
        if len(knots) < 2 or progress[0] != 0 or progress[-1] != 1 or progress != sorted(progress):
            raise ValueError(f"knots must run from progress 0 to 1 in order, got {knots!r}")
        if any(v < 0 for _, v in knots):
            raise ValueError(f"multipliers must be non-negative, got {knots!r}")
        self.knots = knots

    def __call__(self, progress):
        return float(np.interp(progress, *zip(*self.knots)))

    def __repr__(self):
        return f"PiecewiseLinear({self.knots!r})"


class Lookahead:
    """Lookahead (Zhang et al. 2019) for Solver(lookahead=...): slow weights that the
    fast ones return to every few steps.

    Every `every` steps, with p the fraction of training done:
        slow <- slow + (1 - d) * (fast - slow),  fast <- slow,  d = peak * p**power,
    so early on (d near 0) the slow copy follows the fast weights and late in training
    it averages over the last steps (an exponential moving average, restarted from).
    After the last step d = 1: the model ends on the slow weights, and the steps since
    the last pull do not count (as in airbench94, whose d = 0.95^5 * p^3 every 5 steps
    are the defaults).
    """

    def __init__(self, every=5, peak=0.95 ** 5, power=3.0):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if not 0 <= peak <= 1 or not power >= 0:
            raise ValueError(f"peak must be in [0, 1] and power >= 0, got peak={peak!r}, "
                             f"power={power!r}")
        self.every, self.peak, self.power = every, float(peak), float(power)

    def decay(self, progress):
        """d at a fraction of training done, progress in [0, 1]."""
        return self.peak * progress ** self.power

    def __repr__(self):
        return f"Lookahead(every={self.every}, peak={self.peak!r}, power={self.power!r})"


UPDATE_RULES = {rule.__name__: rule
                for rule in (sgd, sgd_momentum, sgd_nesterov, rmsprop, adam, adagrad, adadelta)}
