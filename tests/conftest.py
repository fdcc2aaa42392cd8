"""Shared fixtures: the flat modules on sys.path, and CIFAR-10 when it is available."""
import os
import sys

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
