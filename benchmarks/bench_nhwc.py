"""The channels-last engine (fast_nhwc), Winograd on and off, against the old NCHW engine on the 4.4.7 net.

    .venv/bin/python benchmarks/bench_nhwc.py            (about two minutes on a busy machine)
    BENCH_ROUNDS=5 BENCH_MEMORY=0 .venv/bin/python benchmarks/bench_nhwc.py
    BENCH_REUSE_MEMORY=0 .venv/bin/python benchmarks/bench_nhwc.py   (glibc's malloc defaults)
    BENCH_THREADS=1 .venv/bin/python benchmarks/bench_nhwc.py        (everything on one thread)
    BENCH_WIDTHS=128,384,384 .venv/bin/python benchmarks/bench_nhwc.py  (the recipe's widths)
    BENCH_CONV_BATCH=512 BENCH_STEP=0 .venv/bin/python benchmarks/bench_nhwc.py
                                             (the conv table at batch 512, no step timings)

float32, 2 BLAS threads (threadpoolctl), widths 64/256/256 (BENCH_WIDTHS), augmentation off,
freed memory kept for reuse as the training does (best_model.reuse_freed_memory). Prints
ratios measured in one run, each a median over interleaved rounds (the machine is
shared: absolute times drift, ratios of neighbours much less):
  0. a float64 check that nhwc_step gives WhitenedConvNet.loss's loss and gradients (NCHW
     engine), Winograd on and off;
  1. the training step (forward + backward) at batch 256 and 512: NHWC / NCHW time with
     Winograd on and off (fast_nhwc.WINOGRAD), and at batch 256 on one thread (the per-core
     comparison, which load on the other core disturbs least);
  2. each 3x3 conv's direct GFLOP/s, forward and backward (dx and dtheta), as a fraction of
     a same-run sgemm of its im2col shape (m*P, 9C) @ (9C, F), and its Winograd / direct
     time, forward and backward, all interleaved (b3c2, 3x3 images, is not dispatched to
     Winograd: its ratios are measured with the thresholds lowered);
  3. the NHWC step's split: convs, elementwise passes (pool, BN, activation, ReLU),
     the rest (transpose, head, loss); and a GELU pass against a ReLU pass;
  4. peak memory (tracemalloc) of one step at batch 512 and 1024, both paths.
"""
import contextlib
import os
import sys
import time
import tracemalloc
from collections import defaultdict

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import convnet  # noqa: E402
import fast_nhwc  # noqa: E402
from fast_nhwc import (conv_backward_nhwc, conv_forward_nhwc, max_pool_floor_backward_nhwc,  # noqa: E402
                       max_pool_floor_forward_nhwc, pool_bn_act_backward, pool_bn_act_forward)
from best_model import reuse_freed_memory  # noqa: E402
from layers import affine_backward, affine_forward, relu_forward, softmax_loss  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
MEMORY = os.environ.get("BENCH_MEMORY", "1") != "0"
REUSE_MEMORY = os.environ.get("BENCH_REUSE_MEMORY", "1") != "0"
THREADS = int(os.environ.get("BENCH_THREADS", 2))
WIDTHS = tuple(int(w) for w in os.environ.get("BENCH_WIDTHS", "64,256,256").split(","))
CONV_BATCH = int(os.environ.get("BENCH_CONV_BATCH", 256))
STEP = os.environ.get("BENCH_STEP", "1") != "0"
SAME_3x3 = {"stride": 1, "pad": 1}
WHITEN = {"stride": 1, "pad": 0}


class Clock:
    """Seconds per category, summed over `with clock(name):` blocks."""

    def __init__(self):
        self.seconds = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, name):
        start = time.perf_counter()
        yield
        self.seconds[name] += time.perf_counter() - start


def nhwc_step(net, X, y, clock=None):
    """(loss, grads) of WhitenedConvNet net on (X, y), augmentation off, computed channels-last.

    The layer chain of WhitenedConvNet._forward and .loss, layer for layer, with fast_nhwc
    (the mapping in fast_nhwc's docstring); net's batch-norm running stats are updated.
    """
    clock = clock or Clock()
    p, caches, grads = net.params, [], {}
    scale = net.dtype.type(net.head_scale)
    with clock("other"):
        x = np.ascontiguousarray(X.astype(net.dtype, copy=False).transpose(0, 2, 3, 1))
    with clock("conv"):
        h, _ = conv_forward_nhwc(x, net.whiten, None, WHITEN)
    with clock("elementwise"):
        h, _ = relu_forward(h)
    for l in range(1, 7):
        net.bn_params[l]["mode"] = "train"
        with clock("conv"):
            h, conv_cache = conv_forward_nhwc(h, p[f"theta{l}"], None, SAME_3x3)
        with clock("elementwise"):
            h, bn_cache = pool_bn_act_forward(h, p[f"gamma{l}"], p[f"beta{l}"], net.bn_params[l],
                                              convnet.POOL_PARAM if l % 2 else None)
        caches.append((conv_cache, bn_cache))
    with clock("elementwise"):
        g, pool_cache = max_pool_floor_forward_nhwc(
            h, {"pool_height": h.shape[1], "pool_width": h.shape[2], "stride": max(h.shape[1:3])})
    with clock("other"):
        scores, affine_cache = affine_forward(g.reshape(len(g), -1), p["theta7"], p["theta7_0"])
        loss, dscores = softmax_loss(scores * scale, y, smoothing=net.smoothing)
        dg, grads["theta7"], grads["theta7_0"] = affine_backward(dscores * scale, affine_cache)
    with clock("elementwise"):
        dh = max_pool_floor_backward_nhwc(dg.reshape(g.shape), pool_cache)
    for l in range(6, 0, -1):
        conv_cache, bn_cache = caches.pop()
        with clock("elementwise"):
            dh, grads[f"gamma{l}"], grads[f"beta{l}"] = pool_bn_act_backward(dh, bn_cache)
        with clock("conv"):
            dh, grads[f"theta{l}"], _ = conv_backward_nhwc(dh, conv_cache, compute_dx=l > 1)
    return loss, grads


@contextlib.contextmanager
def winograd(on, everywhere=False):
    """fast_nhwc's Winograd switched on or off inside the block; everywhere: for every 3x3,
    stride-1, pad-1 conv, whatever its channels and size (winograd_pays' thresholds at 1)."""
    names = ("WINOGRAD", "WINOGRAD_MIN_CHANNELS", "WINOGRAD_MIN_SIDE")
    saved = [getattr(fast_nhwc, name) for name in names]
    fast_nhwc.WINOGRAD = on
    if everywhere:
        fast_nhwc.WINOGRAD_MIN_CHANNELS = fast_nhwc.WINOGRAD_MIN_SIDE = 1
    try:
        yield
    finally:
        for name, value in zip(names, saved):
            setattr(fast_nhwc, name, value)


def make_net(X, dtype=np.float32):
    """The 4.4.7 net on the old NCHW engine (its loss is the reference; nhwc_step reads its
    parameters)."""
    net = convnet.WhitenedConvNet(convnet.whitening_filters(X[:256]), widths=WIDTHS, augment=False,
                                  engine="nchw", dtype=dtype, rng=0)
    # Random BN scales and shifts, so the check sees more than the identity init.
    rng = np.random.default_rng(1)
    for l in range(1, 7):
        net.params[f"gamma{l}"] += rng.uniform(-0.5, 0.5, net.params[f"gamma{l}"].shape).astype(dtype)
        net.params[f"beta{l}"] += rng.uniform(-0.5, 0.5, net.params[f"beta{l}"].shape).astype(dtype)
    return net


def check_against_nchw():
    """Largest error of loss and grads, NHWC vs WhitenedConvNet.loss, float64, each relative
    to the largest entry of its reference (entrywise relative errors of entries near 0
    measure only rounding)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3, 32, 32)), rng.integers(10, size=8)
    net = make_net(X, np.float64)
    # Off the Dirac init: there the gradients are ill-conditioned (a 1e-15 change of theta4
    # moves theta4's and theta5's gradients by 3e-2, direct path alike), and Winograd rounds
    # differently from the direct conv.
    for l in range(1, 7):
        net.params[f"theta{l}"] += 0.1 * rng.standard_normal(net.params[f"theta{l}"].shape)
    loss, grads = net.loss(X, y)
    errors = []
    for on in (True, False):
        loss_nhwc, grads_nhwc = winograd_step(on, net, X, y)
        errors.append(max([abs(loss - loss_nhwc) / abs(loss)]
                          + [np.abs(grads[k] - grads_nhwc[k]).max() / np.abs(grads[k]).max() for k in grads]))
    return errors


def winograd_step(on, net, X, y, clock=None):
    with winograd(on):
        return nhwc_step(net, X, y, clock)


def median_times(functions, rounds):
    """{name: median seconds}, the functions called round-robin `rounds` times."""
    times = defaultdict(list)
    for _ in range(rounds):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def step_ratio(batch):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(10, size=batch)
    net, clock = make_net(X), Clock()
    net.loss(X, y), winograd_step(True, net, X, y), winograd_step(False, net, X, y)   # warm-up
    t = median_times({"nchw": lambda: net.loss(X, y),
                      "winograd": lambda: winograd_step(True, net, X, y, clock),
                      "direct": lambda: winograd_step(False, net, X, y)}, ROUNDS)
    split = {k: v / ROUNDS for k, v in clock.seconds.items()}
    return t, split


def conv_layers(widths):
    """[(name, image side, C, F)] of the net's six 3x3 convs at these widths."""
    w1, w2, w3 = widths
    return [("b1c1", 31, 24, w1), ("b1c2", 15, w1, w1), ("b2c1", 15, w1, w2),
            ("b2c2", 7, w2, w2), ("b3c1", 7, w2, w3), ("b3c2", 3, w3, w3)]


CONV_LAYERS = conv_layers(WIDTHS)


def conv_fractions(batch, rounds):
    """[(layer, direct forward GFLOP/s, direct backward GFLOP/s, sgemm GFLOP/s,
    Winograd / direct forward time, Winograd / direct backward time)] at batch, interleaved."""
    rng, rows = np.random.default_rng(0), []
    for name, H, C, F in CONV_LAYERS:
        x = rng.standard_normal((batch, H, H, C)).astype(np.float32)
        theta = (rng.standard_normal((F, C, 3, 3)) / np.sqrt(9 * C)).astype(np.float32)
        caches = {}
        for on in (False, True):
            with winograd(on, everywhere=True):
                out, caches[on] = conv_forward_nhwc(x, theta, None, SAME_3x3)
        assert caches[True][3] == "winograd" and caches[False][3] == "direct"
        dout = rng.standard_normal(out.shape).astype(np.float32)
        a = rng.standard_normal((batch * H * H, 9 * C)).astype(np.float32)
        b = rng.standard_normal((9 * C, F)).astype(np.float32)

        def forward(on):
            with winograd(on, everywhere=True):
                conv_forward_nhwc(x, theta, None, SAME_3x3)

        t = median_times({"sgemm": lambda: a @ b,
                          "forward": lambda: forward(False), "w_forward": lambda: forward(True),
                          "backward": lambda: conv_backward_nhwc(dout, caches[False]),
                          "w_backward": lambda: conv_backward_nhwc(dout, caches[True])}, rounds)
        flops = 2 * batch * H * H * 9 * C * F
        rows.append((name, flops / t["forward"] / 1e9, 2 * flops / t["backward"] / 1e9,
                     flops / t["sgemm"] / 1e9, t["w_forward"] / t["forward"],
                     t["w_backward"] / t["backward"]))
    return rows


def activation_ratio(rounds):
    """Seconds of pool_bn_act forward+backward with GELU over the same with ReLU (b1c1's shape)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 31, 31, 64)).astype(np.float32)
    gamma, beta = np.ones(64, np.float32), np.zeros(64, np.float32)

    def both(act):
        out, cache = pool_bn_act_forward(x, gamma, beta, {"mode": "train"}, convnet.POOL_PARAM, act)
        pool_bn_act_backward(out, cache)

    t = median_times({"relu": lambda: both("relu"), "gelu": lambda: both("gelu")}, rounds)
    return t["gelu"] / t["relu"]


def peak_memory(step, batch):
    """Peak bytes NumPy allocated (tracemalloc) during one step at batch."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(10, size=batch)
    net = make_net(X)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    step(net, X, y)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def print_step(label, t, split):
    """One step_ratio line: NHWC / NCHW with Winograd on and off, and the split (Winograd on)."""
    total = sum(split.values())
    print(f"  {label}: NHWC / NCHW step time, Winograd on {t['winograd'] / t['nchw']:.2f}, "
          f"off {t['direct'] / t['nchw']:.2f} (NCHW {t['nchw']:.2f} s, NHWC {t['winograd']:.2f} s "
          f"and {t['direct']:.2f} s)")
    print("    NHWC split (Winograd on): " + ", ".join(
        f"{k} {100 * v / total:.0f}%" for k, v in sorted(split.items(), key=lambda kv: -kv[1])))


def main():
    if REUSE_MEMORY:
        reuse_freed_memory()
    errors = check_against_nchw()
    print("float64 check, NHWC vs WhitenedConvNet.loss (NCHW): max error of loss and grads (relative to "
          f"each one's largest entry), Winograd on {errors[0]:.1e}, off {errors[1]:.1e}")
    with threadpool_limits(THREADS):
        print(f"4.4.7 step, widths {WIDTHS}, float32, {THREADS} BLAS thread(s), median of {ROUNDS} "
              f"interleaved rounds, freed memory {'kept for reuse' if REUSE_MEMORY else 'returned'}")
        if STEP:
            for batch in (256, 512):
                print_step(f"batch {batch}", *step_ratio(batch))
            with threadpool_limits(1):
                print_step("batch 256, one thread", *step_ratio(256))
        print(f"3x3 convs at batch {CONV_BATCH}: direct path as a fraction of a same-run sgemm of the im2col "
              f"shape; Winograd / direct time (median of {ROUNDS + 2}):")
        for (name, fwd, bwd, gemm, w_fwd, w_bwd), (_, H, C, F) in zip(conv_fractions(CONV_BATCH, ROUNDS + 2),
                                                                     CONV_LAYERS):
            print(f"  {name}: direct forward {fwd / gemm:.2f}, backward {bwd / gemm:.2f} "
                  f"(sgemm {gemm:.0f}, forward {fwd:.0f}, backward {bwd:.0f} GFLOP/s); "
                  f"Winograd / direct: forward {w_fwd:.2f}, backward {w_bwd:.2f}"
                  + ("" if fast_nhwc.winograd_pays(H, H, C, F) else " (not dispatched)"))
        print(f"pool + BN + activation, forward+backward at b1c1's shape: GELU / ReLU time "
              f"{activation_ratio(ROUNDS):.2f}")
        if MEMORY:
            nchw = lambda net, X, y: net.loss(X, y)            # noqa: E731
            for batch in (512, 1024):
                a, b = peak_memory(nchw, batch), peak_memory(nhwc_step, batch)
                print(f"peak memory of a step, batch {batch}: NCHW {a / 2**30:.2f} GiB, "
                      f"NHWC {b / 2**30:.2f} GiB, ratio {b / a:.2f}")


if __name__ == "__main__":
    main()
