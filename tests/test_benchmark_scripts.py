"""The PyTorch benchmark scripts stay outside the project: their --help runs where torch is
missing, and no project module imports torch. With the benchmark venv (make bench-torch),
the tests marked torch run the scripts' quick modes."""
import ast
import glob
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
import data_utils

SCRIPTS = ["benchmarks/airbench94_torch.py", "benchmarks/bench_torch_step.py"]
TORCH_PYTHON = os.path.join(ROOT, ".venv-torch", "bin", "python")
needs_torch_venv = pytest.mark.skipif(not os.path.isfile(TORCH_PYTHON),
                                      reason=".venv-torch missing (make bench-torch)")

# Runs a script as __main__ in an interpreter where `import torch` raises ImportError.
WITHOUT_TORCH = ("import runpy, sys; sys.modules['torch'] = None; sys.argv = sys.argv[1:]; "
                 "runpy.run_path(sys.argv[0], run_name='__main__')")


def imported_modules(path):
    """Top-level names of every module the file at path imports, anywhere in it."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_runs_without_torch(script):
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, os.path.join(ROOT, script), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout


def test_bench_torch_step_refuses_a_width_below_one_without_torch():
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, os.path.join(ROOT, SCRIPTS[1]),
                           "--widths", "8", "0", "8"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--widths" in done.stderr and "must be a positive integer, got 0" in done.stderr


def test_no_project_module_imports_torch():
    modules = sorted(glob.glob(os.path.join(ROOT, "*.py")))
    assert modules
    importers = [os.path.basename(m) for m in modules if "torch" in imported_modules(m)]
    assert importers == []


@pytest.mark.torch
@pytest.mark.slow
@needs_torch_venv
def test_airbench94_quick_writes_its_record(tmp_path):
    root = data_utils.cifar10_dir()
    if not data_utils.has_cifar10(root):
        pytest.skip(f"CIFAR-10 not found in {root}")
    out = tmp_path / "airbench.json"
    done = subprocess.run([TORCH_PYTHON, os.path.join(ROOT, SCRIPTS[0]), "--quick", "--val", "500",
                           "--data", root, "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())
    [epoch] = record["per_epoch"]
    assert epoch["epoch"] == 1 and epoch["steps"] == 10 and epoch["seconds"] > 0
    for accuracy in (epoch["val_acc"], epoch["test_acc"], record["test_acc"], record["test_acc_views"]):
        assert 0 <= accuracy <= 1
    assert record["test_acc"] == epoch["test_acc"]
    assert record["wall_seconds"] >= record["train_seconds"] > 0


@pytest.mark.torch
@needs_torch_venv
def test_bench_torch_step_quick_prints_its_table():
    done = subprocess.run([TORCH_PYTHON, os.path.join(ROOT, SCRIPTS[1]), "--quick", "--widths", "8", "16", "8"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    title, *_, last = done.stdout.strip().splitlines()
    assert "widths 8/16/8" in title
    batch, *numbers = last.split()
    assert batch == "8" and len(numbers) == 5 and all(float(n) > 0 for n in numbers)


# ---------------------------------------------------------------- plot_reference.py

def write_records(tmp_path, num_val_ours=5000, num_val_ref=5000):
    ours = {"best_model": {"val_acc_history": [0.1, 0.6, 0.8], "epoch_times_s": [60.0, 90.0],
                           "data_sizes": {"num_validation": num_val_ours},
                           "hyperparameters": {"widths": [64, 256, 256]}}}
    reference = {"args": {"val": num_val_ref, "epochs": 2.0},
                 "per_epoch": [{"epoch": 1, "seconds": 30.0, "val_acc": 0.7},
                               {"epoch": 2, "seconds": 30.0, "val_acc": 0.85}]}
    paths = tmp_path / "ours.json", tmp_path / "ref.json"
    for path, record in zip(paths, (ours, reference)):
        path.write_text(json.dumps(record))
    return [str(p) for p in paths]


def run_plot(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks/plot_reference.py"),
                           *args], capture_output=True, text=True, timeout=120)


def test_plot_reference_draws_both_curves_and_prints_them(tmp_path):
    ours, ref = write_records(tmp_path)
    done = run_plot("--ours", ours, "--reference", ref, "--out", str(tmp_path / "c.png"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "c.png").stat().st_size > 1000
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("  ")]
    # ours: epochs 0, 1, 2 at 0, 1, 2.5 minutes; the reference: epochs 1, 2 at 0.5, 1 minutes
    assert ["2", "2.5", "0.8000"] in rows and ["1", "0.5", "0.7000"] in rows
    assert ["2", "1.0", "0.8500"] in rows


def test_plot_reference_refuses_different_validation_sets_and_bad_records(tmp_path):
    ours, ref = write_records(tmp_path, num_val_ref=1000)
    done = run_plot("--ours", ours, "--reference", ref, "--out", str(tmp_path / "c.png"))
    assert done.returncode != 0 and "different validation sets" in done.stderr
    done = run_plot("--ours", ref, "--reference", ref, "--out", str(tmp_path / "c.png"))
    assert done.returncode != 0 and "not a best-model record" in done.stderr
    assert not (tmp_path / "c.png").exists()
