"""optim.py: each update rule against its formula worked by hand on small numbers."""
import numpy as np
import pytest

import optim

THETA = np.array([1.0, -2.0, 0.5])
GRAD = np.array([0.5, -1.0, 2.0])


def test_sgd():
    theta, _ = optim.sgd(THETA, GRAD, {"learning_rate": 0.1})
    np.testing.assert_allclose(theta, [0.95, -1.9, 0.3])


def test_sgd_momentum_two_steps():
    config = {"learning_rate": 0.1, "momentum": 0.9}
    theta, config = optim.sgd_momentum(THETA, GRAD, config)
    # v1 = -0.1 g = [-0.05, 0.1, -0.2]
    np.testing.assert_allclose(theta, [0.95, -1.9, 0.3])
    theta, config = optim.sgd_momentum(theta, GRAD, config)
    # v2 = 0.9 v1 - 0.1 g = [-0.095, 0.19, -0.38]
    np.testing.assert_allclose(config["velocity"], [-0.095, 0.19, -0.38])
    np.testing.assert_allclose(theta, [0.855, -1.71, -0.08])


def test_sgd_nesterov_two_steps_with_decoupled_decay():
    config = {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.2}
    theta, config = optim.sgd_nesterov(THETA, GRAD, config)
    # v1 = g; step = 0.1 (g + 0.5 g) + 0.1 * 0.2 theta
    np.testing.assert_allclose(config["velocity"], GRAD)
    step1 = 0.1 * 1.5 * GRAD + 0.02 * THETA
    np.testing.assert_allclose(theta, THETA - step1)
    theta2, config = optim.sgd_nesterov(theta, GRAD, config)
    # v2 = 0.5 g + g = 1.5 g; step = 0.1 (g + 0.75 g) + 0.02 theta1
    np.testing.assert_allclose(config["velocity"], 1.5 * GRAD)
    np.testing.assert_allclose(theta2, theta - 0.1 * 1.75 * GRAD - 0.02 * theta)


def test_sgd_nesterov_without_decay_is_plain_nesterov():
    theta, config = optim.sgd_nesterov(THETA, GRAD, {"learning_rate": 0.1, "momentum": 0.0})
    np.testing.assert_allclose(theta, THETA - 0.1 * GRAD)
    assert config["weight_decay"] == 0.0


def test_rmsprop_two_steps():
    config = {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-8}
    theta, config = optim.rmsprop(THETA, GRAD, config)
    # c1 = 0.1 g^2; step = 0.01 g / (sqrt(0.1) |g| + eps)
    c1 = 0.1 * GRAD ** 2
    np.testing.assert_allclose(config["cache"], c1)
    np.testing.assert_allclose(theta, THETA - 0.01 * GRAD / (np.sqrt(c1) + 1e-8))
    theta2, config = optim.rmsprop(theta, GRAD, config)
    c2 = 0.9 * c1 + 0.1 * GRAD ** 2  # = 0.19 g^2
    np.testing.assert_allclose(config["cache"], 0.19 * GRAD ** 2)
    np.testing.assert_allclose(theta2, theta - 0.01 * np.sign(GRAD) / np.sqrt(0.19), rtol=1e-7)
    np.testing.assert_allclose(theta2, theta - 0.01 * GRAD / (np.sqrt(c2) + 1e-8))


def test_rmsprop_adds_eps_outside_the_square_root():
    theta, _ = optim.rmsprop(np.zeros(1), np.zeros(1), {"learning_rate": 1.0, "epsilon": 1.0})
    np.testing.assert_array_equal(theta, [0.0])
    g = np.array([1e-4])
    theta, _ = optim.rmsprop(np.zeros(1), g, {"learning_rate": 1.0, "decay_rate": 0.0,
                                              "epsilon": 1e-4})
    np.testing.assert_allclose(theta, [-1e-4 / (1e-4 + 1e-4)])  # not 1e-4 / sqrt(1e-8 + 1e-4)


def test_adam_first_step_is_sign_times_learning_rate():
    theta, config = optim.adam(THETA, GRAD, {"learning_rate": 0.1})
    # t = 1: mb = g, vb = g^2, so the step is 0.1 * g / (|g| + 1e-8)
    assert config["t"] == 1
    np.testing.assert_allclose(theta, THETA - 0.1 * GRAD / (np.abs(GRAD) + 1e-8))


def test_adam_second_step_by_hand():
    g2 = np.array([1.0, 0.0, -2.0])
    theta, config = optim.adam(THETA, GRAD, {"learning_rate": 0.1})
    theta, config = optim.adam(theta, g2, config)
    m = 0.9 * (0.1 * GRAD) + 0.1 * g2
    v = 0.999 * (0.001 * GRAD ** 2) + 0.001 * g2 ** 2
    mb, vb = m / (1 - 0.9 ** 2), v / (1 - 0.999 ** 2)
    assert config["t"] == 2
    np.testing.assert_allclose(config["m"], m)
    np.testing.assert_allclose(config["v"], v)
    first = THETA - 0.1 * GRAD / (np.abs(GRAD) + 1e-8)
    np.testing.assert_allclose(theta, first - 0.1 * mb / (np.sqrt(vb) + 1e-8))


def test_adam_defaults():
    _, config = optim.adam(THETA, GRAD)
    assert (config["learning_rate"], config["beta1"], config["beta2"], config["epsilon"]) == \
        (1e-3, 0.9, 0.999, 1e-8)


def test_adagrad_accumulates_squares():
    theta, config = optim.adagrad(THETA, GRAD, {"learning_rate": 0.1})
    theta, config = optim.adagrad(theta, GRAD, config)
    np.testing.assert_allclose(config["cache"], 2 * GRAD ** 2)
    expected = THETA - 0.1 * np.sign(GRAD) - 0.1 * GRAD / (np.sqrt(2) * np.abs(GRAD))
    np.testing.assert_allclose(theta, expected, rtol=1e-7)


def test_adadelta_first_step():
    theta, config = optim.adadelta(THETA, GRAD, {"rho": 0.5, "epsilon": 1e-2})
    g2 = 0.5 * GRAD ** 2
    step = -np.sqrt(1e-2) / np.sqrt(g2 + 1e-2) * GRAD
    np.testing.assert_allclose(theta, THETA + step)
    np.testing.assert_allclose(config["d2"], 0.5 * step ** 2)


@pytest.mark.parametrize("rule", sorted(optim.UPDATE_RULES))
def test_rules_keep_float32_and_own_their_state(rule):
    update = optim.UPDATE_RULES[rule]
    theta = np.ones((2, 3), dtype=np.float32)
    config = None
    for _ in range(3):
        theta, config = update(theta, np.full((2, 3), 0.5, dtype=np.float32), config)
    assert theta.dtype == np.float32
    assert np.all(theta < 1)  # every rule moves against a positive gradient
    for value in config.values():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32


def test_piecewise_linear_schedule():
    schedule = optim.PiecewiseLinear([(0, 0.2), (0.25, 1.0), (1, 0.0)])
    assert schedule(0) == pytest.approx(0.2) and schedule(0.125) == pytest.approx(0.6)
    assert schedule(0.25) == 1.0 and schedule(0.625) == pytest.approx(0.5)
    assert repr(schedule) == "PiecewiseLinear([(0.0, 0.2), (0.25, 1.0), (1.0, 0.0)])"
    for bad in ([(0, 1)], [(0.1, 1), (1, 0)], [(0, 1), (0.5, 1), (0.4, 1), (1, 1)], [(0, -1), (1, 1)]):
        with pytest.raises(ValueError, match="knots|multipliers"):
            optim.PiecewiseLinear(bad)


@pytest.mark.parametrize("rule", sorted(optim.UPDATE_RULES))
def test_misspelled_or_negative_settings_raise(rule):
    update = optim.UPDATE_RULES[rule]
    with pytest.raises(ValueError, match="unknown optim_config key.*'lr'.*learning_rate"):
        update(THETA, GRAD, {"lr": 10})
    with pytest.raises(ValueError, match="learning_rate must be non-negative"):
        update(THETA, GRAD, {"learning_rate": -1e-3})


# ------------------------------------------------ gradients and settings (issue 20)

@pytest.mark.parametrize("rule", sorted(optim.UPDATE_RULES))
@pytest.mark.parametrize("dtheta", [np.ones(4), np.ones((1, 4)), np.ones((4, 3)), np.ones(())],
                         ids=["row", "1-by-4", "transposed", "scalar"])
def test_a_gradient_of_another_shape_is_refused(rule, dtheta):
    with pytest.raises(ValueError, match=r"shape mismatch: dtheta .*\(3, 4\)"):
        optim.UPDATE_RULES[rule](np.zeros((3, 4)), dtheta)


def test_the_reported_sgd_example_is_refused():
    with pytest.raises(ValueError, match=r"must have shape \(3, 4\), got \(4,\)"):
        optim.sgd(np.zeros((3, 4)), np.ones(4))


@pytest.mark.parametrize("rule", sorted(optim.UPDATE_RULES))
@pytest.mark.parametrize("dtype", [int, bool, complex, object])
def test_gradients_and_parameters_that_are_not_floats_are_refused(rule, dtype):
    update = optim.UPDATE_RULES[rule]
    with pytest.raises(ValueError, match="dtheta must hold floats"):
        update(THETA, GRAD.astype(dtype))
    with pytest.raises(ValueError, match="theta must hold floats"):
        update(THETA.astype(dtype), GRAD)


# (rule, setting, bad values, good edge values)
RANGES = [
    ("sgd_momentum", "momentum", [1.0, 1.5, -0.1, "0.9", None, np.nan], [0.0, 0.999]),
    ("sgd_nesterov", "momentum", [1.0, -0.1], [0.0]),
    ("sgd_nesterov", "weight_decay", [-1e-3, np.inf, "0"], [0.0, 5.0]),
    ("rmsprop", "decay_rate", [1.0, -0.5], [0.0]),
    ("rmsprop", "epsilon", [0.0, -1e-8, np.inf], [1e-12]),
    ("adam", "beta1", [1.0, 2.0, -0.1, True], [0.0, 0.99]),
    ("adam", "beta2", [1.0, 1.5], [0.0, 0.9999]),
    ("adam", "epsilon", [0.0, -1.0], [1e-12]),
    ("adam", "t", [-1, 1.5, "3"], [0, 10]),
    ("adagrad", "epsilon", [0, -1e-8], [1e-10]),
    ("adadelta", "rho", [1, 1.2, -0.1], [0.0, 0.99]),
    ("adadelta", "epsilon", [0.0], [1e-9]),
]


@pytest.mark.parametrize("rule, key, bad, good", RANGES,
                         ids=[f"{rule}-{key}" for rule, key, _, _ in RANGES])
def test_settings_out_of_range_are_refused_by_name(rule, key, bad, good):
    update = optim.UPDATE_RULES[rule]
    for value in bad:
        with pytest.raises(ValueError, match=rf"optim_config\['{key}'\] must be"):
            update(THETA, GRAD, {key: value})
    for value in good:
        theta, _ = update(THETA, GRAD, {key: value})
        assert theta.shape == THETA.shape


def test_adam_beta1_of_one_is_refused_up_front_not_as_nan():
    with pytest.raises(ValueError, match=r"optim_config\['beta1'\] must be a number in \[0, 1\), "
                                         r"got 1\.0"):
        optim.adam(THETA, GRAD, {"beta1": 1.0})


@pytest.mark.parametrize("rate", [np.nan, np.inf, "0.1", None, True])
def test_learning_rates_that_are_not_finite_numbers_are_refused(rate):
    with pytest.raises(ValueError, match="learning_rate must be non-negative"):
        optim.sgd(THETA, GRAD, {"learning_rate": rate})


@pytest.mark.parametrize("rule, key", [("sgd_momentum", "velocity"), ("sgd_nesterov", "velocity"),
                                       ("rmsprop", "cache"), ("adam", "m"), ("adam", "v"),
                                       ("adagrad", "cache"), ("adadelta", "g2"),
                                       ("adadelta", "d2")])
def test_state_of_another_shape_or_dtype_is_refused(rule, key):
    update = optim.UPDATE_RULES[rule]
    with pytest.raises(ValueError, match=rf"shape mismatch: optim_config\['{key}'\]"):
        update(np.zeros((3, 4)), np.ones((3, 4)), {key: np.ones(4)})
    with pytest.raises(ValueError, match=rf"optim_config\['{key}'\] must hold floats"):
        update(np.zeros((3, 4)), np.ones((3, 4)), {key: np.ones((3, 4), int)})


def test_a_config_that_is_not_a_dict_is_refused():
    with pytest.raises(ValueError, match="config must be a dict or None"):
        optim.sgd(THETA, GRAD, [("learning_rate", 0.1)])


@pytest.mark.parametrize("rule", sorted(optim.UPDATE_RULES))
def test_nan_in_the_gradient_still_propagates(rule):
    theta, _ = optim.UPDATE_RULES[rule](THETA, np.array([0.5, np.nan, 2.0]))
    assert np.isnan(theta[1]) and np.isfinite(theta[[0, 2]]).all()
