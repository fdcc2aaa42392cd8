"""best_model.py: the 4.4.7 recipe's data, evaluation and (slow) a quick end-to-end run
on the real CIFAR-10 copy that must learn."""
import json
import os
import re

import numpy as np
import pytest

import best_model
from augment import AlternatingFlips
from conftest import killed_and_resumed
from convnet import WhitenedConvNet, whitening_filters
from runs import ROOT


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


@pytest.mark.parametrize("seed", [-1, 1.0, True, "1"])
def test_train_best_refuses_a_seed_that_is_no_non_negative_int(seed):
    with pytest.raises(ValueError, match=f"seed must be a non-negative int, got {re.escape(repr(seed))}"):
        best_model.train_best(seed=seed)


@pytest.mark.parametrize("epochs", [0, -3, 2.0, True, "20"])
def test_train_best_refuses_epochs_that_are_no_positive_int(epochs):
    with pytest.raises(ValueError, match=f"epochs must be a positive int, got {re.escape(repr(epochs))}"):
        best_model.train_best(epochs=epochs)


@pytest.mark.parametrize("budget", [0, -1.0, float("inf"), "90"])
def test_train_best_refuses_a_budget_that_is_no_positive_time(budget):
    with pytest.raises(ValueError, match=f"budget_minutes must be a finite number > 0, got {re.escape(repr(budget))}"):
        best_model.train_best(budget_minutes=budget)


def test_train_best_refuses_epochs_beside_a_budget():
    with pytest.raises(ValueError, match="give epochs or budget_minutes, not both "
                                         r"\(got epochs=20, budget_minutes=90\)"):
        best_model.train_best(epochs=20, budget_minutes=90)


def test_the_budget_plan_times_the_recipe_and_caps_the_quick_twin(cifar10, monkeypatch):
    """In quick mode the plan is timed on a throwaway run (no file kept) and never exceeds the
    quick recipe's epochs; a budget shorter than an epoch still trains one."""
    monkeypatch.setenv("HW5_QUICK", "1")
    data = best_model.load_data()
    settings, plan = best_model.recipe_in_budget(data)
    assert settings == best_model.QUICK_BEST and plan["epochs"] == 3
    assert plan["budget_minutes"] == best_model.BUDGET_MINUTES and plan["epoch_s"] > 0
    tiny = best_model.budget_plan(data, best_model.QUICK_BEST, budget_minutes=1e-6)
    assert tiny["epochs"] == 1 and tiny["budget_minutes"] == 1e-6


def test_planned_epochs_read_the_plan_of_the_recipe_without_timing(monkeypatch, tmp_path):
    """planned_epochs is what run_notebooks asks before ConvolutionalNetworks: the epochs of
    the plan `experiments.py best` wrote for recipe() (none before it ran, none for another
    recipe, none in quick mode)."""
    import runs
    from budget import plan_epochs

    monkeypatch.delenv(runs.QUICK_ENV, raising=False)
    monkeypatch.setattr(runs, "CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    assert best_model.plan_path() == str(tmp_path / "checkpoints" / "best-budget.json")
    assert best_model.planned_epochs() is None
    settings = best_model.planned_settings(best_model.BEST)
    assert "num_epochs" not in settings and settings["widths"] == list(best_model.BEST["widths"])
    plan_epochs(best_model.BUDGET_MINUTES, settings, lambda: 250.0, best_model.plan_path())
    assert best_model.planned_epochs() == 20
    assert best_model.planned_epochs(budget_minutes=45) is None
    plan_epochs(best_model.BUDGET_MINUTES, dict(settings, seed=1), lambda: 250.0,
                best_model.plan_path())
    assert best_model.planned_epochs() is None
    monkeypatch.setenv(runs.QUICK_ENV, "1")
    assert best_model.plan_path() is None and best_model.planned_epochs() is None


@pytest.mark.slow
def test_quick_run_learns_and_records_its_result(cifar10, monkeypatch, tmp_path):
    monkeypatch.setenv("HW5_QUICK", "1")
    monkeypatch.setenv("HW5_RESULTS", str(tmp_path / "results.json"))
    solver, entry = best_model.train_best()
    assert solver.val_acc_history[-1] > 0.25 > solver.val_acc_history[0]
    recorded = json.load(open(tmp_path / "results.json"))["best_model"]
    assert recorded["num_test"] == 500 and recorded["epochs"] == 3
    # timed first: 90 minutes hold far more than the quick twin's 3 epochs, its cap
    assert recorded["budget"]["budget_minutes"] == best_model.BUDGET_MINUTES
    assert recorded["budget"]["epochs"] == 3 and recorded["budget"]["epoch_s"] > 0
    assert {"test_acc", "wall_time_s", "peak_memory_mib", "val_acc_history"} <= set(recorded)
    views = recorded["val_acc_views"]
    assert list(views) == list(best_model.TTA_VIEWS) and all(0 <= v <= 1 for v in views.values())
    # the same forward pass in batches of another size: an image may tip where scores tie
    assert views["none"] == pytest.approx(solver.check_accuracy(solver.X_val, solver.y_val),
                                          abs=2 / len(solver.y_val))


@pytest.mark.slow
def test_quick_run_of_fewer_epochs_trains_and_records_them_without_the_test_set(cifar10, monkeypatch,
                                                                               tmp_path):
    monkeypatch.setenv("HW5_QUICK", "1")
    monkeypatch.setenv("HW5_RESULTS", str(tmp_path / "results.json"))
    solver, entry = best_model.train_best(touch_test=False, epochs=1)
    recorded = json.load(open(tmp_path / "results.json"))["best_model"]
    assert solver.epoch == recorded["epochs"] == recorded["hyperparameters"]["num_epochs"] == 1
    assert len(recorded["val_acc_history"]) == 2 and "test_acc" not in recorded


@pytest.mark.slow
def test_quick_ablation_trains_every_row_with_each_seed_on_validation(cifar10, monkeypatch,
                                                                       tmp_path):
    monkeypatch.setenv("HW5_QUICK", "1")
    monkeypatch.setenv("HW5_RESULTS", str(tmp_path / "results.json"))
    entry = best_model.run_ablation()
    recorded = json.load(open(tmp_path / "results.json"))["best_model_ablation"]
    assert recorded == json.loads(json.dumps(entry)) and recorded["complete"]
    assert list(recorded["rows"]) == list(best_model.ABLATIONS)
    assert recorded["scored_on"] == "validation" and "num_test" not in recorded
    assert recorded["num_validation"] == 500 and recorded["runs_done"] == 2 * len(best_model.ABLATIONS)
    for name, row in recorded["rows"].items():
        assert [run["seed"] for run in row["runs"]] == [0, 1], name
        assert all(run["epochs"] == 1 and 0 <= run["val_acc"] <= 1 for run in row["runs"])
    for run in recorded["rows"]["whole recipe"]["runs"]:
        assert set(run["tta"]) == set(best_model.TTA_VIEWS)
        assert run["tta"]["none"] == run["val_acc"] > 0.15          # chance: 0.1
    assert recorded["rows"]["no lookahead"]["changed"] == {"lookahead_every": 0}


def test_the_per_epoch_checks_use_the_views_of_check_tta():
    """The Solver's accuracy checks run model.loss(X), which averages the model's tta views:
    one view for the recipe and its ablation (they count in the training time)."""
    data, settings = tiny_run(seed=5)
    for views in ("none", "flip"):
        solver = best_model.best_solver(data, dict(settings, check_tta=views), verbose=False)
        assert solver.model.tta == views
    assert best_model.BEST["check_tta"] == "none"
    assert best_model.ABLATION_BASE["check_tta"] == best_model.QUICK_ABLATION_BASE["check_tta"] == "none"


def test_the_ablation_is_the_recipe_for_a_third_of_its_epochs_on_its_split():
    """The base is BEST (quick: QUICK_BEST) but for its epochs, on BEST's training and
    validation images and no test image; each row changes one setting away from BEST's, and
    the recipe pulls its lookahead every 10 steps of 512 (airbench94's 5 of 1024) with
    batch-norm momentum 0.4 (airbench94's 0.6 in PyTorch's convention); a row switches it off."""
    assert best_model.ABLATION_BASE == dict(best_model.BEST, num_epochs=9)
    assert best_model.QUICK_ABLATION_BASE == dict(best_model.QUICK_BEST, num_epochs=1)
    assert best_model.ABLATION_DATA_SIZES == dict(best_model.BEST_DATA_SIZES, num_test=0)
    assert best_model.QUICK_ABLATION_DATA_SIZES == dict(best_model.QUICK_BEST_DATA_SIZES,
                                                        num_test=0)
    assert best_model.ABLATION_SEEDS == (0, 1) and best_model.ABLATIONS["whole recipe"] == {}
    for name, change in best_model.ABLATIONS.items():
        assert all(best_model.BEST[k] != v for k, v in change.items()), name
        assert len(change) == (name != "whole recipe"), name
    assert best_model.ABLATIONS["no lookahead"] == {"lookahead_every": 0}
    assert best_model.BEST["lookahead_every"] == 10
    assert best_model.BEST["bn_momentum"] == pytest.approx(1 - 0.6) and best_model.BEST["batch_size"] == 512


def test_reuse_freed_memory_is_set_exactly_where_the_c_library_is_glibc():
    import platform
    assert best_model.reuse_freed_memory() == (platform.libc_ver()[0] == "glibc")


def test_each_ablation_changes_what_it_names():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 3, 32, 32)).astype(np.float32)
    data = {"X_train": X, "y_train": np.arange(20) % 10, "X_val": X[:4], "y_val": np.arange(4)}
    base = dict(best_model.QUICK_ABLATION_BASE, whitening_images=20)
    whole = best_model.best_solver(data, base, verbose=False)
    assert whole.lookahead.every == 10 and whole.model.dirac and whole.model.augment
    assert isinstance(whole.settings["before_epoch"], AlternatingFlips) and not whole.model.flip
    np.testing.assert_allclose(whole.model.whiten, whitening_filters(X), rtol=1e-5)
    for name, change in best_model.ABLATIONS.items():
        solver = best_model.best_solver(data, dict(base, **change), verbose=False)
        model = solver.model
        every = solver.lookahead.every if solver.lookahead else 0
        assert every == change.get("lookahead_every", 10), name
        assert model.dirac == change.get("dirac", True) and model.augment == change.get("augment", True)
        assert model.smoothing == change.get("smoothing", base["smoothing"]), name
        assert np.allclose(model.whiten, whole.model.whiten) == change.get("whiten", True), name
        first = model.params["theta2"][:, :, 1, 1]
        assert np.array_equal(first[:16, :16], np.eye(16)) == model.dirac, name
        alternating = isinstance(solver.settings["before_epoch"], AlternatingFlips)
        assert alternating == (model.augment and change.get("alternate_flips", True)), name
        assert model.flip != alternating, name            # the model mirrors, or the epochs


def ablation_entry(whole_runs, dirac_runs):
    """A recorded ablation of two rows, runs given as (seed, val_acc, wall_time_s), the whole
    recipe's with views 'none' (its val_acc) and 'flip' (one point more)."""
    def runs(given, views):
        return [dict(seed=seed, val_acc=acc, wall_time_s=t,
                     **({"tta": {"none": acc, "flip": acc + 0.01}} if views else {}))
                for seed, acc, t in given]
    return {"rows": {"whole recipe": {"changed": {}, "runs": runs(whole_runs, True)},
                     "no lookahead": {"changed": {"lookahead_every": 0}, "runs": []},
                     "no Dirac init": {"changed": {"dirac": False},
                                       "runs": runs(dirac_runs, False)}}}


def test_ablation_rows_give_the_seeds_mean_its_change_and_spread():
    rows = best_model.ablation_rows(ablation_entry([(0, 0.80, 600.0), (1, 0.82, 720.0)],
                                                   [(0, 0.70, 540.0)]))
    assert [r[0] for r in rows] == ["whole recipe", "no Dirac init",
                                    "whole recipe, test-time views 'none'",
                                    "whole recipe, test-time views 'flip'"]   # no run: no row
    assert rows[0] == pytest.approx(("whole recipe", 0.81, 0.0, 0.02, 11.0))
    assert rows[1] == pytest.approx(("no Dirac init", 0.70, -0.11, None, 9.0))
    assert rows[3][1:4] == pytest.approx((0.82, 0.01, 0.02)) and rows[3][4] == "-"


def test_ablation_rows_have_no_change_before_the_whole_recipe_has_a_run():
    rows = best_model.ablation_rows(ablation_entry([], [(1, 0.70, 540.0)]))
    assert rows == [("no Dirac init", 0.70, None, None, 9.0)]


class FakeSolver:
    """best_solver's Solver for the bookkeeping tests: trains at once, to a validation accuracy
    of 0.5 + seed / 100 - 0.1 without Dirac init, and notes what it was given and how many
    runs the results file held when it started."""

    def __init__(self, log, data, settings, checkpoint=None):
        self.log, self.data, self.given, self.checkpoint = log, data, settings, checkpoint
        self.model, self.print_every = object(), 20

    def resume(self):
        pass

    def train(self):
        try:
            recorded = best_model.read_result("best_model_ablation")["runs_done"]
        except KeyError:
            recorded = 0
        self.log.append(dict(settings=self.given, data=self.data, recorded=recorded))
        self.epoch = self.given["num_epochs"]
        self.best_val_acc = 0.5 + self.given["seed"] / 100 - 0.1 * (not self.given["dirac"])
        self.val_acc_history = [0.1] * (self.epoch - 1) + [self.best_val_acc]
        self.epoch_times = [30.0] * self.epoch
        return self


@pytest.fixture
def fake_training(monkeypatch, tmp_path):
    """Quick mode with a results file of its own, random images in place of CIFAR-10 (with a
    test split of NaN, asked for or not) and FakeSolver in place of the Solver. Returns the
    log: 'trained' (FakeSolver's notes), 'scored' (the images test_accuracy was given) and
    'num_test' (the test images each load asked for)."""
    monkeypatch.setenv("HW5_QUICK", "1")
    monkeypatch.setenv("HW5_RESULTS", str(tmp_path / "results.json"))
    log = {"trained": [], "scored": [], "num_test": []}

    def cifar(num_training, num_validation, num_test, subtract_mean, root):
        log["num_test"].append(num_test)
        r = np.random.default_rng(0)
        data = {f"X_{s}": r.standard_normal((n, 3, 32, 32)).astype(np.float32)
                for s, n in (("train", num_training), ("val", num_validation))}
        data.update(y_train=r.integers(10, size=num_training),
                    y_val=r.integers(10, size=num_validation),
                    X_test=np.full((10, 3, 32, 32), np.nan, np.float32), y_test=np.zeros(10, int))
        return data

    def scored(model, X, y, tta):
        log["scored"].append(X)
        return {"none": 0.5, "flip": 0.51, "flip_translate": 0.52, "flip_shift8": 0.53}[tta]
    monkeypatch.setattr(best_model, "get_CIFAR10_data", cifar)
    monkeypatch.setattr(best_model, "dataset_label", lambda root=None: "random images")
    monkeypatch.setattr(best_model, "test_accuracy", scored)
    monkeypatch.setattr(best_model, "best_solver",
                        lambda data, settings, checkpoint=None: FakeSolver(log["trained"], data,
                                                                           settings, checkpoint))
    return log


def recorded_ablation_entry():
    return best_model.read_result("best_model_ablation")


def trained_pairs(log):
    """(row, seed) of each run FakeSolver trained, rows named by ABLATIONS."""
    names = {json.dumps(change, sort_keys=True): name for name, change in best_model.ABLATIONS.items()}
    base = best_model.QUICK_ABLATION_BASE
    return [(names[json.dumps({k: v for k, v in t["settings"].items()
                               if k != "seed" and base.get(k) != v}, sort_keys=True)],
             t["settings"]["seed"]) for t in log]


def test_every_run_is_recorded_as_it_ends_and_a_rerun_trains_only_the_missing_ones(
        fake_training):
    rows = list(best_model.ABLATIONS)
    best_model.run_ablation(max_runs=3)
    assert trained_pairs(fake_training["trained"]) == [(rows[0], 0), (rows[1], 0), (rows[2], 0)]
    assert [t["recorded"] for t in fake_training["trained"]] == [0, 1, 2]
    entry = recorded_ablation_entry()
    assert (entry["runs_done"], entry["runs_total"], entry["complete"]) == (3, 16, False)
    assert entry["scored_on"] == "validation" and entry["num_validation"] == 500
    assert entry["settings"]["num_epochs"] == 1 and entry["seeds"] == [0, 1]
    assert [run["seed"] for run in entry["rows"]["no Dirac init"]["runs"]] == [0]
    whole = entry["rows"]["whole recipe"]["runs"][0]
    assert whole["val_acc"] == 0.5 and whole["epochs"] == 1 and whole["wall_time_s"] == 30.0
    assert whole["tta"] == {"none": 0.5, "flip": 0.51, "flip_translate": 0.52, "flip_shift8": 0.53}
    assert "tta" not in entry["rows"]["no lookahead"]["runs"][0]

    fake_training["trained"].clear()
    best_model.run_ablation()
    expected = [(name, 0) for name in rows[3:]] + [(name, 1) for name in rows]
    assert trained_pairs(fake_training["trained"]) == expected
    assert [t["recorded"] for t in fake_training["trained"]] == list(range(3, 16))
    entry = recorded_ablation_entry()
    assert (entry["runs_done"], entry["complete"]) == (16, True)
    assert all([r["seed"] for r in row["runs"]] == [0, 1] for row in entry["rows"].values())

    fake_training["trained"].clear()
    assert best_model.run_ablation() == entry and not fake_training["trained"]
    assert best_model.ablation_rows(entry)[2] == pytest.approx(
        ("no Dirac init", 0.405, -0.1, 0.01, 0.5))


def test_a_changed_base_or_row_starts_over(fake_training, monkeypatch):
    best_model.run_ablation(max_runs=2)                   # whole recipe and lookahead, seed 0
    monkeypatch.setitem(best_model.ABLATIONS, "no lookahead", {"lookahead_every": 5})
    entry = best_model.run_ablation(max_runs=0)
    assert entry["runs_done"] == 1 and not entry["rows"]["no lookahead"]["runs"]
    monkeypatch.setattr(best_model, "QUICK_ABLATION_BASE",
                        dict(best_model.QUICK_ABLATION_BASE, smoothing=0.1))
    assert best_model.run_ablation(max_runs=0)["runs_done"] == 0
    best_model.run_ablation(max_runs=1)
    assert recorded_ablation_entry()["runs_done"] == 1
    assert recorded_ablation_entry()["settings"]["smoothing"] == 0.1


def test_an_entry_scored_on_the_test_set_is_started_over(fake_training):
    old = {"rows": {"whole recipe": {"changed": {}, "test_acc": 0.57, "wall_time_s": 140.0}},
           "num_test": 10000, "num_training": 8000, "settings": {"num_epochs": 3}}
    best_model.record_result("best_model_ablation", old, "CIFAR-10 (official)")
    assert best_model.run_ablation(max_runs=0)["runs_done"] == 0
    best_model.run_ablation(max_runs=1)
    assert "num_test" not in recorded_ablation_entry()


def test_the_ablation_never_loads_or_scores_the_test_set(fake_training):
    """The loader is asked for no test image, no run is given one, and every accuracy is of
    the validation images the run was given."""
    best_model.run_ablation()
    assert fake_training["num_test"] == [0]
    trained = fake_training["trained"]
    assert len(trained) == 16
    assert all(set(t["data"]) == {"X_train", "y_train", "X_val", "y_val"} for t in trained)
    assert all(not np.isnan(t["data"]["X_val"]).any() for t in trained)
    assert len(fake_training["scored"]) == 2 * len(best_model.TTA_VIEWS)
    assert all(X is trained[0]["data"]["X_val"] for X in fake_training["scored"])


def test_max_runs_must_be_a_count(fake_training):
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="max_runs"):
            best_model.run_ablation(max_runs=bad)


def test_recorded_ablation_trains_only_the_quick_one(monkeypatch, tmp_path):
    """A full-size ablation takes hours: with none recorded, recorded_ablation names the command
    instead of starting it; in quick mode it runs the quick one."""
    monkeypatch.setenv("HW5_RESULTS", str(tmp_path / "results.json"))
    ran = []
    monkeypatch.setattr(best_model, "run_ablation", lambda root=None: ran.append(root) or "ran")
    monkeypatch.setenv("HW5_QUICK", "0")
    with pytest.raises(LookupError, match="python experiments.py ablation"):
        best_model.recorded_ablation()
    assert not ran
    monkeypatch.setenv("HW5_QUICK", "1")
    assert best_model.recorded_ablation() == "ran" and ran == [None]


def test_frozen_batch_norm_scales_get_no_learning_rate():
    trained = best_model.solver_options(best_model.BEST)["param_optim_config"]["gamma"]
    frozen = best_model.solver_options(dict(best_model.BEST, bn_scale_trained=False))
    assert trained == {"weight_decay": 0.0}
    assert frozen["param_optim_config"]["gamma"] == {"learning_rate": 0.0, "weight_decay": 0.0}
    assert frozen["optim_config"] == best_model.solver_options(best_model.BEST)["optim_config"]


def test_a_frozen_scale_stays_one_through_training_steps():
    data, settings = tiny_run(seed=3)
    solver = best_model.best_solver(data, dict(settings, bn_scale_trained=False), verbose=False)
    for step in range(3):
        solver._step(np.arange(step * 4, step * 4 + 8) % 16)
    for l in range(1, 7):
        assert np.all(solver.model.params[f"gamma{l}"] == 1), l
    assert not np.all(solver.model.params["beta1"] == 0)         # the biases did learn


# The current recipe's ablation, recorded apart from results/results.json until the notebook
# shows it (HW5_RESULTS=results/ablation-128-384-384.json python experiments.py ablation).
ABLATION_RECORD = "results/ablation-128-384-384.json"


def as_stored(value):
    """value as the results file stores it (tuples as lists)."""
    return json.loads(json.dumps(value))


def recorded_runs(path=ABLATION_RECORD):
    """(the ablation entry of the record at path, [(row name, run)] of its runs)."""
    with open(os.path.join(ROOT, path)) as f:
        entry = json.load(f)["best_model_ablation"]
    return entry, [(name, run) for name, row in entry["rows"].items() for run in row["runs"]]


def test_the_recorded_ablation_is_of_the_current_base_on_validation_only():
    entry, runs = recorded_runs()
    assert entry["settings"] == as_stored(best_model.ABLATION_BASE)
    sizes = best_model.ABLATION_DATA_SIZES
    assert (entry["scored_on"], entry["num_training"], entry["num_validation"]) == (
        "validation", sizes["num_training"], sizes["num_validation"])
    assert entry["seeds"] == list(best_model.ABLATION_SEEDS)
    assert {name: row["changed"] for name, row in entry["rows"].items()} == \
        as_stored(best_model.ABLATIONS)
    assert entry == best_model.count_runs(as_stored(entry)) and runs
    for name, run in runs:
        history = run["val_acc_history"]
        assert run["epochs"] == best_model.ABLATION_BASE["num_epochs"] == len(history) - 1
        assert run["val_acc"] == max(history) and run["seed"] in entry["seeds"]
        assert ("tta" in run) == (name == "whole recipe")


def test_readme_quotes_every_run_of_the_recorded_ablation():
    entry, runs = recorded_runs()
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = " ".join(f.read().split())
    assert f"{entry['runs_done']} of its {entry['runs_total']} runs" in readme
    for name, run in runs:
        quoted = f"{name}, seed {run['seed']}: {run['val_acc']:.4f}"
        if "tta" in run:
            quoted += f" ({run['tta']['flip_translate']:.4f} with flips and translations)"
        assert quoted in readme
    minutes = [run["wall_time_s"] / 60 for _, run in runs]
    assert f"in {min(minutes):.0f}-{max(minutes):.0f} min each" in readme
