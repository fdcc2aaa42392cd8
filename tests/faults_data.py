"""Bad inputs and faults of the data code: each case is tried by tests/test_fault_table.py and listed in tests/FAULTS.md."""
import io
import os
import pickle
import sys
import tarfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import data_utils  # noqa: E402
from conftest import RunsCode  # noqa: E402

PER_BATCH = 3     # images in each tiny batch: 15 training and 3 test images in all


def _batch(n=PER_BATCH, seed=0):
    rng = np.random.default_rng(seed)
    return {"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            "labels": [int(v) for v in rng.integers(10, size=n)]}


def tiny_cifar(tmp, name="cifar-10-batches-py"):
    """A CIFAR-10 folder in tmp whose six batches hold PER_BATCH images each; its path."""
    root = os.path.join(str(tmp), name)
    os.makedirs(root, exist_ok=True)
    for seed, batch_name in enumerate(data_utils.BATCH_FILES):
        with open(os.path.join(root, batch_name), "wb") as f:
            pickle.dump(_batch(seed=seed), f, protocol=2)
    return root


def _split(**kwargs):
    """get_CIFAR10_data on a tiny folder with kwargs."""
    return lambda tmp: data_utils.get_CIFAR10_data(root=tiny_cifar(tmp), **kwargs)


def _load(payload):
    """load_CIFAR_batch of a file holding payload (bytes, or an object pickled)."""
    def trial(tmp):
        path = os.path.join(str(tmp), "data_batch_1")
        with open(path, "wb") as f:
            f.write(payload if isinstance(payload, bytes) else pickle.dumps(payload, protocol=2))
        data_utils.load_CIFAR_batch(path)
    return trial


class _CallsNdarray:
    """Pickles as a direct call numpy.ndarray(*args): an array whose bytes are not in the file."""

    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return (np.ndarray, self.args)


def crafted_batch(tmp):
    marker = os.path.join(str(tmp), "ran")
    try:
        _load({"data": RunsCode(marker), "labels": []})(tmp)
    finally:
        assert not os.path.exists(marker), "the crafted batch ran code"


def missing_test_batch(tmp):
    root = tiny_cifar(tmp)
    os.remove(os.path.join(root, "test_batch"))
    data_utils.load_CIFAR10(root)


def _archive(tmp, folder, extra=None):
    """A .tar.gz of folder as cifar-10-batches-py/ (plus extra: {member name: bytes}) in tmp;
    its file:// URL and MD5."""
    path = os.path.join(str(tmp), "cifar-10-python.tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        if folder:
            tar.add(folder, arcname="cifar-10-batches-py")
        for name, payload in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return "file://" + path, data_utils.md5sum(path)


def _download(tmp, url, md5):
    return data_utils.download_CIFAR10(os.path.join(str(tmp), "out", "cifar"), url=url, md5=md5,
                                       verbose=False)


def download_wrong_md5(tmp):
    url, _ = _archive(tmp, tiny_cifar(tmp, "src"))
    _download(tmp, url, "0" * 32)


def download_without_folder(tmp):
    url, md5 = _archive(tmp, None, {"readme.txt": b"no batches here"})
    _download(tmp, url, md5)


def download_with_bad_batch(tmp):
    source = tiny_cifar(tmp, "src")
    with open(os.path.join(source, "data_batch_3"), "wb") as f:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [1, 10]}, f)
    _download(tmp, *_archive(tmp, source))


def download_escaping_member(tmp):
    url, md5 = _archive(tmp, tiny_cifar(tmp, "src"), {"../escaped.txt": b"outside"})
    try:
        _download(tmp, url, md5)
    finally:
        assert not os.path.exists(os.path.join(str(tmp), "out", "escaped.txt"))


def download_corrupt_gzip(tmp):
    url, _ = _archive(tmp, tiny_cifar(tmp, "src"))
    path = url[len("file://"):]
    with open(path, "r+b") as f:
        f.seek(40)
        f.write(b"\xff" * 64)
    _download(tmp, url, data_utils.md5sum(path))


def split_of_a_tiny_folder(tmp):
    data = data_utils.get_CIFAR10_data(10, 3, 2, root=tiny_cifar(tmp))
    sizes = "/".join(str(len(data[f"y_{s}"])) for s in ("train", "val", "test"))
    return (f"{sizes} images, dtype {data['X_train'].dtype}, training mean "
            f"{abs(float(data['X_train'].mean())):.2f}")


def download_twice(tmp):
    url, md5 = _archive(tmp, tiny_cifar(tmp, "src"))
    root = _download(tmp, url, md5)
    os.remove(url[len("file://"):])               # a second fetch would now fail
    _download(tmp, url, md5)
    return f"second call fetched nothing; {len(data_utils.load_CIFAR10(root)[1])} training images"


def failed_download_keeps_the_earlier_copy(tmp):
    target = os.path.join(str(tmp), "out", "cifar")
    os.makedirs(target)
    with open(os.path.join(target, "data_batch_1"), "wb") as f:
        f.write(b"an earlier, incomplete copy")
    try:
        download_with_bad_batch(tmp)
    except IOError as error:
        left = sorted(os.listdir(os.path.dirname(target)))
        return (f"refused ({str(error)[:40]}...); left in its folder: {left}, "
                f"{sorted(os.listdir(target))}")
    return "the bad archive was accepted"


def every_pickle_protocol_loads_the_same(tmp):
    batch = _batch(seed=4)
    loaded = []
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        path = os.path.join(str(tmp), f"b{protocol}")
        with open(path, "wb") as f:
            pickle.dump(batch, f, protocol=protocol)
        loaded.append(data_utils.load_CIFAR_batch(path))
    same = all(np.array_equal(X, loaded[0][0]) and np.array_equal(y, loaded[0][1])
               for X, y in loaded)
    return f"protocols 2..{pickle.HIGHEST_PROTOCOL}: {'the same' if same else 'NOT the same'} images"


def uint8_pixels_into_float32(tmp):
    data = data_utils.get_CIFAR10_data(5, 0, 0, subtract_mean=False, root=tiny_cifar(tmp))
    raw = _batch(seed=0)["data"][:PER_BATCH].reshape(-1, 3, 32, 32)
    exact = np.array_equal(data["X_train"][:PER_BATCH], raw.astype(np.float32))
    return f"pixels {'exact' if exact else 'NOT exact'} in {data['X_train'].dtype}"


ZERO = np.zeros((2, 3072), np.uint8)
CASES = [  # (class, what is tried, trial, words the outcome must contain)
    ("silent wrong answer", "get_CIFAR10_data(num_training=True)", _split(num_training=True),
     "ValueError: num_training must be a non-negative integer, got True"),
    ("silent wrong answer", "num_validation=False", _split(num_validation=False),
     "num_validation must be a non-negative integer, got False"),
    ("silent wrong answer", "num_test=np.True_", _split(num_test=np.True_), "num_test must be"),
    ("obscure error", "num_training=2.5", _split(num_training=2.5), "num_training .* got 2.5"),
    ("obscure error", "num_training='100'", _split(num_training="100"), "num_training .* '100'"),
    ("silent wrong answer", "num_training=-1", _split(num_training=-1), "num_training .* -1"),
    ("silent wrong answer", "num_training=0 (mean of no images)", _split(num_training=0),
     "num_training must be positive"),
    ("silent wrong answer", "dtype=np.uint8 (mean-subtracted pixels wrap)", _split(dtype=np.uint8),
     "dtype must be a real floating dtype, got uint8"),
    ("silent wrong answer", "dtype=np.int64", _split(dtype=np.int64), "dtype .* int64"),
    ("silent wrong answer", "dtype=np.complex64", _split(dtype=np.complex64), "dtype .* complex64"),
    ("obscure error", "dtype='pixels'", _split(dtype="pixels"), "dtype must be a floating dtype"),
    ("silent wrong answer", "subtract_mean='no'", _split(subtract_mean="no"),
     "subtract_mean must be True or False, got 'no'"),
    ("silent wrong answer", "num_training=49500, num_validation=1000",
     _split(num_training=49500, num_validation=1000), "50000"),
    ("silent wrong answer", "num_test=10001", _split(num_test=10001), "num_test = 10001"),
    ("silent wrong answer", "49,000 / 1,000 asked of batches holding 3 images each",
     _split(num_training=49000, num_validation=1000), "hold 15 images; .* = 50000"),
    ("silent wrong answer", "num_test=5 of a test batch holding 3", _split(num_training=1, num_validation=0, num_test=5),
     "holds 3 images; asked for num_test = 5"),
    ("obscure error", "batch whose 'data' is (2, 100)",
     _load({"data": np.zeros((2, 100), np.uint8), "labels": [1, 2]}), "\\(N, 3072\\) uint8, got uint8"),
    ("silent wrong answer", "batch whose 'data' is int64",
     _load({"data": np.zeros((2, 3072), np.int64), "labels": [1, 2]}), "got int64"),
    ("obscure error", "batch whose 'data' is 1-d", _load({"data": np.zeros(3072, np.uint8),
                                                          "labels": [1]}), "of shape \\(3072,\\)"),
    ("silent wrong answer", "2 images with 3 labels", _load({"data": ZERO, "labels": [1, 2, 3]}),
     "'labels' must be 2 integers"),
    ("silent wrong answer", "label 10 in a batch", _load({"data": ZERO, "labels": [1, 10]}),
     "labels must be in 0..9"),
    ("silent wrong answer", "label -1 in a batch", _load({"data": ZERO, "labels": [-1, 2]}),
     "labels must be in 0..9, got -1"),
    ("silent wrong answer", "float labels", _load({"data": ZERO, "labels": [1.5, 2.0]}),
     "integers, one per image, got float64"),
    ("obscure error", "labels given as a string", _load({"data": ZERO, "labels": "12"}),
     "'labels' must be a list"),
    ("obscure error", "a list pickled as a batch", _load([ZERO, [1, 2]]), "'data' and 'labels'"),
    ("obscure error", "truncated batch file", _load(pickle.dumps({"data": ZERO, "labels": [1, 2]})[:-40]),
     "not a readable"),
    ("obscure error", "text file as a batch", _load(b"this is a text file\n"), "not a readable"),
    ("obscure error", "empty batch file", _load(b""), "not a readable"),
    ("code execution", "batch pickle crafted to run code", crafted_batch, "refusing"),
    ("silent wrong answer", "20 KB pickle calling numpy.ndarray((10000, 3072)): 10,000 images",
     _load({"data": _CallsNdarray((10000, 3072), np.dtype("u1")), "labels": [3] * 10000}),
     "calls numpy.ndarray directly"),
    ("silent wrong answer", "one byte repeated by zero strides as 10,000 images",
     _load({"data": _CallsNdarray((10000, 3072), np.dtype("u1"), b"\x07", 0, (0, 0)),
            "labels": [3] * 10000}), "calls numpy.ndarray directly"),
    ("obscure error", "a folder without test_batch", missing_test_batch,
     "FileNotFoundError: .*missing test_batch.*download"),
    ("silent wrong answer", "download whose MD5 differs", download_wrong_md5, "MD5 .* expected 0{32}"),
    ("obscure error", "download without cifar-10-batches-py/", download_without_folder,
     "no cifar-10-batches-py/ folder"),
    ("silent wrong answer", "download holding a batch with label 10", download_with_bad_batch,
     "holds a bad batch data_batch_3: labels must be in 0..9"),
    ("code execution", "download with a member '../escaped.txt'", download_escaping_member,
     "cannot be unpacked safely"),
    ("obscure error", "download of a corrupt gzip (MD5 given for it)", download_corrupt_gzip,
     "cannot be unpacked safely"),
    # faults that must not raise: what they give is measured
    ("silent wrong answer", "a 10/3/2 split of a tiny folder", split_of_a_tiny_folder,
     "^10/3/2 images, dtype float32, training mean 0.00$"),
    ("silent wrong answer", "uint8 pixels read into float32", uint8_pixels_into_float32,
     "pixels exact in float32"),
    ("silent wrong answer", "batches pickled with every protocol", every_pickle_protocol_loads_the_same,
     "the same images"),
    ("lost progress", "download run twice", download_twice,
     "second call fetched nothing; 15 training images"),
    ("lost progress", "a bad download over an earlier incomplete copy",
     failed_download_keeps_the_earlier_copy,
     "refused .*left in its folder: \\['cifar'\\], \\['data_batch_1'\\]$"),
]
