"""runs.py: quick mode, checkpoint paths, the results file and a run's entry."""
import json
import os

import pytest
from conftest import tiny_data

import runs
from fc_net import FullyConnectedNet
from solver import Solver


@pytest.mark.parametrize("value, expected", [(None, False), ("", False), ("0", False),
                                             ("1", True), ("yes", True)])
def test_quick_mode_follows_the_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("HW5_QUICK", raising=False)
    else:
        monkeypatch.setenv("HW5_QUICK", value)
    assert runs.quick_mode() is expected
    assert runs.pick("full", "quick") == ("quick" if expected else "full")


def test_checkpoint_path_is_none_in_quick_mode(monkeypatch):
    monkeypatch.setenv("HW5_QUICK", "1")
    assert runs.checkpoint_path("tag") is None
    monkeypatch.setenv("HW5_QUICK", "0")
    assert runs.checkpoint_path("tag") == os.path.join(runs.CHECKPOINT_DIR, "tag")


def test_results_path_by_mode(monkeypatch):
    monkeypatch.delenv("HW5_RESULTS", raising=False)
    monkeypatch.setenv("HW5_QUICK", "0")
    assert runs.results_path() == os.path.join(runs.ROOT, "results", "results.json")
    monkeypatch.setenv("HW5_QUICK", "1")
    assert runs.results_path() == os.path.join(runs.ROOT, "runs", "quick", "results.json")
    monkeypatch.setenv("HW5_RESULTS", "/elsewhere/r.json")
    assert runs.results_path() == "/elsewhere/r.json"


def test_search_db_path_by_mode_and_root(monkeypatch, tmp_path):
    monkeypatch.setenv("HW5_QUICK", "0")
    assert runs.search_db_path() == os.path.join(runs.ROOT, "runs", "search.db")
    assert runs.search_db_path(str(tmp_path)) == str(tmp_path / "runs" / "search.db")
    monkeypatch.setenv("HW5_QUICK", "1")
    assert runs.search_db_path() == os.path.join(runs.ROOT, "runs", "quick", "search.db")


def test_record_result_merges_keys_and_adds_meta(tmp_path):
    path = str(tmp_path / "sub" / "results.json")
    runs.record_result("two_layer", {"val_acc": 0.5}, "CIFAR-10 (official)", path)
    runs.record_result("fc_best", {"val_acc": 0.6}, "CIFAR-10 (official)", path)
    runs.record_result("two_layer", {"val_acc": 0.55}, "CIFAR-10 (official)", path)
    with open(path) as f:
        results = json.load(f)
    assert results["two_layer"] == {"val_acc": 0.55} and results["fc_best"] == {"val_acc": 0.6}
    assert {"date", "device", "git_commit", "data", "mode"} <= set(results["meta"])
    assert results["meta"]["data"] == "CIFAR-10 (official)"
    assert sorted(results["meta"]["recorded"]) == ["fc_best", "two_layer"]


def test_each_entry_keeps_the_commit_it_was_recorded_at(tmp_path, monkeypatch):
    path = str(tmp_path / "results.json")
    stamps = iter(["aaaaaaa", "bbbbbbb"])
    monkeypatch.setattr(runs, "_meta", lambda: {"date": "2026-01-01", "device": "cpu",
                                                "git_commit": next(stamps), "mode": "full"})
    runs.record_result("two_layer", {"val_acc": 0.5}, "CIFAR-10", path)
    runs.record_result("fc_best", {"val_acc": 0.6}, "CIFAR-10", path)
    with open(path) as f:
        meta = json.load(f)["meta"]
    assert meta["git_commit"] == "bbbbbbb"                          # the latest write
    assert meta["recorded"]["two_layer"]["git_commit"] == "aaaaaaa"
    assert meta["recorded"]["fc_best"]["git_commit"] == "bbbbbbb"


def test_read_result_returns_an_entry_or_names_the_command(tmp_path):
    path = str(tmp_path / "results.json")
    runs.record_result("two_layer", {"val_acc": 0.5}, "CIFAR-10", path=path)
    assert runs.read_result("two_layer", path=path) == {"val_acc": 0.5}
    with pytest.raises(KeyError, match="python experiments.py ablation"):
        runs.read_result("best_model_ablation", path=path)


def trained_solver(data, **kwargs):
    net = FullyConnectedNet([5], input_dim=48, rng=0)
    settings = dict(update_rule="adam", optim_config={"learning_rate": 1e-3}, num_epochs=1,
                    batch_size=20, verbose=False, seed=0)
    return Solver(net, data, **{**settings, **kwargs}).train()


def test_result_entry_has_the_writeup_fields():
    data = tiny_data()
    solver = trained_solver(data)
    entry = runs.result_entry(solver, data, {"hidden_dims": (5,), "reg": 0.0})
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
    assert runs.result_entry(again, data, {})["wall_time_s"] == 3.5


def test_first_epoch_at_and_compare_histories():
    assert runs.first_epoch_at([0.1, 0.9, 1.0, 1.0], 1.0) == 2
    assert runs.first_epoch_at([0.1, 0.9], 1.0) is None
    assert runs.compare_histories([0.1, 0.3, 0.2], [0.1, 0.2, 0.25]) == {
        "ahead": [1], "level": [0], "behind": [2]}


def test_runs_imports_nothing_from_the_project():
    """Anything may import runs: it must import no module of this folder."""
    import run_notebooks
    with open(runs.__file__, encoding="utf-8") as f:
        imported = run_notebooks.imported_names(f.read())
    project = {name[:-3] for name in os.listdir(runs.ROOT) if name.endswith(".py")}
    assert not imported & project, imported & project
