"""floatmode.pyx: the calling thread's flush-to-zero and denormals-are-zero modes."""
import platform

import numpy as np
import pytest

floatmode = pytest.importorskip("floatmode", reason="Cython build missing: make build")

TINY = np.finfo(np.float32).tiny                   # the smallest normal float32
X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "i386", "x86")


def subnormal_product():
    """A product of two normal float32 numbers that is subnormal (about 1e-39)."""
    return np.array([1e-20], np.float32) * np.array([1e-19], np.float32)


def test_x86_builds_can_set_the_mode():
    assert floatmode.supported() == X86


@pytest.mark.skipif(not X86, reason="the mode exists on x86 only")
def test_set_flushes_subnormal_results_and_inputs_and_restore_puts_the_mode_back():
    assert not floatmode.flushing_subnormals()
    product = subnormal_product()
    assert 0 < product[0] < TINY                            # the default keeps subnormals
    previous = floatmode.set_flush_subnormals(True)
    try:
        assert floatmode.flushing_subnormals()
        assert subnormal_product()[0] == 0                   # flush to zero: results
        assert (product * np.float32(1e30))[0] == 0         # denormals are zero: inputs
        assert (np.float32(2) * TINY) == 2 * TINY            # normal numbers untouched
    finally:
        floatmode.restore_mode(previous)
    assert not floatmode.flushing_subnormals()
    assert 0 < subnormal_product()[0] < TINY


@pytest.mark.skipif(not X86, reason="the mode exists on x86 only")
def test_clearing_and_restoring_nest():
    outer = floatmode.set_flush_subnormals(True)
    inner = floatmode.set_flush_subnormals(False)
    assert not floatmode.flushing_subnormals()
    floatmode.restore_mode(inner)
    assert floatmode.flushing_subnormals()
    floatmode.restore_mode(outer)
    assert not floatmode.flushing_subnormals()
