# cython: language_level=3
"""The CPU's subnormal-number mode for the calling thread (x86: the MXCSR register).

Arithmetic on subnormal floats (0 < |x| < the smallest normal number: 1.2e-38 in float32)
takes a slow path on x86 CPUs, up to a hundred times slower. Training can make millions of
them: a weight that only weight decay moves shrinks geometrically through that range. Two
bits of MXCSR turn the slow path off for the thread that sets them: flush-to-zero (FTZ)
writes 0 for a subnormal result, denormals-are-zero (DAZ) reads a subnormal input as 0.
Both change only results smaller than any normal number.

    previous = set_flush_subnormals(True)
    ...                                       # no subnormal is made or read in this thread
    restore_mode(previous)

Elsewhere (ARM, other compilers) the functions do nothing and `supported()` is False.
"""

cdef extern from *:
    """
    #if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
    #include <xmmintrin.h>
    #define HW5_HAS_MXCSR 1
    static unsigned int hw5_get_mode(void) { return _mm_getcsr(); }
    static void hw5_set_mode(unsigned int mode) { _mm_setcsr(mode); }
    #else
    #define HW5_HAS_MXCSR 0
    static unsigned int hw5_get_mode(void) { return 0; }
    static void hw5_set_mode(unsigned int mode) { (void)mode; }
    #endif
    """
    int HW5_HAS_MXCSR
    unsigned int hw5_get_mode() nogil
    void hw5_set_mode(unsigned int mode) nogil

FLUSH_TO_ZERO = 0x8000          # MXCSR bit 15
DENORMALS_ARE_ZERO = 0x0040     # MXCSR bit 6
_BOTH = FLUSH_TO_ZERO | DENORMALS_ARE_ZERO


def supported():
    """Whether this build can set the mode (an x86 CPU with SSE2)."""
    return bool(HW5_HAS_MXCSR)


def flushing_subnormals():
    """Whether FTZ and DAZ are both set for the calling thread."""
    return supported() and (hw5_get_mode() & _BOTH) == _BOTH


def set_flush_subnormals(bint on):
    """Set (on) or clear FTZ and DAZ for the calling thread; return the previous mode, for
    restore_mode."""
    cdef unsigned int previous = hw5_get_mode()
    if supported():
        hw5_set_mode((previous | _BOTH) if on else (previous & ~_BOTH))
    return previous


def restore_mode(unsigned int previous):
    """Put back the FTZ and DAZ bits of a mode set_flush_subnormals returned (other bits,
    such as exception masks and rounding, are left as they are now)."""
    if supported():
        hw5_set_mode((hw5_get_mode() & ~_BOTH) | (previous & _BOTH))
