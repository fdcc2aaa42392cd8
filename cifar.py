"""The CIFAR-10 splits the notebooks train on, and which copy of the data they came from.

load_data gives the mean-subtracted splits (smaller in quick mode); subset and
standardize derive the variants the notebooks train on; describe_dataset and
dataset_label tell the official files (MD5 checked) from any other copy, such as
the course's JPEG re-encoding.
"""
import os

import numpy as np

from data_utils import BATCH_FILES, cifar10_dir, get_CIFAR10_data, load_CIFAR_batch, md5sum
from runs import pick, shown_path

# MD5 of the files of the official CIFAR-10 python archive, to tell that copy
# from any other (e.g. the course's JPEG re-encoding).
OFFICIAL_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
DATA_SIZES = dict(num_training=49000, num_validation=1000, num_test=1000)
QUICK_DATA_SIZES = dict(num_training=1000, num_validation=200, num_test=200)


def load_data(root=None):
    """The CIFAR-10 splits (mean subtracted, (N, 3, 32, 32) float32), smaller in quick mode."""
    return get_CIFAR10_data(**pick(DATA_SIZES, QUICK_DATA_SIZES), root=root)


def is_official(root=None):
    """True when every file of the CIFAR-10 folder has the official archive's MD5."""
    root = cifar10_dir(root)
    return all(md5sum(os.path.join(root, name)) == OFFICIAL_MD5[name] for name in BATCH_FILES)


def describe_dataset(root=None):
    """One line naming the CIFAR-10 folder and whether its files are the official ones."""
    root = os.path.abspath(cifar10_dir(root))
    if is_official(root):
        return f"{shown_path(root)}: the official CIFAR-10 files (MD5 checked)"
    note = ""
    readme = os.path.join(os.path.dirname(root), "README.md")
    if os.path.isfile(readme) and "JPEG" in open(readme, encoding="utf-8").read():
        note = (" It is the course copy re-encoded as JPEG (quality 75, see "
                f"{shown_path(readme)}); accuracies can run a little below the official data's.")
    return f"{shown_path(root)}: NOT the official CIFAR-10 files (MD5 differs).{note}"


def dataset_label(root=None):
    """'CIFAR-10 (official)' or 'CIFAR-10 (JPEG-q75 course copy)', for the results file."""
    return "CIFAR-10 (official)" if is_official(root) else "CIFAR-10 (JPEG-q75 course copy)"


def subset(data, num_train):
    """data with only its first num_train training images (validation and test unchanged)."""
    return dict(data, X_train=data["X_train"][:num_train], y_train=data["y_train"][:num_train])


def standardize(data):
    """Divide every image split by the training images' standard deviation.

    The loader subtracts the mean image but leaves the pixel scale (std ~ 60),
    while He initialisation assumes inputs of unit variance. Returns (data, std).
    """
    std = float(data["X_train"].std())
    return {k: (v / np.float32(std) if k.startswith("X_") else v) for k, v in data.items()}, std


def sample_images(n=2, seed=0, root=None):
    """n raw test images, (n, 32, 32, 3) uint8, chosen at random with the seed."""
    X, _ = load_CIFAR_batch(os.path.join(cifar10_dir(root), "test_batch"))
    chosen = np.random.default_rng(seed).choice(len(X), n, replace=False)
    return X[chosen].astype(np.uint8)
