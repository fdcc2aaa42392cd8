"""Checks shared by the model tests."""
import numpy as np

from gradient_check import eval_numerical_gradient, rel_error


def assert_gradients_exact(model, X, y, tol=1e-6, bias_seed=99):
    """Every analytic gradient within rel_error tol of centred differences (float64).

    Biases are made nonzero first: with zero biases (and heavy dropout) a
    pre-activation can sit exactly on the ReLU kink, where no derivative exists.
    Callers seed their inputs: rel_error is elementwise, and an entry of magnitude
    below ~1e-5 carries the difference quotient's round-off (~eps * J / h ~ 1e-10)
    into a relative error above 1e-6 however right the backward pass is.
    """
    rng = np.random.default_rng(bias_seed)
    for name in model.params:
        if name.endswith("_0"):
            model.params[name] = 0.1 * rng.standard_normal(model.params[name].shape)
    _, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name, value in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], value)
        assert rel_error(numeric, grads[name]) <= tol, name
