"""Speed of the fast conv and pool layers, and of a ThreeLayerConvNet training step.

    .venv/bin/python benchmarks/bench_conv.py          (about a minute; see README.md)

Prints, for float32 and float64 with 2 threads (BENCH_THREADS to change):
  1. naive vs fast time on the handout's shapes;
  2. conv forward+backward GFLOP/s on four shapes, as a fraction of a square
     matrix product of the same FLOPs timed in the same rounds;
  3. ThreeLayerConvNet training images per second (forward, backward, Adam update);
  4. 2x2 max pool forward+backward time;
and the same in PyTorch (CPU) when it is installed, with our/PyTorch ratios.
"""
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cnn import ThreeLayerConvNet  # noqa: E402
from fast_layers import (_ext, conv_backward_fast, conv_forward_fast,  # noqa: E402
                         max_pool_backward_fast, max_pool_forward_fast)
from layers import (conv_backward_naive, conv_forward_naive,  # noqa: E402
                    max_pool_backward_naive, max_pool_forward_naive)
from optim import adam  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

THREADS = int(os.environ.get("BENCH_THREADS", 2))
DTYPES = (np.float32, np.float64)
# (x shape, theta shape, pad), stride 1.
GFLOP_SHAPES = [((128, 3, 32, 32), (32, 3, 7, 7), 3),
                ((128, 32, 32, 32), (32, 32, 3, 3), 1),
                ((128, 64, 16, 16), (64, 64, 3, 3), 1),
                ((128, 128, 8, 8), (128, 128, 3, 3), 1)]
rng = np.random.default_rng(0)


def best_times(*fs, repeats=5, budget_s=3.0):
    """Shortest time of each f over up to `repeats` rounds, calling them in turn.

    Interleaving the calls exposes every f to the same background load; taking
    the minimum keeps the rounds that load left alone.
    """
    for f in fs:
        f()                                                  # warm-up
    best, start = [np.inf] * len(fs), time.perf_counter()
    for _ in range(repeats):
        for i, f in enumerate(fs):
            t = time.perf_counter()
            f()
            best[i] = min(best[i], time.perf_counter() - t)
        if time.perf_counter() - start > budget_s:
            break
    return best


def best_time(f, **kwargs):
    return best_times(f, **kwargs)[0]


def randn(shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def square_matmul(flops, dtype):
    """An n x n by n x n product with 2 n^3 close to flops, and its exact FLOPs."""
    n = int(round((flops / 2) ** (1 / 3)))
    a, b = randn((n, n), dtype), randn((n, n), dtype)
    return (lambda: a @ b), 2 * n ** 3


def conv_fwd_bwd(x, theta, conv_param, forward, backward):
    theta0 = np.zeros(theta.shape[0], dtype=x.dtype)
    out, cache = forward(x, theta, theta0, conv_param)
    dout = randn(out.shape, x.dtype)
    return lambda: backward(dout, forward(x, theta, theta0, conv_param)[1])


def pool_fwd_bwd(x, forward, backward):
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout = randn(forward(x, pool_param)[0].shape, x.dtype)
    return lambda: backward(dout, forward(x, pool_param)[1])


# ------------------------------------------------------------------ PyTorch

def torch_dtype(dtype):
    return torch.float32 if dtype == np.float32 else torch.float64


def torch_conv_fwd_bwd(x_shape, theta_shape, pad, dtype):
    x = torch.randn(x_shape, dtype=torch_dtype(dtype), requires_grad=True)
    theta = torch.randn(theta_shape, dtype=torch_dtype(dtype), requires_grad=True)
    theta0 = torch.zeros(theta_shape[0], dtype=torch_dtype(dtype), requires_grad=True)
    out = torch.nn.functional.conv2d(x, theta, theta0, padding=pad)
    dout = torch.randn_like(out)
    return lambda: torch.nn.functional.conv2d(x, theta, theta0, padding=pad).backward(dout)


def torch_pool_fwd_bwd(x_shape, dtype):
    x = torch.randn(x_shape, dtype=torch_dtype(dtype), requires_grad=True)
    dout = torch.randn(x_shape[:2] + (x_shape[2] // 2, x_shape[3] // 2), dtype=x.dtype)
    return lambda: torch.nn.functional.max_pool2d(x, 2, 2).backward(dout)


def torch_train_step(batch, dtype):
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 7, padding=3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 16 * 16, 100), torch.nn.ReLU(),
        torch.nn.Linear(100, 10)).to(torch_dtype(dtype))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    X = torch.randn(batch, 3, 32, 32, dtype=torch_dtype(dtype))
    y = torch.randint(10, (batch,))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    return step


# ----------------------------------------------------------------- sections

def ours_train_step(batch, dtype):
    model = ThreeLayerConvNet(dtype=dtype, seed=0)
    configs = {name: {"learning_rate": 1e-3} for name in model.params}
    X, y = randn((batch, 3, 32, 32), dtype), rng.integers(10, size=batch)

    def step():
        _, grads = model.loss(X, y)
        for name, value in model.params.items():
            model.params[name], configs[name] = adam(value, grads[name], configs[name])
    return step


def naive_vs_fast(dtype):
    print(f"\n[{np.dtype(dtype)}] naive vs fast, handout shapes       naive s    fast s   speedup")
    x, theta = randn((100, 3, 31, 31), dtype), randn((25, 3, 3, 3), dtype)
    conv_param = {"stride": 2, "pad": 1}
    theta0 = np.zeros(25, dtype=dtype)
    cases = [("conv forward  x(100,3,31,31) w(25,3,3,3) s2 p1",
              lambda: conv_forward_naive(x, theta, theta0, conv_param),
              lambda: conv_forward_fast(x, theta, theta0, conv_param))]
    dout = randn(conv_forward_fast(x, theta, theta0, conv_param)[0].shape, dtype)
    naive_cache = conv_forward_naive(x, theta, theta0, conv_param)[1]
    fast_cache = conv_forward_fast(x, theta, theta0, conv_param)[1]
    cases.append(("conv backward", lambda: conv_backward_naive(dout, naive_cache),
                  lambda: conv_backward_fast(dout, fast_cache)))
    xp, pdout = randn((100, 3, 32, 32), dtype), randn((100, 3, 16, 16), dtype)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    naive_pool = max_pool_forward_naive(xp, pool_param)
    fast_pool = max_pool_forward_fast(xp, pool_param)
    cases += [("pool forward  x(100,3,32,32) 2x2 s2",
               lambda: max_pool_forward_naive(xp, pool_param),
               lambda: max_pool_forward_fast(xp, pool_param)),
              ("pool backward", lambda: max_pool_backward_naive(pdout, naive_pool[1]),
               lambda: max_pool_backward_fast(pdout, fast_pool[1]))]
    for name, naive, fast in cases:
        t_naive, t_fast = best_time(naive, repeats=2), best_time(fast, repeats=10)
        print(f"  {name:<48}{t_naive:9.4f} {t_fast:9.5f} {t_naive / t_fast:8.0f}x")


def conv_rates(dtype):
    head = "  torch GF/s  ours/torch" if torch else ""
    print(f"\n[{np.dtype(dtype)}] conv forward+backward (stride 1)     GFLOP/s  matmul GF/s  "
          f"fraction{head}")
    for x_shape, theta_shape, pad in GFLOP_SHAPES:
        F, C, HH, WW = theta_shape
        flops = 3 * 2 * x_shape[0] * F * C * HH * WW * x_shape[2] * x_shape[3]
        matmul, matmul_flops = square_matmul(flops, dtype)
        step = conv_fwd_bwd(randn(x_shape, dtype), randn(theta_shape, dtype) * 0.1,
                            {"stride": 1, "pad": pad}, conv_forward_fast, conv_backward_fast)
        fs = [step, matmul]
        if torch:
            fs.append(torch_conv_fwd_bwd(x_shape, theta_shape, pad, dtype))
        times = best_times(*fs)
        rate, reference = flops / times[0] / 1e9, matmul_flops / times[1] / 1e9
        line = f"  x{x_shape} w{theta_shape} p{pad}".ljust(50)
        line += f"{rate:7.1f} {reference:12.1f} {rate / reference:9.2f}"
        if torch:
            torch_rate = flops / times[2] / 1e9
            line += f" {torch_rate:11.1f} {rate / torch_rate:11.2f}"
        print(line)


def train_and_pool(dtype):
    head = "       torch  ours/torch" if torch else ""
    print(f"\n[{np.dtype(dtype)}] ThreeLayerConvNet and 2x2 pool        ours{head}")
    for batch in (50, 128):
        fs = [ours_train_step(batch, dtype)] + ([torch_train_step(batch, dtype)] if torch else [])
        rates = [batch / t for t in best_times(*fs)]
        line = f"  train step, batch {batch:<3} (images/s)".ljust(44) + f"{rates[0]:10.0f}"
        if torch:
            line += f" {rates[1]:11.0f} {rates[0] / rates[1]:11.2f}"
        print(line)
    for x_shape in ((100, 3, 32, 32), (128, 32, 32, 32)):
        fs = [pool_fwd_bwd(randn(x_shape, dtype), max_pool_forward_fast, max_pool_backward_fast)]
        if torch:
            fs.append(torch_pool_fwd_bwd(x_shape, dtype))
        times = best_times(*fs)
        line = f"  pool fwd+bwd x{x_shape} (ms)".ljust(44) + f"{times[0] * 1e3:10.2f}"
        if torch:
            # Times, so ours/torch above 1 means we are slower.
            line += f" {times[1] * 1e3:11.2f} {times[0] / times[1]:11.2f}"
        print(line)


def main():
    if _ext is None:
        print("WARNING: im2col_cython is not built; timing the NumPy fallback")
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            print(f"note: {name}={os.environ[name]} is set; it can slow OpenBLAS (see README)")
    if torch:
        torch.set_num_threads(THREADS)
    # Other processes skew every number: say how busy the machine was.
    print(f"numpy {np.__version__}, {THREADS} threads, torch "
          f"{torch.__version__ if torch else 'not installed'}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with threadpool_limits(THREADS):
        for dtype in DTYPES:
            naive_vs_fast(dtype)
            conv_rates(dtype)
            train_and_pool(dtype)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
