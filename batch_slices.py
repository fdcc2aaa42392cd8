"""Data parallelism over a batch for the compiled layers: one slice of the images per BLAS
thread, run at once on Python threads (the compiled loops release the GIL).

The layers' matrix products are mid-sized: threaded BLAS synchronises its threads on every
one, and on a busy machine a descheduled thread stalls them all. Slices synchronise once
per call. The process never runs more threads than BLAS was allowed (threadpoolctl's
limits included): while the slices run, BLAS itself is held to one thread.
"""
import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

from threadpoolctl import ThreadpoolController

_blas = None
_workers, _worker_count, _workers_pid = None, 0, None


def _blas_controller():
    global _blas
    if _blas is None:
        _blas = ThreadpoolController().select(user_api="blas")
    return _blas


def blas_threads():
    """Threads BLAS would use now (threadpoolctl limits included)."""
    return max([lib.num_threads for lib in _blas_controller().lib_controllers], default=1)


def one_blas_thread():
    """A context in which BLAS runs on one thread, for the small products beside the slices.
    A product that OpenBLAS threads leaves its worker threads spinning for a while after it
    returns, and they take the cores of the slices that follow (measured: a Winograd conv
    ran no faster on 2 threads than on 1 until its filter transform ran on one thread)."""
    return _blas_controller().limit(limits=1)


def by_image_slices(work, m, threads=None, blas_products=True):
    """[work(lo, hi) for T slices lo:hi of the batch 0:m], T = min(threads (default: BLAS's
    thread count), m), the first on this thread and the others on a shared pool; BLAS runs
    single-threaded meanwhile when blas_products (work calls it)."""
    global _workers, _worker_count, _workers_pid
    threads = min(blas_threads() if threads is None else threads, m)
    if threads <= 1:
        return [work(0, m)]
    # A forked child inherits the executor but not its threads: start afresh.
    if _worker_count < threads - 1 or _workers_pid != os.getpid():
        _workers = ThreadPoolExecutor(threads - 1)
        _worker_count, _workers_pid = threads - 1, os.getpid()
    bounds = [m * t // threads for t in range(threads + 1)]
    single = _blas_controller().limit(limits=1) if blas_products else contextlib.nullcontext()
    with single:
        others = [_workers.submit(work, lo, hi) for lo, hi in zip(bounds[1:-1], bounds[2:])]
        return [work(bounds[0], bounds[1])] + [f.result() for f in others]
