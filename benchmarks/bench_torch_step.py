"""The 4.4.7 training step, ours against the same net in PyTorch (CPU), interleaved in one run.

    .venv-torch/bin/python benchmarks/bench_torch_step.py            (a few minutes)
    .venv-torch/bin/python benchmarks/bench_torch_step.py --quick    (smoke test: batch 8, 2 rounds)

The net: widths 64/256/256 (--widths: 128 384 384 is the current recipe's), float32, forward + backward (no update, no augmentation) of
    frozen 2x2 whitening conv (24 filters) - ReLU
    [conv3x3 - maxpool2 - BN - ReLU - conv3x3 - BN - ReLU] x 3 - global max pool
    - linear * 1/9 - softmax cross-entropy with label smoothing 0.2,
ours as convnet.WhitenedConvNet(engine='nhwc').loss (the channels-last engine the recipe
trains on), PyTorch's in NCHW and in channels-last memory format; 2 threads each.

Two venvs, two processes: this script runs under .venv-torch's python (make bench-torch) and
starts itself under the project's .venv/bin/python as a worker (--worker) that times our step
on request; the worker never imports torch, this process never imports the project. Each
round times, for each batch size, the three steps one after the other (their order rotating
from round to round), so that load from other jobs falls on all of them alike; the table
gives medians over the rounds. Each step is run once untimed first (the worker also keeps
freed memory for reuse, as the training does: best_model.reuse_freed_memory).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTHS = (64, 256, 256)       # the net issue 21 measured; --widths picks others
HEAD_SCALE = 1 / 9
SMOOTHING = 0.2


# --- our side: runs under the project's venv, never imports torch ---

def serve_our_steps(threads, widths):
    """Worker loop: for each batch size read from stdin, reply with the seconds of one
    timed training step of WhitenedConvNet at that batch (a net built and run once untimed
    at the first request for each size)."""
    import numpy as np
    from threadpoolctl import threadpool_limits
    sys.path.insert(0, REPO)
    import convnet
    from best_model import reuse_freed_memory

    reuse_freed_memory()
    rng = np.random.default_rng(0)
    steps = {}
    with threadpool_limits(threads):
        for line in sys.stdin:
            batch = int(line)
            if batch not in steps:
                X = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
                y = rng.integers(10, size=batch)
                net = convnet.WhitenedConvNet(convnet.whitening_filters(X[:256]), widths=widths,
                                              augment=False, engine="nhwc", rng=0)
                steps[batch] = lambda net=net, X=X, y=y: net.loss(X, y)
                steps[batch]()
            start = time.perf_counter()
            steps[batch]()
            print(time.perf_counter() - start, flush=True)


class OurSteps:
    """The worker process, seen from here: ours(batch) -> seconds of one of our steps."""

    def __init__(self, python, threads, widths):
        if not os.path.isfile(python):
            raise SystemExit(f"{python} not found: build the project's venv first (make build)")
        command = [python, os.path.abspath(__file__), "--worker", "--threads", str(threads),
                   "--widths", *map(str, widths)]
        self.worker = subprocess.Popen(command,
                                       cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, batch):
        self.worker.stdin.write(f"{batch}\n")
        self.worker.stdin.flush()
        reply = self.worker.stdout.readline()
        if not reply:
            raise RuntimeError(f"the worker ({self.worker.args[0]}) stopped; its error is above")
        return float(reply)

    def close(self):
        self.worker.stdin.close()
        self.worker.wait()


# --- PyTorch's side: runs under .venv-torch ---

def torch_net(channels_last, widths):
    """The same net in PyTorch with its default init (a step's cost does not depend on the
    values); the whitening conv frozen, so its filters get no gradient, as ours."""
    import torch
    from torch import nn
    channels = (24,) + tuple(widths)
    layers = [nn.Conv2d(3, 24, 2, bias=False), nn.ReLU()]
    for c_in, c_out in zip(channels, channels[1:]):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2),
                   nn.BatchNorm2d(c_out), nn.ReLU(),
                   nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(widths[-1], 10)]
    net = nn.Sequential(*layers)
    net[0].weight.requires_grad_(False)
    return net.to(memory_format=torch.channels_last) if channels_last else net


def torch_step(channels_last, batch, widths):
    """A function running one forward + backward of torch_net on a random batch; it has run
    once (untimed) before it is returned."""
    import torch
    import torch.nn.functional as F
    net = torch_net(channels_last, widths)
    X, y = torch.randn(batch, 3, 32, 32), torch.randint(10, (batch,))
    if channels_last:
        X = X.contiguous(memory_format=torch.channels_last)

    def step():
        loss = F.cross_entropy(net(X) * HEAD_SCALE, y, label_smoothing=SMOOTHING)
        net.zero_grad(set_to_none=True)
        loss.backward()
    step()
    return step


def seconds(step):
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def measure(batches, rounds, threads, python, widths):
    """{batch: {'ours', 'torch NCHW', 'torch channels-last': median seconds of a step}},
    the three timed in turn within every round."""
    import torch
    torch.set_num_threads(threads)
    ours = OurSteps(python, threads, widths)
    try:
        steps = {b: {"ours": lambda b=b: ours(b),
                     "torch NCHW": torch_step(False, b, widths),
                     "torch channels-last": torch_step(True, b, widths)} for b in batches}
        for b in batches:
            ours(b)                                  # builds and warms the worker's net
        times = {b: {name: [] for name in steps[b]} for b in batches}
        for r in range(rounds):
            for b in batches:
                names = list(steps[b])
                for name in names[r % 3:] + names[:r % 3]:
                    step = steps[b][name]
                    times[b][name].append(step() if name == "ours" else seconds(step))
            print(f"round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    finally:
        ours.close()
    return {b: {name: statistics.median(ts) for name, ts in by_name.items()} for b, by_name in times.items()}


def table(medians, rounds, threads, widths):
    """The printed comparison: median step seconds and the ratios ours / torch."""
    import torch
    lines = [f"4.4.7 training step (forward+backward, ReLU, no augmentation), widths "
             f"{'/'.join(map(str, widths))}, float32, {threads} threads, torch {torch.__version__}, "
             f"median of {rounds} interleaved rounds",
             f"{'batch':>6} {'ours s':>8} {'torch NCHW s':>13} {'torch CL s':>11} {'ours/CL':>8} {'ours/NCHW':>10}"]
    for batch, m in medians.items():
        ours, nchw, cl = m["ours"], m["torch NCHW"], m["torch channels-last"]
        lines.append(f"{batch:>6} {ours:>8.3f} {nchw:>13.3f} {cl:>11.3f} {ours / cl:>8.2f} {ours / nchw:>10.2f}")
    return "\n".join(lines)


def positive_int(text):
    """argparse type: an int >= 1, else an error naming the value and the rule."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 512], help="batch sizes (default 256 512)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="threads for each side (default 2)")
    parser.add_argument("--ours-python", default=os.path.join(REPO, ".venv", "bin", "python"),
                        help="the project's python, which runs our step (default %(default)s)")
    parser.add_argument("--widths", type=positive_int, nargs=3, default=list(WIDTHS),
                        help="the three blocks' channels (default 64 256 256)")
    parser.add_argument("--quick", action="store_true", help="smoke test: batch 8, 2 rounds")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return serve_our_steps(args.threads, tuple(args.widths))
    if args.quick:
        args.batches, args.rounds = [8], 2
    medians = measure(args.batches, args.rounds, args.threads, args.ours_python, tuple(args.widths))
    print(table(medians, args.rounds, args.threads, tuple(args.widths)))


if __name__ == "__main__":
    main()
