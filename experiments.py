"""Experiments the notebooks and the main job run, as plain functions.

`python experiments.py two-layer` trains the two-layer net on CIFAR-10 and
prints its validation and test accuracy.
"""
import argparse
import time

import numpy as np

from data_utils import get_CIFAR10_data
from fc_net import TwoLayerNet
from solver import Solver

TWO_LAYER = dict(hidden_dim=256, reg=0.01, weight_scale=1e-3, learning_rate=3e-4,
                 lr_decay=0.9, num_epochs=10, batch_size=200)


def train_two_layer(data, hidden_dim, reg, weight_scale, learning_rate, lr_decay,
                    num_epochs, batch_size, seed=0, verbose=True):
    """Train TwoLayerNet (float32) with Adam; returns the Solver (model holds the best params)."""
    model = TwoLayerNet(hidden_dim=hidden_dim, reg=reg, weight_scale=weight_scale,
                        dtype=np.float32, seed=seed)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": learning_rate},
                    lr_decay=lr_decay, num_epochs=num_epochs, batch_size=batch_size,
                    print_every=100, verbose=verbose, seed=seed)
    return solver.train()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["two-layer"])
    parser.add_argument("--data", default=None, help="CIFAR-10 folder (default: $CIFAR10_DIR)")
    args = parser.parse_args(argv)
    data = get_CIFAR10_data(root=args.data)
    start = time.time()
    solver = train_two_layer(data, **TWO_LAYER)
    test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
    print(f"TwoLayerNet {TWO_LAYER}")
    print(f"validation accuracy: {solver.best_val_acc:.3f}  test accuracy: {test_acc:.3f}  "
          f"({time.time() - start:.0f}s)")


if __name__ == "__main__":
    main()
