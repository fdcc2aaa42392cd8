"""What subnormal weights cost, and what flushing them (solver.subnormals_flushed) saves.

    .venv/bin/python benchmarks/bench_subnormals.py        (about 20 s)

The shapes are 4.4.6's three-layer ConvNet's hidden affine layer: a batch of 50 images of
32 x 16 x 16 pooled features times a (8192, 500) float32 weight matrix, and one Adam update
of that matrix whose gradient and moments come from weight decay alone. The weights are drawn once; a fraction of them (FRACTION, 0.58 as that net
had after three epochs) is then set to subnormal values. Each line times, in the same
rounds, the clean weights, the weights with subnormals, and the weights with subnormals
inside subnormals_flushed() (the mode the Solver trains in), and prints the ratios.
"""
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from optim import adam  # noqa: E402
from solver import subnormals_flushed  # noqa: E402

FRACTION = 0.58
ROUNDS = 5


def best_of(fn, rounds=ROUNDS, repeat=3):
    """The fastest of rounds timings, each the mean over repeat calls."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        times.append((time.perf_counter() - start) / repeat)
    return min(times)


def weights(rng):
    """Clean (8192, 500) float32 weights, and a copy with FRACTION of them subnormal."""
    clean = (1e-3 * rng.standard_normal((8192, 500))).astype(np.float32)
    tiny = np.finfo(np.float32).tiny
    subnormal = clean.copy()
    chosen = rng.random(clean.shape) < FRACTION
    subnormal[chosen] = (tiny * rng.uniform(1e-4, 0.9, chosen.sum())).astype(np.float32)
    return clean, subnormal


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 8192)).astype(np.float32)
    clean, subnormal = weights(rng)
    share = np.mean((subnormal != 0) & (np.abs(subnormal) < np.finfo(np.float32).tiny))
    print(f"{share:.0%} of the weights subnormal; best of {ROUNDS} rounds; 1 BLAS thread")

    def step(w):
        """Adam on weights only weight decay moves (gradient 1e-3 w), its moments as small."""
        config = {"learning_rate": 1e-3, "m": 1e-3 * w, "v": np.abs(w), "t": 10}
        return lambda: adam(w, np.float32(1e-3) * w, dict(config))

    with threadpool_limits(1):
        for name, make in (("affine forward x @ theta", lambda w: (lambda: x @ w)),
                           ("Adam update of theta", step)):
            fast = best_of(make(clean))
            slow = best_of(make(subnormal))
            with subnormals_flushed() as flushed:
                flush = best_of(make(subnormal))
            print(f"{name:26s} clean {1e3 * fast:7.2f} ms | subnormal {1e3 * slow:8.2f} ms "
                  f"({slow / fast:5.1f}x) | subnormal, flushed {1e3 * flush:7.2f} ms "
                  f"({flush / fast:4.1f}x){'' if flushed else '  (mode not available here)'}")


if __name__ == "__main__":
    main()
