"""validate.py: each check accepts what it promises and refuses the rest with a message that
names the argument, the value and the rule."""
import numpy as np
import pytest

import validate as v

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("check, good, bad", [
    (v.positive_int, [1, np.int64(7)], [0, -1, 1.0, True, np.bool_(True), "3", None]),
    (v.nonnegative_int, [0, 5], [-1, 0.0, False, "0"]),
    (v.positive_float, [1e-9, 3, np.float32(2)], [0, -1.0, NAN, INF, True, "1", None]),
    (v.nonnegative_float, [0, 0.0, 2.5], [-1e-9, NAN, INF, False, "0"]),
    (v.unit_interval, [0, 0.5, 0.999], [1, 1.0, -0.1, NAN, True, "0.5"]),
])
def test_scalar_checks(check, good, bad):
    for value in good:
        assert check("arg", value) == value
    for value in bad:
        with pytest.raises(ValueError, match=f"arg must be .*got {value!r}"):
            check("arg", value)


def test_unit_interval_closed_takes_one():
    assert v.unit_interval("momentum", 1, closed=True) == 1.0
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\]"):
        v.unit_interval("momentum", 1.5, closed=True)


def test_positive_ints_names_the_whole_tuple():
    assert v.positive_ints("widths", [4, np.int32(5)]) == (4, 5)
    with pytest.raises(ValueError, match=r"widths must hold positive integers, got \(4, 0\)"):
        v.positive_ints("widths", (4, 0))


def test_float_dtype():
    assert v.float_dtype("dtype", np.float32) == np.float32
    for bad in (np.int64, np.complex64, bool, "pixels", object):
        with pytest.raises(ValueError, match="dtype must be a"):
            v.float_dtype("dtype", bad)


@pytest.mark.parametrize("bad", [np.arange(3), np.ones(3, bool), np.ones(3, complex),
                                 np.array([1.0], dtype=object), [1.0, 2.0], 1.0])
def test_require_float_is_the_dtype_gate(bad):
    with pytest.raises(ValueError, match="x must"):
        v.require_float("x", bad)
    v.require_float("x", np.ones(3, np.float16))


def test_require_shape_never_broadcasts():
    v.require_shape("dout", np.ones((4, 3)), (4, 3))
    with pytest.raises(ValueError, match=r"dout must have shape \(4, 3\), got \(1, 3\)"):
        v.require_shape("dout", np.ones((1, 3)), (4, 3))


def test_check_labels():
    np.testing.assert_array_equal(v.check_labels([0, 2], 3), [0, 2])
    for bad, words in [(np.array([[0], [1]]), "1-d"), (np.array([0.0, 1.0]), "integer"),
                       (np.array([0, 3]), r"\[0, 3\).*from 0 to 3"), (np.array([-1]), "from -1")]:
        with pytest.raises(ValueError, match=words):
            v.check_labels(bad, 3)


def test_check_batch_and_check_examples():
    v.check_examples(np.zeros((2, 3, 4)), (3, 4), np.array([0, 1]))
    with pytest.raises(ValueError, match="at least one example"):
        v.check_batch(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"y must be \(2,\)"):
        v.check_batch(np.zeros((2, 3)), np.zeros(3, int))
    with pytest.raises(ValueError, match=r"X must be \(m, \*input_dim\) = \(m, 3, 4\)"):
        v.check_examples(np.zeros((2, 4, 3)), (3, 4))


def test_check_keys_names_the_valid_ones():
    v.check_keys("conv_param", {"pad": 1}, ("stride", "pad"))
    with pytest.raises(ValueError, match=r"unknown conv_param key\(s\) \['padding'\]; valid keys "
                                         r"are \['pad', 'stride'\]"):
        v.check_keys("conv_param", {"padding": 1}, ("stride", "pad"))
    with pytest.raises(ValueError, match="conv_param must be a dict"):
        v.check_keys("conv_param", [("pad", 1)], ("pad",))


def test_window_count_names_w_f_p_and_s():
    assert v.window_count(32, 3, 1, 1) == 32
    with pytest.raises(ValueError, match=r"W=32, F=4, P=0, S=3"):
        v.window_count(32, 4, 0, 3)
    with pytest.raises(ValueError, match="window does not fit"):
        v.window_count(2, 5, 0, 1)


def test_conv_and_pool_geometry():
    assert v.conv_geometry((2, 3, 8, 8), (4, 3, 3, 3), {"stride": 1, "pad": 1}) == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="channel mismatch"):
        v.conv_geometry((2, 3, 8, 8), (4, 2, 3, 3), {})
    assert v.pool_geometry((1, 1, 8, 8), {}) == (2, 2, 2, 4, 4)
    with pytest.raises(ValueError, match="do not tile"):
        v.pool_geometry((1, 1, 7, 7), {})
    assert v.floor_pool_geometry((1, 1, 7, 7), {}) == (2, 2, 2, 3, 3)
    with pytest.raises(ValueError, match="does not fit"):
        v.floor_pool_geometry((1, 1, 1, 7), {})
