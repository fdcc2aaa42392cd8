"""Where a training step of the 4.4.7 fast net (convnet.WhitenedConvNet) spends its time,
on the course's NCHW fast layers (engine='nchw'); benchmarks/bench_nhwc.py measures the
channels-last engine the net runs on by default, against this one.

    .venv/bin/python benchmarks/bench_best.py        (about a minute; BENCH_BATCH, BENCH_STEPS)
    BENCH_WIDTHS=64,128,128 .venv/bin/python benchmarks/bench_best.py   (the narrower net)
    BENCH_REUSE_MEMORY=0 .venv/bin/python benchmarks/bench_best.py     (glibc's malloc defaults)

Runs training steps (forward, backward) of the network of best_model.BEST at its
real shapes and batch size, float32, on 2 BLAS threads, and prints:
  1. images per second and the seconds of one step;
  2. each layer type's share of the step: conv forward, conv backward, batch norm,
     max pool, ReLU, augmentation, and everything else (loss, head, copies);
  3. the convolutions' GFLOP/s against a plain matrix product of the same shape as
     their im2col products, timed in the same run (a ratio: the machine is shared).
"""
import os
import sys
import time
from collections import defaultdict

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import convnet  # noqa: E402
from best_model import BEST, reuse_freed_memory  # noqa: E402

BATCH = int(os.environ.get("BENCH_BATCH", BEST["batch_size"]))
STEPS = int(os.environ.get("BENCH_STEPS", 3))
REUSE_MEMORY = os.environ.get("BENCH_REUSE_MEMORY", "1") != "0"     # 0: glibc's defaults
WIDTHS = tuple(int(w) for w in
               os.environ.get("BENCH_WIDTHS", ",".join(map(str, BEST["widths"]))).split(","))
CATEGORIES = {"conv_forward_fast": "conv forward", "conv_backward_fast": "conv backward",
              "spatial_batchnorm_forward": "batch norm", "spatial_batchnorm_backward": "batch norm",
              "max_pool_forward_fast": "max pool", "max_pool_backward_fast": "max pool",
              "max_pool_floor_forward": "max pool", "max_pool_floor_backward": "max pool",
              "relu_forward": "ReLU", "relu_backward": "ReLU",
              "translate_and_flip": "augmentation"}
seconds = defaultdict(float)
conv_flops = [0.0]


def timed(name, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[CATEGORIES[name]] += time.perf_counter() - start
            if name == "conv_forward_fast":         # 2 * K * F * positions per image
                x, theta = args[0], args[1]
                positions = x.shape[2] * x.shape[3] if theta.shape[2] == 3 else \
                    (x.shape[2] - 1) * (x.shape[3] - 1)
                conv_flops[0] += 2 * np.prod(theta.shape) * positions * x.shape[0]
    return wrapper


def gemm_gflops(F, K, N, repeats=3):
    """GFLOP/s of a float32 (F, K) @ (K, N) product, the shape of an im2col conv."""
    a = np.random.default_rng(0).standard_normal((F, K)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((K, N)).astype(np.float32)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * F * K * N * repeats / (time.perf_counter() - start) / 1e9


def main():
    if REUSE_MEMORY:                      # as the training does
        reuse_freed_memory()
    for name in CATEGORIES:
        setattr(convnet, name, timed(name, getattr(convnet, name)))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, 3, 32, 32)).astype(np.float32)
    y = rng.integers(10, size=BATCH)
    with threadpool_limits(2):
        net = convnet.WhitenedConvNet(convnet.whitening_filters(X[:256]), widths=WIDTHS,
                                      engine="nchw", rng=0)
        net.loss(X, y)                    # one untimed step: the heap then holds its arrays
        seconds.clear()
        conv_flops[0] = 0.0
        start = time.perf_counter()
        for _ in range(STEPS):
            net.loss(X, y)
        step = (time.perf_counter() - start) / STEPS
        w1, w2, _ = WIDTHS
        gemm = gemm_gflops(w2, w1 * 9, 4096)
    print(f"WhitenedConvNet (NCHW layers) widths {WIDTHS}, batch {BATCH}, float32, 2 threads, "
          f"freed memory {'kept for reuse' if REUSE_MEMORY else 'returned (glibc defaults)'}")
    print(f"step {step:.2f} s, {BATCH / step:.0f} images/s, "
          f"epoch of 49,000 images {49000 / BATCH * step / 60:.1f} min")
    per_step = {k: v / STEPS for k, v in seconds.items()}
    per_step["other"] = step - sum(per_step.values())
    for name, value in sorted(per_step.items(), key=lambda kv: -kv[1]):
        print(f"  {name:14s} {value:6.2f} s  {100 * value / step:5.1f}%")
    conv_time = per_step["conv forward"] + per_step["conv backward"]
    # backward does two products of the forward's size (dtheta, dx) for all but the first layer
    conv_gflops = 3 * conv_flops[0] / STEPS / conv_time / 1e9
    print(f"convolutions: {conv_gflops:.0f} GFLOP/s forward+backward; a same-run "
          f"({w2}, {w1 * 9}) @ ({w1 * 9}, 4096) product: {gemm:.0f} GFLOP/s; "
          f"ratio {conv_gflops / gemm:.2f}")


if __name__ == "__main__":
    main()
