"""Fully connected layers and losses in layers.py: values, exact gradients, errors."""
import numpy as np
import pytest

from gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from layers import (affine_backward, affine_forward, dropout_backward, dropout_forward,
                    leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward,
                    softmax_loss, svm_loss)

rng = np.random.default_rng(0)


def check_layer_gradients(forward, backward, inputs, dout, tol=1e-7):
    """Centred-difference check of every gradient backward returns, one per input."""
    _, cache = forward(*inputs)
    analytic = backward(dout, cache)
    analytic = analytic if isinstance(analytic, tuple) else (analytic,)
    for k, array in enumerate(inputs):
        def f(_, k=k):
            return forward(*inputs)[0]
        numeric = eval_numerical_gradient_array(f, array, dout)
        assert rel_error(numeric, analytic[k]) <= tol, f"gradient of input {k}"


# -------------------------------------------------------------------- affine

def test_affine_forward_matches_explicit_sums():
    x = rng.standard_normal((3, 2, 5))
    theta, theta0 = rng.standard_normal((10, 4)), rng.standard_normal(4)
    out, _ = affine_forward(x, theta, theta0)
    flat = x.reshape(3, 10)
    expected = [[sum(flat[i, k] * theta[k, j] for k in range(10)) + theta0[j] for j in range(4)]
                for i in range(3)]
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_affine_gradients():
    x = rng.standard_normal((4, 2, 3))
    theta, theta0 = rng.standard_normal((6, 5)), rng.standard_normal(5)
    check_layer_gradients(affine_forward, affine_backward, (x, theta, theta0),
                          rng.standard_normal((4, 5)))


def test_affine_backward_shapes_follow_inputs():
    x = rng.standard_normal((2, 3, 4))
    dx, dtheta, dtheta0 = affine_backward(np.ones((2, 7)), affine_forward(
        x, np.ones((12, 7)), np.zeros(7))[1])
    assert (dx.shape, dtheta.shape, dtheta0.shape) == ((2, 3, 4), (12, 7), (7,))


@pytest.mark.parametrize("theta_shape, theta0_shape, word", [
    ((5, 4), (4,), "theta must be"),
    ((6, 4), (3,), "theta0 .*must have shape \\(4,\\)"),
])
def test_affine_shape_mismatch_is_named(theta_shape, theta0_shape, word):
    with pytest.raises(ValueError, match=word):
        affine_forward(np.ones((2, 6)), np.ones(theta_shape), np.ones(theta0_shape))


# --------------------------------------------------------------- activations

def test_relu_forward_values():
    x = np.array([[-2.0, -0.0, 0.5], [3.0, -1e-9, 1e-9]])
    out, _ = relu_forward(x)
    np.testing.assert_array_equal(out, [[0, 0, 0.5], [3.0, 0, 1e-9]])


def test_relu_gradient():
    x = rng.standard_normal((4, 6))
    check_layer_gradients(relu_forward, relu_backward, (x,), rng.standard_normal((4, 6)))


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.3])
def test_leaky_relu_values_and_gradient(alpha):
    x = rng.standard_normal((5, 4))
    out, _ = leaky_relu_forward(x, alpha)
    np.testing.assert_allclose(out, np.where(x > 0, x, alpha * x))
    check_layer_gradients(lambda x: leaky_relu_forward(x, alpha), leaky_relu_backward,
                          (x,), rng.standard_normal((5, 4)))


@pytest.mark.parametrize("alpha", [-0.1, 1.0, 2.0])
def test_leaky_relu_rejects_bad_slope(alpha):
    with pytest.raises(ValueError, match="alpha"):
        leaky_relu_forward(np.ones(3), alpha)


# ------------------------------------------------------------------- dropout

@pytest.mark.parametrize("p", [0.25, 0.4, 0.7])
def test_dropout_statistics(p):
    x = rng.standard_normal((500, 500)) + 10
    out, _ = dropout_forward(x, {"p": p, "mode": "train", "seed": 1})
    assert abs(np.mean(out == 0) - p) < 0.01
    assert abs(out.mean() / x.mean() - 1) < 0.01
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p))


def test_dropout_test_mode_is_identity():
    x = rng.standard_normal((10, 10))
    out, cache = dropout_forward(x, {"p": 0.6, "mode": "test"})
    np.testing.assert_array_equal(out, x)
    dout = rng.standard_normal((10, 10))
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout)


def test_dropout_zero_keeps_everything():
    x = rng.standard_normal((20, 20))
    np.testing.assert_array_equal(dropout_forward(x, {"p": 0, "mode": "train"})[0], x)


def test_dropout_seed_is_reproducible_and_leaves_global_rng_alone():
    x = np.ones((50, 50))
    np.random.seed(3)
    before = np.random.get_state()[1].copy()
    a, _ = dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 7})
    b, _ = dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 7})
    c, _ = dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 8})
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_dropout_rng_draws_a_new_mask_every_call_and_replays_from_its_seed():
    x = np.ones((40, 40))
    param = {"p": 0.5, "mode": "train", "rng": np.random.default_rng(1)}
    first, second = dropout_forward(x, param)[0], dropout_forward(x, param)[0]
    assert not np.array_equal(first, second)
    again = {"p": 0.5, "mode": "train", "rng": np.random.default_rng(1)}
    np.testing.assert_array_equal(dropout_forward(x, again)[0], first)
    np.testing.assert_array_equal(dropout_forward(x, again)[0], second)


@pytest.mark.parametrize("param, word", [
    ({"p": 0.5, "seed": 1, "rng": np.random.default_rng(0)}, "not both"),
    ({"p": 0.5, "rng": 3}, "Generator"),
    ({"p": 0.5, "prob": 0.3}, "prob"),
])
def test_dropout_rejects_conflicting_or_unknown_settings(param, word):
    with pytest.raises(ValueError, match=word):
        dropout_forward(np.ones((2, 2)), param)


def test_dropout_gradient():
    x = rng.standard_normal((6, 8))
    param = {"p": 0.3, "mode": "train", "seed": 4}
    check_layer_gradients(lambda x: dropout_forward(x, param), dropout_backward, (x,),
                          rng.standard_normal((6, 8)))


def test_dropout_keeps_float32():
    x = rng.standard_normal((4, 4)).astype(np.float32)
    out, cache = dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 0})
    assert out.dtype == np.float32
    assert dropout_backward(np.ones_like(x), cache).dtype == np.float32


@pytest.mark.parametrize("param, word", [
    ({"p": 1.0, "mode": "train"}, r"dropout_param\['p'\]"),
    ({"p": -0.1, "mode": "train"}, r"dropout_param\['p'\]"),
    ({"mode": "train"}, r"dropout_param\['p'\]"),
    ({"p": 0.5, "mode": "eval"}, r"dropout_param\['mode'\]"),
])
def test_dropout_rejects_bad_parameters(param, word):
    with pytest.raises(ValueError, match=word):
        dropout_forward(np.ones(3), param)


# --------------------------------------------------------------------- losses

def reference_softmax_loss(x, y):
    """Log-sum-exp written out row by row with Python's math, for comparison."""
    import math
    total = 0.0
    for row, label in zip(x, y):
        top = max(row)
        total += top + math.log(sum(math.exp(v - top) for v in row)) - row[label]
    return total / len(y)


def reference_svm_loss(x, y):
    return sum(max(0.0, row[j] - row[label] + 1) for row, label in zip(x, y)
               for j in range(len(row)) if j != label) / len(y)


@pytest.mark.parametrize("loss_fn, reference", [(softmax_loss, reference_softmax_loss),
                                                 (svm_loss, reference_svm_loss)])
def test_loss_values_and_gradient(loss_fn, reference):
    x = rng.standard_normal((8, 5))
    y = rng.integers(5, size=8)
    loss, dx = loss_fn(x, y)
    assert loss == pytest.approx(reference(x, y), rel=1e-12)
    numeric = eval_numerical_gradient(lambda x: loss_fn(x, y)[0], x, verbose=False)
    assert rel_error(numeric, dx) <= 1e-7


def test_softmax_loss_of_uniform_scores_is_log_classes():
    loss, _ = softmax_loss(np.zeros((7, 10)), np.arange(7))
    assert loss == pytest.approx(np.log(10))


@pytest.mark.parametrize("loss_fn", [softmax_loss, svm_loss])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_are_stable_for_huge_scores(loss_fn, dtype):
    x = (1e4 * rng.standard_normal((6, 4))).astype(dtype)
    y = rng.integers(4, size=6)
    loss, dx = loss_fn(x, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    assert dx.dtype == dtype
    if loss_fn is softmax_loss:
        assert loss == pytest.approx(reference_softmax_loss(x.astype(np.float64), y), rel=1e-5)


@pytest.mark.parametrize("loss_fn", [softmax_loss, svm_loss])
@pytest.mark.parametrize("y, word", [
    (np.array([0, 1, 5]), r"labels in \[0, 5\)"),
    (np.array([0, -1, 2]), r"labels in \[0, 5\)"),
    (np.array([0.0, 1.0, 2.0]), "integer"),
    (np.array([0, 1]), "m=3"),
    (np.array([[0, 1, 2]]), "1-d"),
])
def test_losses_reject_bad_labels(loss_fn, y, word):
    with pytest.raises(ValueError, match=word):
        loss_fn(np.zeros((3, 5)), y)


# ------------------------------------------ what backward passes trust (issue 20)

def _backward_cases():
    """(backward, cache, the forward output's shape) of each elementwise and affine layer."""
    x = rng.standard_normal((4, 3))
    cases = {"relu": (relu_backward, relu_forward(x)),
             "leaky_relu": (leaky_relu_backward, leaky_relu_forward(x, 0.1)),
             "dropout_train": (dropout_backward,
                               dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 0})),
             "dropout_test": (dropout_backward, dropout_forward(x, {"p": 0.5, "mode": "test"})),
             "affine": (affine_backward, affine_forward(x, np.ones((3, 3)), np.zeros(3)))}
    return {name: (backward, cache, out.shape) for name, (backward, (out, cache)) in cases.items()}


@pytest.mark.parametrize("layer", sorted(_backward_cases()))
@pytest.mark.parametrize("dout_shape", [(1, 3), (3,), (4, 1), (8, 3), (3, 4)])
def test_backward_refuses_a_dout_of_another_shape(layer, dout_shape):
    backward, cache, _ = _backward_cases()[layer]
    with pytest.raises(ValueError, match=r"shape mismatch: dout must have shape \(4, 3\)"):
        backward(np.ones(dout_shape), cache)


@pytest.mark.parametrize("layer", sorted(_backward_cases()))
@pytest.mark.parametrize("dtype", [int, bool, complex, object])
def test_backward_refuses_a_dout_that_is_not_floats(layer, dtype):
    backward, cache, shape = _backward_cases()[layer]
    with pytest.raises(ValueError, match="dout must hold floats"):
        backward(np.ones(shape, dtype=dtype), cache)


def test_the_reported_relu_example_is_refused():
    with pytest.raises(ValueError, match="shape mismatch"):
        relu_backward(np.ones((1, 3)), relu_forward(np.ones((4, 3)))[1])


@pytest.mark.parametrize("call, words", [
    (lambda: affine_backward(np.ones((4, 3)), (np.ones((4, 3)),)), r"cache must be the tuple"),
    (lambda: affine_backward(np.ones((4, 3)), (np.ones((4, 3)), np.ones((5, 3)))), "theta must be"),
    (lambda: affine_backward(np.ones((4, 3)), (np.ones((4, 3), int), np.ones((3, 3)))),
     "x must hold floats"),
    (lambda: relu_backward(np.ones(3), np.arange(3)), r"relu_forward's x\) must hold floats"),
    (lambda: leaky_relu_backward(np.ones(3), np.ones(3, int)), "slope\\) must hold floats"),
    (lambda: dropout_backward(np.ones((2, 2)), ({}, np.ones((3, 2)), (2, 2))),
     r"shape mismatch: cache's mask"),
    (lambda: dropout_backward(np.ones((2, 2)), ({}, None)), r"cache must be the tuple"),
], ids=["affine-short", "affine-mixed", "affine-int-x", "relu-int", "leaky-int", "dropout-mask",
        "dropout-old-format"])
def test_backward_refuses_a_cache_it_cannot_trust(call, words):
    with pytest.raises(ValueError, match=words):
        call()


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, bool, complex, object])
@pytest.mark.parametrize("call", [
    lambda v: relu_forward(v),
    lambda v: affine_forward(v, np.ones((3, 2)), np.zeros(2)),
    lambda v: affine_forward(np.ones((2, 3)), v.T.reshape(3, 2), np.zeros(2)),
    lambda v: affine_forward(np.ones((2, 3)), np.ones((3, 2)), v[0, :2]),
    lambda v: softmax_loss(v, np.array([0, 1])),
    lambda v: softmax_loss(v, np.array([0, 1]), smoothing=0.2),
    lambda v: svm_loss(v, np.array([0, 1])),
], ids=["relu", "affine-x", "affine-theta", "affine-theta0", "softmax", "softmax-smoothed",
        "svm"])
def test_layers_refuse_arrays_that_are_not_floats(call, dtype):
    with pytest.raises(ValueError, match="must hold floats"):
        call(np.ones((2, 3)).astype(dtype))


def test_softmax_of_integer_scores_with_smoothing_is_refused_not_rounded():
    x = np.array([[3, 0, 0], [0, 2, 0]])
    with pytest.raises(ValueError, match=r"x \(the scores\) must hold floats"):
        softmax_loss(x, np.array([0, 1]), smoothing=0.2)
    loss, dx = softmax_loss(x.astype(float), np.array([0, 1]), smoothing=0.2)
    assert np.isfinite(loss) and dx.dtype == np.float64


@pytest.mark.parametrize("value", ["0.1", None, np.nan, -0.5, 1.0])
def test_slopes_and_smoothing_out_of_range_are_named(value):
    with pytest.raises(ValueError, match=r"alpha \(the negative slope\) must be a number in"):
        leaky_relu_forward(np.ones(3), value)
    with pytest.raises(ValueError, match=r"smoothing must be a number in \[0, 1\)"):
        softmax_loss(np.ones((2, 3)), np.array([0, 1]), smoothing=value)


def test_affine_accepts_an_empty_batch_and_keeps_float32():
    x = np.ones((0, 2, 3), dtype=np.float32)
    out, cache = affine_forward(x, np.ones((6, 4), np.float32), np.zeros(4, np.float32))
    dx, dtheta, dtheta0 = affine_backward(np.ones((0, 4), np.float32), cache)
    assert out.shape == (0, 4) and dx.shape == x.shape and not dtheta.any()
    assert out.dtype == dx.dtype == dtheta.dtype == dtheta0.dtype == np.float32


def test_nan_still_propagates_through_relu_and_the_losses():
    x = np.array([[1.0, np.nan, -1.0]])
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, [[1.0, np.nan, 0.0]])
    np.testing.assert_array_equal(relu_backward(np.ones_like(x), cache), [[1.0, 0.0, 0.0]])
    loss, dx = softmax_loss(x, np.array([0]))
    assert np.isnan(loss) and np.isnan(dx).all()
    assert np.isnan(svm_loss(x, np.array([0]))[0])


def test_leaky_relu_and_dropout_keep_their_results():
    x = rng.standard_normal((5, 4))
    out, cache = dropout_forward(x, {"p": 0.5, "mode": "test"})
    assert out is x and dropout_backward(x, cache) is x
    out, cache = leaky_relu_forward(x, 0.0)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
