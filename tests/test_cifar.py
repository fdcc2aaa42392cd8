"""cifar.py: the splits in quick mode, which copy of the data was read, subsets, scaling."""
import os

import numpy as np
import pytest
from conftest import tiny_data, write_fake_cifar

import cifar


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    root = write_fake_cifar(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv("CIFAR10_DIR", root)
    return root


def test_quick_mode_loads_small_splits(fake_cifar, monkeypatch):
    monkeypatch.setenv("HW5_QUICK", "1")
    data = cifar.load_data()
    assert {k: v.shape[0] for k, v in data.items()} == {
        "X_train": 1000, "y_train": 1000, "X_val": 200, "y_val": 200,
        "X_test": 200, "y_test": 200}


def test_describe_dataset_tells_official_files_from_others(fake_cifar, monkeypatch):
    assert "NOT the official" in cifar.describe_dataset()
    assert cifar.dataset_label() == "CIFAR-10 (JPEG-q75 course copy)"
    monkeypatch.setattr(cifar, "md5sum", lambda path: cifar.OFFICIAL_MD5[os.path.basename(path)])
    assert "the official CIFAR-10 files" in cifar.describe_dataset()
    assert cifar.dataset_label() == "CIFAR-10 (official)"


def test_describe_dataset_mentions_a_jpeg_readme(tmp_path, monkeypatch):
    root = write_fake_cifar(tmp_path / "datasets" / "cifar-10-batches-py", per_batch=2)
    (tmp_path / "datasets" / "README.md").write_text("Built from a JPEG re-encoding.")
    monkeypatch.setenv("CIFAR10_DIR", root)
    assert "JPEG" in cifar.describe_dataset()


def test_describe_dataset_shows_no_absolute_path(fake_cifar):
    assert not os.path.isabs(cifar.describe_dataset().split(":")[0])


def test_standardize_gives_unit_variance_training_images():
    data = tiny_data()
    data["X_train"] = 50 * data["X_train"]
    scaled, std = cifar.standardize(data)
    assert scaled["X_train"].std() == pytest.approx(1, rel=1e-5)
    assert std == pytest.approx(float(data["X_train"].std()))
    assert scaled["X_val"].dtype == np.float32 and scaled["y_val"] is data["y_val"]


def test_sample_images_are_raw_uint8(fake_cifar):
    images = cifar.sample_images(3, seed=1)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8


def test_subset_keeps_validation_and_test():
    data = tiny_data()
    small = cifar.subset(data, 7)
    assert small["X_train"].shape[0] == 7 and small["y_train"].shape == (7,)
    assert small["X_val"] is data["X_val"] and small["X_test"] is data["X_test"]
