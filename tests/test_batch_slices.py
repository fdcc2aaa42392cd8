"""batch_slices: the batch split into one slice per allowed thread, in order, never more
threads than BLAS was given."""
import threading

from threadpoolctl import threadpool_limits

from batch_slices import blas_threads, by_image_slices, one_blas_thread


def test_slices_cover_the_batch_in_order_at_once_on_as_many_threads_as_asked():
    together = threading.Barrier(3, timeout=10)          # broken unless all 3 run at once

    def work(lo, hi):
        together.wait()
        return (lo, hi, blas_threads())
    parts = by_image_slices(work, 10, threads=3)
    assert [p[:2] for p in parts] == [(0, 3), (3, 6), (6, 10)]
    assert all(p[2] == 1 for p in parts)                  # BLAS single-threaded meanwhile


def test_never_more_slices_than_images_or_blas_threads():
    assert by_image_slices(lambda lo, hi: (lo, hi), 1, threads=4) == [(0, 1)]
    with threadpool_limits(limits=1, user_api="blas"):
        assert by_image_slices(lambda lo, hi: (lo, hi), 8) == [(0, 8)]


def test_blas_keeps_its_threads_when_the_work_calls_no_product():
    before = blas_threads()
    parts = by_image_slices(lambda lo, hi: blas_threads(), 4, threads=2, blas_products=False)
    assert parts == [before, before] and blas_threads() == before


def test_one_blas_thread_holds_blas_to_one_thread_and_gives_the_rest_back():
    with threadpool_limits(2):
        before = blas_threads()
        with one_blas_thread():
            assert blas_threads() == 1
        assert blas_threads() == before
