"""CIFAR-10: find it, download it, load it, split it.

Where the data lives, in order of precedence: an explicit `root` argument,
else the environment variable CIFAR10_DIR, else datasets/cifar-10-batches-py
next to this file. `python data_utils.py download` fetches the official
archive there (or to --dir), checks its MD5 and unpacks it; it does nothing
when the data is already in place.
"""
import argparse
import hashlib
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.request

import numpy as np

from validate import float_dtype, nonnegative_int, require

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
BATCH_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "datasets", "cifar-10-batches-py")
CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def cifar10_dir(root=None):
    """The CIFAR-10 folder to use: root, else $CIFAR10_DIR, else DEFAULT_DIR."""
    return root or os.environ.get("CIFAR10_DIR") or DEFAULT_DIR


def has_cifar10(root):
    return all(os.path.isfile(os.path.join(root, name)) for name in BATCH_FILES)


# What a CIFAR-10 batch pickle may name: NumPy's array reconstruction (old and new module
# paths, protocols 2 to 5) and the codec Python 3 pickles use for bytes. Anything else, e.g. os.system in a
# crafted file, is refused before it can run.
SAFE_GLOBALS = {("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _PickledArray(np.ndarray):
    """What a batch pickle gets for numpy.ndarray. NumPy's pickles name it only as the type
    _reconstruct builds (from the file's bytes: allowed); a pickle that calls it directly
    gets uninitialised memory, or one byte repeated by zero strides, and is refused."""

    def __new__(cls, *args, **kwargs):
        raise pickle.UnpicklingError("it calls numpy.ndarray directly (arrays whose pixels "
                                     "are not in the file); refusing to load it")


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds only the types a CIFAR-10 batch holds."""

    def find_class(self, module, name):
        if (module, name) == ("numpy", "ndarray"):
            return _PickledArray
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch never "
                                     f"holds; refusing to load it")


def read_batch(filename):
    """One pickled batch, checked: (data (N, 3072) uint8, labels (N,) int64), N >= 0.

    Loaded with a restricted unpickler (no code runs); a file that is not a CIFAR-10
    batch (truncated, another pickle, text, or arrays whose pixels are not in the file)
    raises ValueError naming it and the problem.
    """
    try:
        with open(filename, "rb") as f:
            batch = _BatchUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, UnicodeDecodeError, MemoryError) as error:
        reason = error or type(error).__name__
        raise ValueError(f"{filename} is not a readable CIFAR-10 batch: {reason}") from None
    problem = _batch_problem(batch, os.path.getsize(filename))
    if problem:
        raise ValueError(f"{filename} is not a CIFAR-10 batch: {problem}")
    return (np.asarray(batch["data"]).view(np.ndarray),
            np.asarray(batch["labels"]).view(np.ndarray).astype(np.int64))


def load_CIFAR_batch(filename):
    """One pickled batch: X of shape (N, 32, 32, 3) float32 in [0, 255], y of shape (N,) int64.

    The file is checked as read_batch checks it.
    """
    data, labels = read_batch(filename)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32), labels


def _batch_problem(batch, file_size):
    """What is wrong with an unpickled batch read from a file of file_size bytes, or None
    when it is a CIFAR-10 batch.

    The pickle opcodes the unpickler allows can still call numpy.ndarray(shape, dtype,
    buffer, offset, strides) directly: a 40 KB file can then claim 10,000 images of
    uninitialised memory, or one byte repeated by zero strides. So the arrays must be
    contiguous and their bytes must fit in the file they came from.
    """
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        return "expected a dict with 'data' and 'labels'"
    data, labels = batch["data"], batch["labels"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3072):
        described = (f"{data.dtype} of shape {data.shape}" if isinstance(data, np.ndarray)
                     else type(data).__name__)
        return f"'data' must be (N, 3072) uint8, got {described}"
    if not isinstance(labels, (list, np.ndarray)):
        return f"'labels' must be a list of integers, got {type(labels).__name__}"
    stored = data.nbytes + (labels.nbytes if isinstance(labels, np.ndarray) else 0)
    if not data.flags.c_contiguous or stored > file_size:
        return (f"'data' claims {len(data)} images ({data.nbytes} bytes) but the file holds "
                f"{file_size} bytes: its pixels are not in the file")
    labels = np.asarray(labels)
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        return (f"'labels' must be {len(data)} integers, one per image, got "
                f"{labels.dtype} of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        return f"labels must be in 0..{len(CLASSES) - 1}, got {labels.min()}..{labels.max()}"
    return None


def load_CIFAR10(root=None):
    """All of CIFAR-10 as (X_train, y_train, X_test, y_test), images (N, 32, 32, 3).

    Raises FileNotFoundError saying how to get the data when it is missing.
    """
    root = cifar10_dir(root)
    if not has_cifar10(root):
        missing = [name for name in BATCH_FILES if not os.path.isfile(os.path.join(root, name))]
        raise FileNotFoundError(
            f"CIFAR-10 not found in {root!r} (missing {', '.join(missing)}). "
            f"Download it with `python data_utils.py download --dir {root}` (or `make data`), "
            f"or point CIFAR10_DIR (or the root argument) at a folder holding "
            f"data_batch_1..5 and test_batch from {CIFAR10_URL}")
    train = [load_CIFAR_batch(os.path.join(root, name)) for name in BATCH_FILES[:-1]]
    X_test, y_test = load_CIFAR_batch(os.path.join(root, "test_batch"))
    return (np.concatenate([X for X, _ in train]), np.concatenate([y for _, y in train]),
            X_test, y_test)


def get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000,
                     subtract_mean=True, root=None, dtype=np.float32):
    """Train/validation/test splits ready for the networks.

    The validation set is the num_validation training images after the first
    num_training; the test set is the first num_test official test images.
    With subtract_mean, the mean training image is subtracted from every split.
    Returns a dict of X_train, y_train, X_val, y_val, X_test, y_test with images
    as (N, 3, 32, 32) arrays of dtype (a floating type: mean-subtracted pixels are
    negative) and labels as (N,) int64. Sizes beyond what the batches in root hold
    raise ValueError naming both (a split is never silently shorter than asked).
    """
    num_training, num_validation, num_test = _split_sizes(num_training, num_validation, num_test)
    require(isinstance(subtract_mean, (bool, np.bool_)),
            f"subtract_mean must be True or False, got {subtract_mean!r}")
    dtype = float_dtype("dtype", dtype)
    X_train, y_train, X_test, y_test = load_CIFAR10(root)
    _check_sizes_exist(num_training, num_validation, num_test, len(X_train), len(X_test),
                       cifar10_dir(root))
    splits = {
        "train": (X_train[:num_training], y_train[:num_training]),
        "val": (X_train[num_training:num_training + num_validation],
                y_train[num_training:num_training + num_validation]),
        "test": (X_test[:num_test], y_test[:num_test]),
    }
    mean_image = splits["train"][0].mean(axis=0, dtype=np.float64) if subtract_mean else 0
    data = {}
    for split, (X, y) in splits.items():
        data[f"X_{split}"] = (X - mean_image).transpose(0, 3, 1, 2).astype(dtype)
        data[f"y_{split}"] = y.copy()
    return data


def _split_sizes(num_training, num_validation, num_test):
    """The three sizes as ints, checked before any file is read: non-negative integers
    (bools refused: True would ask for one image), at least one training image, and no
    more than CIFAR-10 holds (50,000 training and 10,000 test images)."""
    num_training = nonnegative_int("num_training", num_training)
    num_validation = nonnegative_int("num_validation", num_validation)
    num_test = nonnegative_int("num_test", num_test)
    require(num_training > 0, "num_training must be positive: the mean image subtracted from "
                              "every split is taken over the training images, got 0")
    require(num_training + num_validation <= 50000 and num_test <= 10000,
            f"CIFAR-10 has 50000 training and 10000 test images; asked for num_training + "
            f"num_validation = {num_training + num_validation} and num_test = {num_test}")
    return num_training, num_validation, num_test


def _check_sizes_exist(num_training, num_validation, num_test, have_train, have_test, root):
    """ValueError unless the batches read hold the images asked for (batches with fewer
    images than the official 10,000 would otherwise give shorter splits without a word)."""
    require(num_training + num_validation <= have_train,
            f"the training batches in {root} hold {have_train} images; asked for "
            f"num_training + num_validation = {num_training} + {num_validation} = "
            f"{num_training + num_validation}")
    require(num_test <= have_test,
            f"the test batch in {root} holds {have_test} images; asked for num_test = {num_test}")


# ------------------------------------------------------------------ download

def md5sum(path, chunk=1 << 20):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url, path, verbose):
    """Stream url to path, printing progress."""
    with urllib.request.urlopen(url) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)
            done += len(block)
            if verbose:
                size = f" / {total / 1e6:.1f}" if total else ""
                print(f"\r  {done / 1e6:.1f}{size} MB", end="", file=sys.stderr, flush=True)
    if verbose:
        print(file=sys.stderr)


def download_CIFAR10(root=None, url=CIFAR10_URL, md5=CIFAR10_MD5, verbose=True):
    """Make root (default: cifar10_dir()) hold CIFAR-10; return root.

    Does nothing when the batches are already there. Otherwise downloads url,
    refuses it unless its MD5 is md5, and unpacks its cifar-10-batches-py/
    folder into root. Nothing is left behind on failure.
    """
    root = os.path.abspath(cifar10_dir(root))
    if has_cifar10(root):
        if verbose:
            print(f"CIFAR-10 already in {root}")
        return root
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".cifar10-") as tmp:
        archive = os.path.join(tmp, "cifar-10-python.tar.gz")
        if verbose:
            print(f"Downloading {url}", file=sys.stderr)
        _fetch(url, archive, verbose)
        actual = md5sum(archive)
        if actual != md5:
            raise IOError(f"MD5 of the download from {url} is {actual}, expected {md5}: "
                          f"the file is corrupt or not the CIFAR-10 python archive")
        _unpack(archive, tmp, url)
        unpacked = os.path.join(tmp, "cifar-10-batches-py")
        _check_unpacked(unpacked, url)
        if os.path.isdir(root):
            shutil.rmtree(root)  # an incomplete earlier copy
        os.replace(unpacked, root)
    if verbose:
        print(f"CIFAR-10 ready in {root}")
    return root


def _unpack(archive, folder, url):
    """Unpack the gzipped tar archive into folder; members that would land outside it,
    links and devices are refused (tarfile's 'data' filter), as IOError naming url."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(folder, filter="data")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise IOError(f"the archive from {url} cannot be unpacked safely: {error}") from None


def _check_unpacked(unpacked, url):
    """IOError unless unpacked holds every batch file and each is a CIFAR-10 batch (a
    download is checked before it replaces anything)."""
    if not has_cifar10(unpacked):
        raise IOError(f"the archive from {url} has no cifar-10-batches-py/ folder with "
                      f"{', '.join(BATCH_FILES)}")
    for name in BATCH_FILES:
        try:
            read_batch(os.path.join(unpacked, name))
        except ValueError as error:
            raise IOError(f"the archive from {url} holds a bad batch {name}: "
                          f"{str(error).split(': ', 1)[-1]}") from None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    download = commands.add_parser("download", help="fetch and unpack CIFAR-10 if missing")
    download.add_argument("--dir", default=None,
                          help="target folder (default: $CIFAR10_DIR or datasets/cifar-10-batches-py)")
    download.add_argument("--url", default=CIFAR10_URL)
    download.add_argument("--md5", default=CIFAR10_MD5)
    args = parser.parse_args(argv)
    download_CIFAR10(args.dir, url=args.url, md5=args.md5)


if __name__ == "__main__":
    main()
