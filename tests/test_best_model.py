"""best_model.py: the 4.4.7 recipe's data, evaluation and (slow) a quick end-to-end run
on the real CIFAR-10 copy that must learn."""
import json

import numpy as np
import pytest

import best_model
from augment import AlternatingFlips
from conftest import killed_and_resumed
from convnet import WhitenedConvNet, whitening_filters


def test_channel_standardize_uses_the_training_statistics():
    rng = np.random.default_rng(0)
    data = {"X_train": rng.normal(100, 20, (30, 3, 4, 4)), "y_train": np.zeros(30, int),
            "X_test": rng.normal(100, 20, (5, 3, 4, 4))}
    data["X_train"][:, 1] *= 3
    out = best_model.channel_standardize(data)
    np.testing.assert_allclose(out["X_train"].mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out["X_train"].std(axis=(0, 2, 3)), 1, rtol=1e-5)
    assert out["X_test"].dtype == np.float32 and out["y_train"] is data["y_train"]


def test_test_accuracy_uses_the_views_asked_for_and_restores_the_model():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 3, 12, 12)).astype(np.float32)
    net = WhitenedConvNet(whitening_filters(X), input_dim=(3, 12, 12), widths=(4, 4, 4),
                          tta="flip", seed=0)
    y = np.argmax(net.loss(X), axis=1)
    assert best_model.test_accuracy(net, X, y, "flip", batch_size=5) == 1.0
    best_model.test_accuracy(net, X, y, "none")
    assert net.tta == "flip"


def test_peak_memory_is_reported_in_mib():
    assert 10 < best_model.peak_memory_mib() < 64 * 1024


def tiny_run(seed):
    """Random 32 x 32 images (16 training, 4 validation) and the quick recipe on widths of 4
    for 3 epochs of two steps."""
    r = np.random.default_rng(seed)
    data = {"X_train": r.standard_normal((16, 3, 32, 32)).astype(np.float32),
            "y_train": r.integers(10, size=16),
            "X_val": r.standard_normal((4, 3, 32, 32)).astype(np.float32),
            "y_val": r.integers(10, size=4)}
    settings = dict(best_model.QUICK_BEST, widths=(4, 4, 4), batch_size=8, num_epochs=3,
                    whitening_images=16)
    return data, settings


def test_alternating_flips_resume_to_the_same_bits_and_leave_the_data_alone(tmp_path):
    data, settings = tiny_run(seed=3)
    given = data["X_train"].copy()
    assert settings["alternate_flips"]

    def solver(name, after_epoch=None):
        return best_model.best_solver(data, settings, checkpoint=str(tmp_path / name),
                                      verbose=False, after_epoch=after_epoch)
    straight = solver("a").train()
    assert not straight.model.flip
    assert isinstance(straight.settings["before_epoch"], AlternatingFlips)
    assert killed_and_resumed(solver).loss_history == straight.loss_history
    np.testing.assert_array_equal(data["X_train"], given)
    random = best_model.best_solver(data, dict(settings, alternate_flips=False), verbose=False)
    assert random.model.flip and random.settings["before_epoch"] is None


def test_a_function_after_each_epoch_sees_the_epochs_in_order():
    data, settings = tiny_run(seed=4)
    seen = []
    solver = best_model.best_solver(data, settings, verbose=False,
                                    after_epoch=lambda s: seen.append(s.epoch)).train()
    assert seen == [1, 2, 3]
    assert solver.settings["before_epoch"].parity == 0      # epoch 3 began at 2 done: even


def test_the_pieces_build_the_solver_best_solver_builds(tmp_path):
    """The notebook's training cell joins whitened_net, training_set and solver_options in
    view; best_solver joins the same, so both name the same checkpoints."""
    from solver import Solver
    data, settings = tiny_run(seed=6)
    joined = best_model.best_solver(data, settings, checkpoint=str(tmp_path / "x"), verbose=False)
    train_data, flips = best_model.training_set(data, settings)
    by_hand = Solver(best_model.whitened_net(data, settings), train_data,
                     **best_model.solver_options(settings), before_epoch=flips,
                     checkpoint_name=str(tmp_path / "x"), verbose=False)
    assert by_hand.checkpoint_prefix == joined.checkpoint_prefix
    lr = settings["lr_per_example"] * settings["batch_size"]
    assert best_model.solver_options(settings)["optim_config"]["learning_rate"] == lr


def test_recipe_is_the_quick_twin_in_quick_mode(monkeypatch):
    monkeypatch.setenv("HW5_QUICK", "1")
    assert best_model.recipe() == best_model.QUICK_BEST
    monkeypatch.setenv("HW5_QUICK", "0")
    assert best_model.recipe() == best_model.BEST


@pytest.mark.slow
def test_quick_run_learns_and_records_its_result(cifar10, monkeypatch, tmp_path):
    monkeypatch.setenv("HW5_QUICK", "1")
    monkeypatch.setenv("HW5_RESULTS", str(tmp_path / "results.json"))
    solver, entry = best_model.train_best()
    assert solver.val_acc_history[-1] > 0.25 > solver.val_acc_history[0]
    recorded = json.load(open(tmp_path / "results.json"))["best_model"]
    assert recorded["num_test"] == 500 and recorded["epochs"] == 3
    assert {"test_acc", "wall_time_s", "peak_memory_mib", "val_acc_history"} <= set(recorded)


@pytest.mark.slow
def test_quick_ablation_trains_every_variant_and_records_them(cifar10, monkeypatch, tmp_path):
    monkeypatch.setenv("HW5_QUICK", "1")
    monkeypatch.setenv("HW5_RESULTS", str(tmp_path / "results.json"))
    entry = best_model.run_ablation()
    recorded = json.load(open(tmp_path / "results.json"))["best_model_ablation"]
    assert list(recorded["rows"]) == list(best_model.ABLATIONS) and recorded["num_test"] == 200
    whole = recorded["rows"]["whole recipe"]
    assert set(whole["tta"]) == {"none", "flip", "flip_translate"}
    assert whole["tta"]["none"] == whole["test_acc"] and 0 <= whole["test_acc"] <= 1
    assert recorded["rows"]["no lookahead"]["changed"] == {"lookahead_every": 0}
    assert entry["rows"].keys() == recorded["rows"].keys()


def test_the_per_epoch_checks_use_the_views_of_check_tta():
    """The Solver's accuracy checks run model.loss(X), which averages the model's tta views:
    one view for the recipe (they count in its training time); the ablation and the search
    keep the mirror their recorded runs were checked with."""
    data, settings = tiny_run(seed=5)
    for views in ("none", "flip"):
        solver = best_model.best_solver(data, dict(settings, check_tta=views), verbose=False)
        assert solver.model.tta == views
    assert best_model.BEST["check_tta"] == "none"
    assert best_model.ABLATION_BASE["check_tta"] == best_model.QUICK_ABLATION_BASE["check_tta"] == "flip"


def test_the_recipe_leaves_lookahead_off_and_the_ablation_starts_with_it_on():
    assert best_model.BEST["lookahead_every"] == 0
    for base in (best_model.ABLATION_BASE, best_model.QUICK_ABLATION_BASE):
        assert base["lookahead_every"] > 0


def test_reuse_freed_memory_is_set_exactly_where_the_c_library_is_glibc():
    import platform
    assert best_model.reuse_freed_memory() == (platform.libc_ver()[0] == "glibc")


def test_each_ablation_switches_off_what_it_names():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 3, 32, 32)).astype(np.float32)
    data = {"X_train": X, "y_train": np.arange(20) % 10, "X_val": X[:4], "y_val": np.arange(4)}
    base = dict(best_model.QUICK_ABLATION_BASE, whitening_images=20)
    whole = best_model.best_solver(data, base, verbose=False)
    assert whole.lookahead is not None and whole.model.dirac and whole.model.augment
    np.testing.assert_allclose(whole.model.whiten, whitening_filters(X), rtol=1e-5)
    for name, change in best_model.ABLATIONS.items():
        solver = best_model.best_solver(data, dict(base, **change), verbose=False)
        model = solver.model
        assert (solver.lookahead is None) == (change.get("lookahead_every") == 0), name
        assert model.dirac == change.get("dirac", True) and model.augment == change.get("augment", True)
        assert model.smoothing == change.get("smoothing", base["smoothing"]), name
        assert np.allclose(model.whiten, whole.model.whiten) == change.get("whiten", True), name
        first = model.params["theta2"][:, :, 1, 1]
        assert np.array_equal(first[:16, :16], np.eye(16)) == model.dirac, name


def test_ablation_rows_give_each_change_against_the_whole_recipe():
    entry = {"rows": {"whole recipe": {"test_acc": 0.7, "wall_time_s": 120.0,
                                       "tta": {"none": 0.7, "flip": 0.72}},
                      "no lookahead": {"test_acc": 0.69, "wall_time_s": 60.0}}}
    rows = best_model.ablation_rows(entry)
    assert rows[0] == ("whole recipe", 0.7, 0.0, 2.0)
    assert rows[1][0] == "no lookahead" and rows[1][2] == pytest.approx(-0.01)
    assert rows[3][0] == "whole recipe, test-time views 'flip'"
    assert rows[3][2] == pytest.approx(0.02) and rows[3][3] == "-"
