"""experiments.py: quick mode, results file, checkpoint resume, search, augmentation, and the
main job's model on the real CIFAR-10 copy."""
import json
import os
import pickle

import numpy as np
import pytest

import experiments
from experiments import TWO_LAYER, main, train_two_layer
from fc_net import FullyConnectedNet
from solver import Solver


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


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    root = write_fake_cifar(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv("CIFAR10_DIR", root)
    return root


@pytest.fixture
def quick(monkeypatch, tmp_path):
    monkeypatch.setenv("HW5_QUICK", "1")
    monkeypatch.setenv("HW5_RESULTS", str(tmp_path / "results.json"))


def tiny_data(m=60, d=(3, 4, 4), seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((m, *d)).astype(np.float32), rng.integers(10, size=m)
    return {"X_train": X, "y_train": y, "X_val": X[:20], "y_val": y[:20],
            "X_test": X[:20], "y_test": y[:20]}


# ---------------------------------------------------------------- mode, data

@pytest.mark.parametrize("value, expected", [(None, False), ("", False), ("0", False),
                                             ("1", True), ("yes", True)])
def test_quick_mode_follows_the_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("HW5_QUICK", raising=False)
    else:
        monkeypatch.setenv("HW5_QUICK", value)
    assert experiments.quick_mode() is expected
    assert experiments.pick("full", "quick") == ("quick" if expected else "full")


def test_quick_mode_loads_small_splits(fake_cifar, quick):
    data = experiments.load_data()
    assert {k: v.shape[0] for k, v in data.items()} == {
        "X_train": 1000, "y_train": 1000, "X_val": 200, "y_val": 200,
        "X_test": 200, "y_test": 200}


def test_describe_dataset_tells_official_files_from_others(fake_cifar, monkeypatch):
    assert "NOT the official" in experiments.describe_dataset()
    monkeypatch.setattr(experiments, "md5sum", lambda path: experiments.OFFICIAL_MD5[
        os.path.basename(path)])
    assert "the official CIFAR-10 files" in experiments.describe_dataset()


def test_describe_dataset_mentions_a_jpeg_readme(tmp_path, monkeypatch):
    root = write_fake_cifar(tmp_path / "datasets" / "cifar-10-batches-py", per_batch=2)
    (tmp_path / "datasets" / "README.md").write_text("Built from a JPEG re-encoding.")
    monkeypatch.setenv("CIFAR10_DIR", root)
    assert "JPEG" in experiments.describe_dataset()


def test_standardize_gives_unit_variance_training_images():
    data = tiny_data()
    data["X_train"] = 50 * data["X_train"]
    scaled, std = experiments.standardize(data)
    assert scaled["X_train"].std() == pytest.approx(1, rel=1e-5)
    assert std == pytest.approx(float(data["X_train"].std()))
    assert scaled["X_val"].dtype == np.float32 and scaled["y_val"] is data["y_val"]


def test_sample_images_are_raw_uint8(fake_cifar):
    images = experiments.sample_images(3, seed=1)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8


# -------------------------------------------------------------- results file

def test_results_path_by_mode(monkeypatch):
    monkeypatch.delenv("HW5_RESULTS", raising=False)
    monkeypatch.setenv("HW5_QUICK", "0")
    assert experiments.results_path() == os.path.join(experiments.ROOT, "results", "results.json")
    monkeypatch.setenv("HW5_QUICK", "1")
    assert experiments.results_path() == os.path.join(experiments.ROOT, "runs", "quick",
                                                      "results.json")
    monkeypatch.setenv("HW5_RESULTS", "/elsewhere/r.json")
    assert experiments.results_path() == "/elsewhere/r.json"


def test_record_result_merges_keys_and_adds_meta(tmp_path, fake_cifar):
    path = str(tmp_path / "sub" / "results.json")
    experiments.record_result("two_layer", {"val_acc": 0.5}, path)
    experiments.record_result("fc_best", {"val_acc": 0.6}, path)
    experiments.record_result("two_layer", {"val_acc": 0.55}, path)
    with open(path) as f:
        results = json.load(f)
    assert results["two_layer"] == {"val_acc": 0.55} and results["fc_best"] == {"val_acc": 0.6}
    assert {"date", "device", "git_commit", "data", "mode"} <= set(results["meta"])


def trained_solver(data, **kwargs):
    net = FullyConnectedNet([5], input_dim=48, rng=0)
    settings = dict(update_rule="adam", optim_config={"learning_rate": 1e-3}, num_epochs=1,
                    batch_size=20, verbose=False, seed=0)
    return Solver(net, data, **{**settings, **kwargs}).train()


def test_result_entry_has_the_writeup_fields():
    data = tiny_data()
    solver = trained_solver(data)
    entry = experiments.result_entry(solver, data, {"hidden_dims": (5,), "reg": 0.0})
    assert set(entry) == {"train_acc", "val_acc", "test_acc", "wall_time_s", "hyperparameters"}
    assert all(0 <= entry[k] <= 1 for k in ("train_acc", "val_acc", "test_acc"))
    assert entry["hyperparameters"] == {"hidden_dims": [5], "reg": 0.0, "update_rule": "adam",
                                        "learning_rate": 1e-3, "lr_decay": 1.0,
                                        "num_epochs": 1, "batch_size": 20}
    json.dumps(entry)


def test_result_entry_times_the_epochs_of_a_run_resumed_from_its_last_checkpoint(tmp_path):
    data = tiny_data()
    first = trained_solver(data, checkpoint_name=str(tmp_path / "run"))
    again = Solver(FullyConnectedNet([5], input_dim=48, rng=0), data, update_rule="adam",
                   optim_config={"learning_rate": 1e-3}, num_epochs=1, batch_size=20,
                   verbose=False, seed=0, checkpoint_name=str(tmp_path / "run"))
    assert again.resume() == 1
    again.train()                                    # nothing left to train
    assert again.epoch_times == first.epoch_times
    again.epoch_times = [1.5, 2.0]                   # the seconds the first run took
    assert experiments.result_entry(again, data, {})["wall_time_s"] == 3.5


def test_print_table_aligns_columns(capsys):
    experiments.print_table(["name", "value"], [("a", 0.5), ("long name", 12.25)], ["", ".2f"])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["     name  value", "        a   0.50", "long name  12.25"]


# ---------------------------------------------------------------- training

def test_checkpoint_path_is_none_in_quick_mode(monkeypatch, quick):
    assert experiments.checkpoint_path("tag") is None
    monkeypatch.setenv("HW5_QUICK", "0")
    assert experiments.checkpoint_path("tag") == os.path.join(experiments.CHECKPOINT_DIR, "tag")


def test_two_runs_with_the_same_seeds_give_identical_histories_with_dropout():
    data = tiny_data()
    runs = []
    for _ in range(2):
        net = FullyConnectedNet([8], input_dim=48, dropout=0.3, rng=0)
        runs.append(Solver(net, data, update_rule="adam", num_epochs=2, batch_size=20,
                           verbose=False, seed=0).train())
    assert runs[0].loss_history == runs[1].loss_history
    assert runs[0].val_acc_history == runs[1].val_acc_history


def test_grid_helpers_mark_divergence_and_pick_the_fastest():
    class Run:
        def __init__(self, accs, last_loss):
            self.train_acc_history, self.loss_history = accs, [last_loss]
    runs = {(0.1, 1e-3): Run([0.1, 1.0, 1.0], 0.2), (0.1, 1e-2): None,
            (0.2, 1e-3): Run([0.1, 1.0, 1.0], 0.1), (0.2, 1e-2): Run([0.2, 0.5], 1.0)}
    acc = experiments.grid_accuracy(runs, (0.1, 0.2), (1e-3, 1e-2))
    np.testing.assert_array_equal(acc, [[1.0, np.nan], [1.0, 0.5]])
    assert experiments.fastest_to_memorize(runs) == (0.2, 1e-3)      # tie on epoch: lower loss
    assert experiments.fastest_to_memorize({(1, 1): None}) is None


def test_first_epoch_at_and_compare_histories():
    assert experiments.first_epoch_at([0.1, 0.9, 1.0, 1.0], 1.0) == 2
    assert experiments.first_epoch_at([0.1, 0.9], 1.0) is None
    assert experiments.compare_histories([0.1, 0.3, 0.2], [0.1, 0.2, 0.25]) == {
        "ahead": [1], "level": [0], "behind": [2]}


def test_subset_keeps_validation_and_test():
    data = tiny_data()
    small = experiments.subset(data, 7)
    assert small["X_train"].shape[0] == 7 and small["y_train"].shape == (7,)
    assert small["X_val"] is data["X_val"] and small["X_test"] is data["X_test"]


def test_describe_dataset_shows_no_absolute_path(fake_cifar):
    assert not os.path.isabs(experiments.describe_dataset().split(":")[0])


def test_train_fc_mirrors_a_copy_in_alternate_epochs_and_resumes_to_the_same_bits(tmp_path):
    data = tiny_data(m=40, d=(3, 32, 32))
    given = data["X_train"].copy()
    seen = []
    settings = dict(learning_rate=1e-3, dropout=0.2, reg=1e-4, lr_decay=0.9, num_epochs=3,
                    batch_size=10, verbose=False)
    straight = experiments.train_fc(data, **settings, after_epoch=lambda s: seen.append(
        np.array_equal(s.X_train[0], given[0])))
    assert straight.model.normalization == "batchnorm" and straight.model.dropout == 0.2
    assert seen[0] != seen[1] and seen[0] == seen[2]      # image 0 flips back and forth
    np.testing.assert_array_equal(data["X_train"], given)

    def killed_after_one_epoch(solver):
        raise KeyboardInterrupt
    name = str(tmp_path / "fc")
    with pytest.raises(KeyboardInterrupt):
        experiments.train_fc(data, **settings, after_epoch=killed_after_one_epoch,
                             checkpoint_name=name)
    resumed = experiments.train_fc(data, **settings, checkpoint_name=name)
    assert resumed.resumed_from == 1 and resumed.loss_history == straight.loss_history


def test_flip_augment_resumes_to_the_same_bits(tmp_path):
    data = tiny_data(m=40, d=(3, 4, 4))

    def solver(epochs):
        net = FullyConnectedNet([6], input_dim=48, rng=0)
        return Solver(experiments.FlipAugment(net, seed=1), data, update_rule="adam",
                      num_epochs=epochs, batch_size=10, verbose=False, seed=0,
                      checkpoint_name=str(tmp_path / "flip"))
    straight = solver(3)
    straight.checkpoint_prefix = None                  # writes nothing
    straight.train()
    first = solver(3)
    first.num_epochs = 1
    first.train()
    resumed = solver(3)
    assert resumed.resume() == 1
    resumed.train()
    assert resumed.loss_history == straight.loss_history


def test_flip_augment_mirrors_a_random_half_of_training_batches_only():
    class Recorder:
        params = {"theta": np.zeros(1)}

        def loss(self, X, y=None):
            self.seen = X
            return 0.0
    model = Recorder()
    wrapped = experiments.FlipAugment(model, seed=0)
    assert wrapped.params is model.params
    X = np.random.default_rng(0).standard_normal((200, 3, 4, 5))
    wrapped.loss(X)
    assert model.seen is X
    wrapped.loss(X, np.zeros(200, dtype=int))
    flipped = np.array([np.array_equal(s, x[:, :, ::-1]) for s, x in zip(model.seen, X)])
    kept = np.array([np.array_equal(s, x) for s, x in zip(model.seen, X)])
    assert np.all(flipped ^ kept) and 70 < flipped.sum() < 130
    assert np.array_equal(X, np.random.default_rng(0).standard_normal((200, 3, 4, 5)))


def test_filter_demo_greys_and_finds_horizontal_edges():
    images = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    images[0, :16] = (200, 100, 50)              # bright top half, black bottom half
    out = experiments.filter_demo(images)
    grey = 0.299 * 200 + 0.587 * 100 + 0.114 * 50
    assert out.shape == (1, 2, 32, 32)
    assert out[0, 0, 5, 5] == pytest.approx(grey) and out[0, 0, 25, 5] == 0
    assert out[0, 1, 5, 5] == pytest.approx(128)          # flat: mid-grey
    assert out[0, 1, 15, 5] == pytest.approx(128 + 4 * grey / 8)   # bright above dark


# ---------------------------------------------------- the main job, real data

@pytest.mark.slow
def test_two_layer_net_reaches_45_percent_validation_in_three_epochs(cifar10):
    settings = {**TWO_LAYER, "num_epochs": 3}
    solver = train_two_layer(cifar10, **settings, verbose=False)
    assert solver.best_val_acc >= 0.45
    assert solver.check_accuracy(cifar10["X_val"], cifar10["y_val"]) == solver.best_val_acc


def test_unknown_experiment_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["three-layer"])
    assert "invalid choice" in capsys.readouterr().err


def test_read_result_returns_an_entry_or_names_the_command(tmp_path, fake_cifar):
    path = str(tmp_path / "results.json")
    experiments.record_result("two_layer", {"val_acc": 0.5}, path=path)
    assert experiments.read_result("two_layer", path=path) == {"val_acc": 0.5}
    with pytest.raises(KeyError, match="python experiments.py ablation"):
        experiments.read_result("best_model_ablation", path=path)
