"""data_utils.py on batches the tests write themselves, a locally served archive, and
(when present) the real CIFAR-10 copy."""
import functools
import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading

import numpy as np
import pytest

import data_utils
from conftest import RunsCode


def write_batch(path, n, seed):
    """A batch in the official format: 'data' (n, 3072) uint8, R, G, B planes, and 'labels'."""
    rng = np.random.default_rng(seed)
    batch = {"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
             "labels": [int(v) for v in rng.integers(10, size=n)],
             "batch_label": "fake", "filenames": [f"img{i}.png" for i in range(n)]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
    return batch


@pytest.fixture
def fake_cifar(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    batches = {name: write_batch(root / name, 6, seed)
               for seed, name in enumerate(data_utils.BATCH_FILES)}
    return root, batches


def test_load_batch_lays_out_rgb_planes(fake_cifar):
    root, batches = fake_cifar
    X, y = data_utils.load_CIFAR_batch(root / "data_batch_1")
    raw = batches["data_batch_1"]["data"]
    assert X.shape == (6, 32, 32, 3) and y.shape == (6,)
    # pixel (row 2, col 5) of image 3: R at 2*32+5, G at 1024 + that, B at 2048 + that
    np.testing.assert_array_equal(X[3, 2, 5], raw[3, [69, 1024 + 69, 2048 + 69]])
    np.testing.assert_array_equal(y, batches["data_batch_1"]["labels"])


def test_get_data_splits_and_subtracts_the_training_mean(fake_cifar):
    root, batches = fake_cifar
    data = data_utils.get_CIFAR10_data(num_training=20, num_validation=5, num_test=4,
                                       root=str(root))
    assert data["X_train"].shape == (20, 3, 32, 32) and data["X_train"].dtype == np.float32
    assert data["X_val"].shape == (5, 3, 32, 32) and data["X_test"].shape == (4, 3, 32, 32)
    np.testing.assert_allclose(data["X_train"].mean(axis=0), 0, atol=1e-4)
    raw = np.concatenate([batches[f"data_batch_{i}"]["data"] for i in range(1, 6)])
    images = raw.reshape(-1, 3, 32, 32).astype(np.float64)
    mean = images[:20].mean(axis=0)
    np.testing.assert_allclose(data["X_val"], images[20:25] - mean, atol=1e-4)
    np.testing.assert_array_equal(data["y_val"],
                                  (batches["data_batch_4"]["labels"] + batches["data_batch_5"]["labels"])[2:7])
    raw_test = batches["test_batch"]["data"][:4].reshape(-1, 3, 32, 32)
    np.testing.assert_allclose(data["X_test"], raw_test - mean, atol=1e-4)


def test_environment_variable_and_argument_precedence(fake_cifar, monkeypatch, tmp_path):
    root, _ = fake_cifar
    monkeypatch.setenv("CIFAR10_DIR", str(root))
    assert data_utils.cifar10_dir() == str(root)
    assert data_utils.load_CIFAR10()[0].shape == (30, 32, 32, 3)
    assert data_utils.cifar10_dir("elsewhere") == "elsewhere"
    monkeypatch.delenv("CIFAR10_DIR")
    assert data_utils.cifar10_dir() == data_utils.DEFAULT_DIR


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data_batch_1.*data_utils.py download.*CIFAR10_DIR"):
        data_utils.load_CIFAR10(str(tmp_path / "nowhere"))


def test_bad_split_sizes_are_named(fake_cifar):
    root, _ = fake_cifar
    with pytest.raises(ValueError, match="num_training"):
        data_utils.get_CIFAR10_data(num_training=-1, root=str(root))
    with pytest.raises(ValueError, match="50000"):
        data_utils.get_CIFAR10_data(num_training=49500, num_validation=1000, root=str(root))


def test_no_training_images_is_refused(fake_cifar):
    root, _ = fake_cifar
    with pytest.raises(ValueError, match="num_training must be positive"):
        data_utils.get_CIFAR10_data(num_training=0, root=str(root))


def _write(path, payload):
    with open(path, "wb") as f:
        f.write(payload)
    return str(path)


@pytest.mark.parametrize("make, words", [
    (lambda tmp: _write(tmp / "b", pickle.dumps({"data": 1, "labels": []})[:-5]), "not a readable"),
    (lambda tmp: _write(tmp / "b", b"this is a text file\n"), "not a readable"),
    (lambda tmp: _write(tmp / "b", pickle.dumps({"labels": [1]})), "'data' and 'labels'"),
    (lambda tmp: _write(tmp / "b", pickle.dumps({"data": np.zeros((2, 3072), np.uint8),
                                                  "labels": [1, 10]})), "labels must be in 0..9"),
    (lambda tmp: _write(tmp / "b", pickle.dumps({"data": np.zeros((2, 100), np.uint8),
                                                  "labels": [1, 2]})), "\\(N, 3072\\) uint8"),
])
def test_bad_batch_files_are_named_with_the_problem(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(ValueError, match=words) as error:
        data_utils.load_CIFAR_batch(path)
    assert path in str(error.value)


def test_a_crafted_batch_cannot_run_code(tmp_path):
    marker = tmp_path / "ran"
    path = _write(tmp_path / "data_batch_1", pickle.dumps({"data": RunsCode(str(marker)),
                                                           "labels": []}))
    with pytest.raises(ValueError, match="names [a-z]+\\.open.*refusing"):
        data_utils.load_CIFAR_batch(path)
    assert not marker.exists()


def test_batches_pickled_by_numpy_2_and_protocol_2_load(tmp_path):
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        path = _write(tmp_path / f"b{protocol}", pickle.dumps(
            {"data": np.full((3, 3072), 7, np.uint8), "labels": [0, 9, 3],
             "batch_label": b"x", "filenames": [b"a.png"] * 3}, protocol=protocol))
        X, y = data_utils.load_CIFAR_batch(path)
        assert X.shape == (3, 32, 32, 3) and y.tolist() == [0, 9, 3]


# ------------------------------------------------------------------ download

def make_archive(source_root):
    """The official archive's layout, gzipped in memory: cifar-10-batches-py/<batches>."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(source_root, arcname="cifar-10-batches-py")
    return buffer.getvalue()


@pytest.fixture
def archive_server(fake_cifar, tmp_path):
    """Serves the archive on 127.0.0.1; yields (url, md5, request log)."""
    root, _ = fake_cifar
    served = tmp_path / "served"
    served.mkdir()
    payload = make_archive(root)
    (served / "cifar-10-python.tar.gz").write_bytes(payload)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/cifar-10-python.tar.gz"
    yield url, hashlib.md5(payload).hexdigest(), requests
    server.shutdown()
    server.server_close()


def test_download_checks_md5_unpacks_and_is_idempotent(archive_server, fake_cifar, tmp_path):
    url, md5, requests = archive_server
    target = tmp_path / "data" / "cifar"
    data_utils.download_CIFAR10(str(target), url=url, md5=md5, verbose=False)
    for name in data_utils.BATCH_FILES:
        assert (target / name).read_bytes() == (fake_cifar[0] / name).read_bytes()
    assert len(requests) == 1
    data_utils.download_CIFAR10(str(target), url=url, md5=md5, verbose=False)
    assert len(requests) == 1  # already there: nothing fetched
    assert os.listdir(target.parent) == ["cifar"]  # no temporary files left


def test_download_refuses_a_wrong_checksum_and_leaves_nothing(archive_server, tmp_path):
    url, _, _ = archive_server
    target = tmp_path / "data" / "cifar"
    with pytest.raises(IOError, match="MD5"):
        data_utils.download_CIFAR10(str(target), url=url, md5="0" * 32, verbose=False)
    assert not target.exists() and os.listdir(target.parent) == []


def test_download_command_line(archive_server, tmp_path, capsys):
    url, md5, _ = archive_server
    target = tmp_path / "cli"
    data_utils.main(["download", "--dir", str(target), "--url", url, "--md5", md5])
    assert data_utils.has_cifar10(str(target))
    assert "CIFAR-10 ready" in capsys.readouterr().out


def test_official_constants():
    assert data_utils.CIFAR10_URL == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert data_utils.CIFAR10_MD5 == "c58f30108f718f92721af3b95e74349a"


# ----------------------------------------------------------------- real data

@pytest.mark.slow
def test_real_cifar10_splits(cifar10):
    shapes = {k: v.shape for k, v in cifar10.items()}
    assert shapes == {"X_train": (49000, 3, 32, 32), "y_train": (49000,),
                      "X_val": (1000, 3, 32, 32), "y_val": (1000,),
                      "X_test": (1000, 3, 32, 32), "y_test": (1000,)}
    assert abs(float(cifar10["X_train"].mean())) < 1e-2
    assert np.bincount(cifar10["y_train"], minlength=10).min() > 4000


def test_arrays_must_be_contiguous_and_fit_in_the_file_they_came_from():
    batch = {"data": np.zeros((10, 3072), np.uint8), "labels": [0] * 10}
    assert data_utils._batch_problem(batch, file_size=10 * 3072 + 100) is None
    assert "claims 10 images (30720 bytes) but the file holds 3000 bytes" in \
        data_utils._batch_problem(batch, file_size=3000)
    strided = np.lib.stride_tricks.as_strided(np.zeros(3072, np.uint8), (10, 3072), (0, 1))
    assert "not in the file" in data_utils._batch_problem(dict(batch, data=strided), 10 ** 6)
    assert "not in the file" in data_utils._batch_problem(
        dict(batch, labels=np.zeros(10, np.int64)), 10 * 3072 + 40)    # 80 bytes of labels
