"""Shared fixtures and helpers: the flat modules on sys.path, CIFAR-10 when it is available,
small stand-ins for it, and a pickle that runs code (what a crafted file could hold).

The registry files (tests/faults_*.py) and tests import the helpers with `from conftest import`."""
import os
import pickle
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import data_utils  # noqa: E402  (needs ROOT on sys.path)


@pytest.fixture(scope="session")
def cifar10():
    """The standard splits of CIFAR-10 (float32, mean subtracted).

    Skips when the data is missing, except under CI (CI=true), where a missing
    dataset must fail loudly rather than skip the real-data tests.
    """
    root = data_utils.cifar10_dir()
    if not data_utils.has_cifar10(root):
        message = f"CIFAR-10 not found in {root}; set CIFAR10_DIR or run `make data`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return data_utils.get_CIFAR10_data()


class RunsCode:
    """Unpickling this creates the file `marker` (open(marker, 'w')): any loader that
    unpickles it would run code of the file's choosing."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_fake_cifar(root, per_batch=300, seed=0):
    """A CIFAR-10-shaped folder with per_batch random images in each of the six batches."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, per_batch).tolist()}
        with open(os.path.join(root, name), "wb") as f:
            pickle.dump(batch, f)
    return str(root)


def tiny_data(m=60, d=(3, 4, 4), seed=0):
    """m random float32 examples of shape d with labels; validation and test are its first 20."""
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((m, *d)).astype(np.float32), rng.integers(10, size=m)
    return {"X_train": X, "y_train": y, "X_val": X[:20], "y_val": y[:20],
            "X_test": X[:20], "y_test": y[:20]}


def killed_and_resumed(make_solver):
    """make_solver(name, after_epoch=None) -> a Solver checkpointing under name. Trains run
    'b' until a kill (KeyboardInterrupt) right after its first epoch, then a fresh Solver of
    'b' resumes it and trains to the end; returns that resumed Solver."""
    def killed_after_one_epoch(solver):
        raise KeyboardInterrupt
    try:
        make_solver("b", killed_after_one_epoch).train()
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the kill after the first epoch did not stop training")
    resumed = make_solver("b")
    assert resumed.resume() == 1
    return resumed.train()
