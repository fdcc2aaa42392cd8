"""Small stand-ins for CIFAR-10 that the tests of runs, cifar and fc_training share."""
import os
import pickle

import numpy as np


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
