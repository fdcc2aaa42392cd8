"""A probe, on validation only: does an orthogonalized update of the conv filters (Muon)
train the 4.4.7 recipe in fewer epochs than its Nesterov SGD?

    python muon_probe.py --epochs 3 --muon-lr 0.06       # one run; prints val accuracy
    python muon_probe.py --epochs 3                      # the recipe as it is (baseline)

Everything but the rule of the six conv filters (theta1..theta6) is best_model.BEST: head,
biases and BN scales keep Nesterov SGD with their learning rates, the schedule, the
lookahead, the augmentation. Data: best_model.ablation_data (45,000 training images, 5,000
validation images, no test image loaded). Each run is appended to --record
(default runs/muon-probe.jsonl). HW5_QUICK=1 runs the small recipe without checkpoints (a
smoke test).
"""
import argparse
import json
import os

import numpy as np

import best_model
from optim import sgd_nesterov
from runs import checkpoint_path
from solver import Solver

# Quintic Newton-Schulz coefficients that push every singular value in (0, 1] towards 1
# fast (slope 3.4445 at zero), without converging exactly: singular values end in about
# [0.7, 1.2], which orthogonalizes well enough for an update direction.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize(g, steps=5):
    """An approximation of U V^T for g = U S V^T (2-d, any shape), by `steps` quintic
    Newton-Schulz iterations X <- p(A) X, p(A) = a I + b A + c A^2, A = X X^T, started from
    g scaled to Frobenius norm 1 (so every singular value is at most 1). Keeps g's dtype.

    Every iterate is X_k = Q_k X_0 with Q_k a polynomial in A_0, and all of them commute, so
    the iteration runs on the small (r, r) matrices alone (r = min(g.shape)):
        Q <- p(A) Q,  A <- p(A) A p(A),
    and touches the long side twice: A_0 = X_0 X_0^T and X = Q X_0. For a (384, 3456) filter
    bank that is 2 long products and 15 small ones instead of 10 long and 10 small."""
    a, b, c = NS_COEFFICIENTS
    tall = g.shape[0] > g.shape[1]
    x = g.T if tall else g
    x = x / (np.linalg.norm(x) + 1e-7)
    gram = x @ x.T
    q = np.eye(len(gram), dtype=x.dtype)
    for _ in range(steps):
        p = b * gram + c * (gram @ gram)
        p[np.diag_indices_from(p)] += a
        q = p @ q
        gram = p @ gram @ p
    x = q @ x
    return (x.T if tall else x).astype(g.dtype, copy=False)


def orthogonalize_direct(g, steps=5):
    """orthogonalize's iteration written out on the (r, n) iterate X itself (the reference
    it is tested against)."""
    a, b, c = NS_COEFFICIENTS
    tall = g.shape[0] > g.shape[1]
    x = g.T if tall else g
    x = x / (np.linalg.norm(x) + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return (x.T if tall else x).astype(g.dtype, copy=False)


def muon(theta, dtheta, config):
    """Muon for a conv filter bank theta (F, C, k, k): Nesterov momentum on the gradient,
    theta rescaled to Frobenius norm sqrt(F) (rows of unit norm on average; the batch norm
    after every conv makes the function blind to the scale), then a step of learning_rate
    along the orthogonalized (F, C*k*k) momentum direction.

        v     <- mu * v + dtheta
        u     <- dtheta + mu * v
        theta <- theta * sqrt(F) / |theta|  -  alpha * orth(u)
    config: learning_rate alpha, momentum mu, velocity v (zeros), ns_steps (5).
    """
    v = config.get("velocity")
    v = np.zeros_like(theta) if v is None else v
    mu = config["momentum"]
    v = mu * v + dtheta
    config["velocity"] = v
    u = (dtheta + mu * v).reshape(len(theta), -1)
    scale = float(np.sqrt(len(theta)) / np.linalg.norm(theta))
    step = orthogonalize(u, config.get("ns_steps", 5)).reshape(theta.shape)
    next_theta = scale * theta - config["learning_rate"] * step
    return next_theta.astype(theta.dtype, copy=False), config


def mixed_rule(theta, dtheta, config):
    """muon for configs that say so (config['muon']), sgd_nesterov for the rest."""
    if config.get("muon"):
        return muon(theta, dtheta, config)
    return sgd_nesterov(theta, dtheta, config)
mixed_rule.__name__ = "muon_filters_sgd_nesterov_rest"


def probe(epochs, muon_lr, muon_momentum, ns_steps, batch_size, seed, root,
          record="runs/muon-probe.jsonl"):
    """Train one run (muon_lr None: the recipe as it is), print it and append it to record."""
    settings = dict(best_model.recipe(), num_epochs=epochs, seed=seed)
    settings["batch_size"] = batch_size or settings["batch_size"]
    batch_size = settings["batch_size"]
    data = best_model.ablation_data(root)
    model = best_model.whitened_net(data, settings)
    train_data, flips = best_model.training_set(data, settings)
    options = best_model.solver_options(settings)
    tag = "baseline" if muon_lr is None else f"muon-lr{muon_lr:g}-mom{muon_momentum:g}-ns{ns_steps}"
    if muon_lr is not None:
        options["update_rule"] = mixed_rule
        for l in range(1, 7):
            options["param_optim_config"][f"theta{l}"] = {
                "learning_rate": muon_lr, "momentum": muon_momentum, "weight_decay": 0.0,
                "muon": True, "ns_steps": ns_steps}
    name = checkpoint_path(f"muon-probe-{tag}-e{epochs}-b{batch_size}-s{seed}")
    best_model.reuse_freed_memory()        # as `experiments.py best` and the ablation do
    solver = Solver(model, train_data, **options, checkpoint_name=name, before_epoch=flips)
    solver.print_every = 10 ** 9
    solver.resume()
    solver.train()
    run = {"tag": tag, "epochs": epochs, "batch_size": batch_size, "seed": seed,
           "val_acc": solver.best_val_acc, "val_acc_history": solver.val_acc_history,
           "epoch_times": list(solver.epoch_times), "minutes": sum(solver.epoch_times) / 60}
    print(json.dumps(run))
    os.makedirs(os.path.dirname(record) or ".", exist_ok=True)
    with open(record, "a") as f:
        f.write(json.dumps(run) + "\n")
    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--muon-lr", type=float, default=None, help="None: the recipe as it is")
    p.add_argument("--muon-momentum", type=float, default=0.6)
    p.add_argument("--ns-steps", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="CIFAR-10 folder (default: $CIFAR10_DIR)")
    p.add_argument("--record", default="runs/muon-probe.jsonl",
                   help="the JSON-lines file each run is appended to")
    a = p.parse_args(argv)
    if a.epochs < 1 or a.ns_steps < 1 or (a.batch_size is not None and a.batch_size < 1):
        p.error(f"--epochs, --ns-steps and --batch-size take positive integers (got "
                f"{a.epochs}, {a.ns_steps}, {a.batch_size})")
    if a.muon_lr is not None and not 0 < a.muon_lr < float("inf"):
        p.error(f"--muon-lr takes a finite rate > 0 (got {a.muon_lr})")
    if not 0 <= a.muon_momentum < 1:
        p.error(f"--muon-momentum takes a value in [0, 1) (got {a.muon_momentum})")
    probe(a.epochs, a.muon_lr, a.muon_momentum, a.ns_steps, a.batch_size, a.seed, a.data,
          a.record)


if __name__ == "__main__":
    main()
