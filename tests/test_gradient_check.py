"""gradient_check.py: the checker itself must be right before it can judge anything."""
import numpy as np
import pytest

from gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,
                            grad_check_sparse, rel_error)


def test_rel_error_is_max_elementwise_relative_difference():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert rel_error(np.array([1.0, 10.0]), np.array([3.0, 10.0])) == pytest.approx(0.5)
    assert rel_error(0.0, 1e-9) == pytest.approx(1e-9 / 1e-8)


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = eval_numerical_gradient(lambda x: np.sum(x ** 3), x)
    np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored


def test_numerical_gradient_array_is_vector_jacobian_product():
    x = np.array([0.3, -1.2, 2.0])
    df = np.array([1.0, 2.0, -1.0])
    grad = eval_numerical_gradient_array(np.sin, x, df)
    np.testing.assert_allclose(grad, np.cos(x) * df, rtol=1e-8)


def test_grad_check_sparse_flags_a_wrong_gradient(capsys):
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    good = grad_check_sparse(lambda x: np.sum(x ** 2), x, 2 * x, num_checks=5, seed=0)
    bad = grad_check_sparse(lambda x: np.sum(x ** 2), x, 3 * x + 5, num_checks=5, seed=0,
                            verbose=False)
    assert max(good) < 1e-8
    assert min(bad) > 1e-2
    assert capsys.readouterr().out.count("relative error") == 5


@pytest.mark.parametrize("a, b", [(np.ones(3), np.ones(1)), (np.ones((2, 3)), np.ones((3, 2))),
                                  (np.ones(2), 1.0)])
def test_rel_error_refuses_arrays_of_different_shapes(a, b):
    with pytest.raises(ValueError, match="shape mismatch"):
        rel_error(a, b)


@pytest.mark.parametrize("check", [
    lambda x: eval_numerical_gradient(lambda v: float(np.sum(v)), x),
    lambda x: eval_numerical_gradient_array(lambda v: v * 2, x, np.ones(3)),
])
def test_numerical_gradients_refuse_integer_arrays(check):
    with pytest.raises(ValueError, match="float array"):
        check(np.arange(3))


def test_numerical_gradient_array_refuses_a_df_of_another_shape():
    with pytest.raises(ValueError, match=r"shape mismatch: df must have f\(x\)'s shape \(3, 2\)"):
        eval_numerical_gradient_array(lambda v: 2 * v, np.ones((3, 2)), np.ones(2))


def test_sparse_check_refuses_a_gradient_of_another_shape():
    with pytest.raises(ValueError, match=r"shape mismatch: analytic_grad must have x's shape"):
        grad_check_sparse(lambda v: float(np.sum(v)), np.ones((3, 4)), np.ones(4), verbose=False)
