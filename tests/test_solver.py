"""solver.py: epoch arithmetic, histories, best parameters, divergence, checkpoints."""
import glob
import os
import re

import numpy as np
import pytest

import optim
from conftest import RunsCode
from fc_net import FullyConnectedNet
from checkpoints import epoch_files
from solver import Solver


def toy_data(n_train=103, n_val=20, seed=0):
    """Two well separated Gaussian blobs in 6 dimensions."""
    rng = np.random.default_rng(seed)
    def blobs(n):
        y = rng.integers(2, size=n)
        return rng.standard_normal((n, 6)) + 3 * y[:, None], y
    X_train, y_train = blobs(n_train)
    X_val, y_val = blobs(n_val)
    return dict(X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val)


def toy_model(seed=0):
    return FullyConnectedNet([8], input_dim=6, num_classes=2, weight_scale=0.1,
                             dtype=np.float64, seed=seed)


def make_solver(model=None, data=None, **kwargs):
    settings = dict(update_rule="sgd", optim_config={"learning_rate": 0.05}, batch_size=10,
                    num_epochs=3, verbose=False, seed=0)
    settings.update(kwargs)
    return Solver(model or toy_model(), data or toy_data(), **settings)


@pytest.mark.parametrize("n_train, batch_size, per_epoch", [(103, 10, 10), (100, 10, 10),
                                                            (5, 10, 1), (7, 7, 1)])
def test_epoch_arithmetic(n_train, batch_size, per_epoch):
    solver = make_solver(data=toy_data(n_train), batch_size=batch_size).train()
    assert solver.iterations_per_epoch == per_epoch
    assert len(solver.loss_history) == 3 * per_epoch
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 4


def test_training_learns_and_restores_best_parameters():
    solver = make_solver(num_epochs=5).train()
    assert solver.best_val_acc >= 0.9
    assert solver.best_val_acc == max(solver.val_acc_history)
    for name, value in solver.best_params.items():
        np.testing.assert_array_equal(solver.model.params[name], value)
    assert solver.check_accuracy(solver.X_val, solver.y_val) == solver.best_val_acc


def test_each_parameter_has_its_own_optimizer_state():
    solver = make_solver(update_rule="adam", optim_config={"learning_rate": 1e-2}).train()
    assert set(solver.optim_configs) == set(solver.model.params)
    m1, m2 = solver.optim_configs["theta1"]["m"], solver.optim_configs["theta2"]["m"]
    assert m1.shape == (6, 8) and m2.shape == (8, 2)


def test_lr_decay_applies_once_per_epoch():
    solver = make_solver(lr_decay=0.5, num_epochs=3).train()
    for config in solver.optim_configs.values():
        assert config["learning_rate"] == pytest.approx(0.05 * 0.5 ** 3)


def test_check_accuracy_subsamples_and_batches():
    solver = make_solver()
    data = toy_data(250)
    acc = solver.check_accuracy(data["X_train"], data["y_train"], num_samples=50, batch_size=7)
    assert acc * 50 == pytest.approx(round(acc * 50))
    full = solver.check_accuracy(data["X_train"], data["y_train"], batch_size=33)
    assert full * 250 == pytest.approx(round(full * 250))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow that leads to the error
def test_divergence_stops_with_a_clear_error():
    solver = make_solver(optim_config={"learning_rate": 1e6})
    with pytest.raises(FloatingPointError, match=r"at iteration \d+.*smaller learning rate"):
        solver.train()


def test_unknown_arguments_and_rules_are_named():
    with pytest.raises(TypeError, match="learning_rate"):
        Solver(toy_model(), toy_data(), learning_rate=1e-3)
    with pytest.raises(ValueError, match="'nesterov'.*adam"):
        Solver(toy_model(), toy_data(), update_rule="nesterov")
    with pytest.raises(ValueError, match="batch_size"):
        Solver(toy_model(), toy_data(), batch_size=0)
    with pytest.raises(KeyError, match="X_val"):
        Solver(toy_model(), {"X_train": np.ones((2, 6)), "y_train": np.zeros(2, int)})


def test_progress_is_printed(capsys):
    make_solver(verbose=True, print_every=5, num_epochs=1).train()
    out = capsys.readouterr().out
    assert "(Iteration 5 / 10) loss:" in out
    assert "(Epoch 1 / 1) train acc:" in out and "elapsed" in out
    # inside an epoch: where the step falls in it and about how long the epoch has left
    assert re.search(r"\(Iteration 5 / 10\) loss: [\d.]+  \[epoch 1: 5/10 steps, about \d+s "
                     r"to its end\]", out)


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path):
    name = str(tmp_path / "ckpt" / "toy")
    settings = dict(update_rule="adam", optim_config={"learning_rate": 1e-2}, num_epochs=4,
                    lr_decay=0.9, checkpoint_name=name, keep_last=4)
    straight = make_solver(**settings).train()
    assert newest_checkpoint(straight).endswith("_epoch_4.npz")

    resumed = make_solver(**settings)
    resumed.load_checkpoint(f"{straight.checkpoint_prefix}_epoch_2.npz")
    assert resumed.epoch == 2 and len(resumed.loss_history) == 20
    resumed.train()
    np.testing.assert_allclose(resumed.loss_history, straight.loss_history, rtol=1e-12)
    assert resumed.val_acc_history == straight.val_acc_history
    for name_, value in straight.model.params.items():
        np.testing.assert_allclose(resumed.model.params[name_], value, rtol=1e-12)


def dropout_model(rng=0):
    return FullyConnectedNet([16, 16], input_dim=6, num_classes=2, dropout=0.5,
                             weight_scale=0.3, dtype=np.float64, rng=rng)


def test_resume_restores_the_dropout_generator_to_the_same_bits(tmp_path):
    name = str(tmp_path / "drop")
    settings = dict(update_rule="adam", optim_config={"learning_rate": 1e-2}, num_epochs=4,
                    checkpoint_name=name)
    straight = make_solver(model=dropout_model(), **settings).train()
    # Kill after epoch 2: rerun the first two epochs only, then resume in a new process-like
    # Solver with a freshly built model (its generator starts over from the seed).
    partial = make_solver(model=dropout_model(), **{**settings, "checkpoint_name": str(tmp_path / "p")})
    partial.num_epochs = 2
    partial.train()
    resumed = make_solver(model=dropout_model(), **{**settings, "checkpoint_name": str(tmp_path / "p")})
    assert resumed.resume() == 2 and resumed.resumed_from == 2
    resumed.train()
    assert resumed.loss_history == straight.loss_history
    for key, value in straight.model.params.items():
        np.testing.assert_array_equal(resumed.model.params[key], value)


def ckpt_files(solver):
    return [path for _, path in epoch_files(solver.checkpoint_prefix)]


def newest_checkpoint(solver):
    """The path of the solver's highest-epoch checkpoint."""
    return ckpt_files(solver)[-1]


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    solver = make_solver(num_epochs=5, checkpoint_name=str(tmp_path / "k"), keep_last=2).train()
    assert [os.path.basename(p)[-11:] for p in ckpt_files(solver)] == ["epoch_4.npz",
                                                                      "epoch_5.npz"]


def test_a_checkpoint_of_other_settings_is_refused_and_not_resumed(tmp_path):
    name = str(tmp_path / "c")
    first = make_solver(num_epochs=2, checkpoint_name=name).train()
    other = make_solver(num_epochs=2, checkpoint_name=name, lr_decay=0.5)
    assert other.checkpoint_prefix != first.checkpoint_prefix
    assert other.resume() is None and other.epoch == 0
    before = {k: v.copy() for k, v in other.model.params.items()}
    with pytest.raises(ValueError, match="other settings"):
        other.load_checkpoint(newest_checkpoint(first))
    assert other.epoch == 0 and other.loss_history == []
    for key, value in before.items():
        np.testing.assert_array_equal(other.model.params[key], value)
    wider = make_solver(model=FullyConnectedNet([9], input_dim=6, num_classes=2, seed=0),
                        num_epochs=2, checkpoint_name=name)
    assert wider.checkpoint_prefix != first.checkpoint_prefix


def test_train_records_its_wall_time():
    solver = make_solver(num_epochs=1)
    assert solver.wall_time_s == 0.0
    assert solver.train().wall_time_s > 0


def test_resume_without_checkpoints_starts_from_scratch(tmp_path):
    solver = make_solver(checkpoint_name=str(tmp_path / "nothing"))
    assert solver.resume() is None and solver.epoch == 0
    assert make_solver().resume() is None                    # no checkpoint_name


def test_lr_schedule_sets_every_step_and_overrides_apply_by_name():
    seen = []

    def rule(w, dw, config):
        seen.append((config["learning_rate"]))
        return w, config
    schedule = optim.PiecewiseLinear([(0, 0.5), (1, 1.5)])
    solver = make_solver(update_rule=rule, optim_config={"learning_rate": 0.1}, num_epochs=1,
                         batch_size=50, data=toy_data(100), lr_schedule=schedule,
                         param_optim_config={"theta2": {"learning_rate": 1.0}}).train()
    names = list(solver.model.params)
    per_step = [dict(zip(names, seen[i:i + len(names)])) for i in range(0, len(seen), len(names))]
    assert [s["theta1"] for s in per_step] == pytest.approx([0.05, 0.1])
    assert [s["theta2"] for s in per_step] == pytest.approx([0.5, 1.0])
    with pytest.raises(ValueError, match="lr_decay"):
        make_solver(lr_schedule=schedule, lr_decay=0.9)


class BufferedModel:
    """A toy model with a buffer that counts the training steps it has seen."""

    def __init__(self):
        self.net = toy_model()
        self.params = self.net.params
        self.buffers = {"steps": np.zeros(1)}

    def load_buffers(self, buffers):
        self.buffers = {k: v.copy() for k, v in buffers.items()}

    def loss(self, X, y=None):
        if y is not None:
            self.buffers = {"steps": self.buffers["steps"] + 1}
        return self.net.loss(X, y)


def test_buffers_follow_the_best_parameters_and_the_checkpoints(tmp_path):
    solver = make_solver(model=BufferedModel(), num_epochs=3, lr_decay=1.0,
                         checkpoint_name=str(tmp_path / "b"), keep_last=3).train()
    best_epoch = int(np.argmax(solver.val_acc_history))
    assert solver.model.buffers["steps"][0] == best_epoch * solver.iterations_per_epoch
    resumed = make_solver(model=BufferedModel(), num_epochs=3, lr_decay=1.0,
                          checkpoint_name=str(tmp_path / "b"))
    resumed.load_checkpoint(f"{solver.checkpoint_prefix}_epoch_2.npz")
    assert resumed.model.buffers["steps"][0] == 2 * solver.iterations_per_epoch


def test_an_exploding_loss_stops_training_before_it_overflows():
    with pytest.raises(FloatingPointError, match="loss became .* training diverged"):
        make_solver(update_rule="adam", optim_config={"learning_rate": 1e3}, num_epochs=5).train()


def test_nan_in_the_data_is_named_instead_of_the_learning_rate():
    data = toy_data()
    data["X_train"][7, 2] = np.nan
    with pytest.raises(ValueError, match="X_train.*1 NaN or infinite.*fix the data"):
        make_solver(data=data)


def test_a_corrupted_latest_checkpoint_is_named_set_aside_and_resume_falls_back(tmp_path,
                                                                               capsys):
    settings = dict(num_epochs=3, checkpoint_name=str(tmp_path / "c"), keep_last=3)
    straight = make_solver(**settings).train()
    latest = newest_checkpoint(straight)
    with open(latest, "r+b") as f:                     # flip bytes in the middle
        f.seek(200)
        f.write(b"\x00\x01\x02\x03")
    fresh = make_solver(**settings)
    with pytest.raises(ValueError, match="epoch_3.npz is corrupted or truncated"):
        fresh.load_checkpoint(latest)
    assert fresh.epoch == 0
    assert fresh.resume() == 2
    err = capsys.readouterr().err
    assert "skipping" in err and "epoch_3.npz" in err and "SHA-256" in err
    assert os.path.exists(latest + ".broken") and os.path.exists(latest + ".sha256.broken")
    assert not os.path.exists(latest)
    with open(latest, "wb") as f:                      # truncated, without its hash file
        f.write(b"PK\x03\x04")
    with pytest.raises(ValueError, match="epoch_3.npz is not a readable checkpoint"):
        make_solver(**settings).load_checkpoint(latest)


def test_checkpoints_are_written_through_unique_synced_temporary_files(tmp_path, monkeypatch):
    import checkpoints
    names = []
    real = checkpoints.tempfile.mkstemp

    def spy(**kwargs):
        fd, name = real(**kwargs)
        names.append(name)
        return fd, name
    monkeypatch.setattr(checkpoints.tempfile, "mkstemp", spy)
    make_solver(num_epochs=2, checkpoint_name=str(tmp_path / "u")).train()
    assert len(names) == len(set(names)) == 4                # two checkpoints, two hashes
    assert not any(p.endswith(".tmp") for p in os.listdir(tmp_path))


class CountingModel:
    """One weight w; scores (0, w), so class 1 wins once w > 0; a buffer counts steps."""

    def __init__(self):
        self.params = {"w": np.zeros(1)}
        self.buffers = {"steps": np.zeros(1)}

    def load_buffers(self, buffers):
        self.buffers = {k: v.copy() for k, v in buffers.items()}

    def loss(self, X, y=None):
        scores = np.column_stack([np.zeros(len(X)), np.full(len(X), self.params["w"][0])])
        if y is None:
            return scores
        self.buffers = {"steps": self.buffers["steps"] + 1}
        return 0.0, {"w": np.zeros(1)}


def test_lookahead_pulls_weights_and_buffers_back_to_the_slow_average():
    def step_up(w, dw, config):            # every step adds 1 to the weight
        return w + 1, config
    data = dict(X_train=np.zeros((6, 1)), y_train=np.ones(6, int), X_val=np.zeros((2, 1)),
                y_val=np.ones(2, int))
    solver = make_solver(model=CountingModel(), data=data, update_rule=step_up, batch_size=1,
                         num_epochs=1, lookahead=optim.Lookahead(every=2, peak=0.5, power=0))
    solver.train()
    # t=2: slow = 2; t=4: slow = 2 + 0.5 * (4 - 2) = 3; t=6 (the last step): decay 1,
    # the model ends on the slow weights, 3, whatever the fast ones did after t=4.
    assert solver.model.params["w"][0] == 3.0
    assert solver.model.buffers["steps"][0] == 3.0
    assert optim.Lookahead().decay(1.0) == pytest.approx(0.95 ** 5)
    assert optim.Lookahead().decay(0.5) == pytest.approx(0.95 ** 5 / 8)


def test_lookahead_resumes_to_the_same_bits(tmp_path):
    settings = dict(update_rule="sgd_momentum", optim_config={"learning_rate": 0.05},
                    num_epochs=4, checkpoint_name=str(tmp_path / "la"), keep_last=4,
                    lookahead=optim.Lookahead(every=3))
    straight = make_solver(**settings).train()
    resumed = make_solver(**settings)
    resumed.load_checkpoint(f"{straight.checkpoint_prefix}_epoch_2.npz")
    resumed.train()
    assert resumed.loss_history == straight.loss_history
    for name, value in straight.model.params.items():
        np.testing.assert_array_equal(resumed.model.params[name], value)
    without = make_solver(**{**settings, "lookahead": None})
    assert without.checkpoint_prefix != straight.checkpoint_prefix


@pytest.mark.parametrize("kwargs, message", [
    ({"every": 0}, "every must be a positive integer"),
    ({"peak": 1.5}, "peak must be in"),
])
def test_bad_lookahead_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optim.Lookahead(**kwargs)
    with pytest.raises(ValueError, match="lookahead must be"):
        make_solver(lookahead=0.5)


def test_checkpoints_load_without_pickle_so_a_crafted_one_cannot_run_code(tmp_path):
    settings = dict(num_epochs=1, checkpoint_name=str(tmp_path / "c"))
    solver = make_solver(**settings).train()
    latest = newest_checkpoint(solver)
    with np.load(latest, allow_pickle=False) as archive:      # arrays and JSON only
        assert all(archive[name].dtype != object for name in archive.files)
    marker = tmp_path / "ran"
    crafted = tmp_path / "crafted_epoch_1.npz"
    np.savez(crafted, payload=np.array([RunsCode(str(marker))], dtype=object))
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        make_solver(**settings).load_checkpoint(str(crafted))
    assert not marker.exists()


def test_state_of_every_kind_round_trips_with_its_types():
    from checkpoints import state_bytes, state_from_bytes
    state = {"f32": np.float32(0.1), "i": 3, "big": 2 ** 100, "nan": float("nan"),
             "tuple": ("MT19937", np.arange(3, dtype=np.uint32), 2), "list": [1.5, None],
             "keys": {("param", "w"): np.ones(2, np.float32), 1: "one"}, "__odd": True}
    back = state_from_bytes(state_bytes(state))
    assert type(back["f32"]) is np.float32 and back["f32"] == np.float32(0.1)
    assert back["big"] == 2 ** 100 and np.isnan(back["nan"]) and back["list"] == [1.5, None]
    assert back["tuple"][0] == "MT19937" and back["tuple"][1].dtype == np.uint32
    assert isinstance(back["tuple"], tuple) and back["keys"][1] == "one" and back["__odd"]
    assert back["keys"][("param", "w")].dtype == np.float32
    with pytest.raises(TypeError, match=r"state\['bad'\] is a object"):
        state_bytes({"bad": object()})


def test_an_old_pickle_checkpoint_is_refused_with_advice_to_retrain(tmp_path):
    import pickle
    marker = tmp_path / "ran"
    old = tmp_path / "c_epoch_1.pkl"
    with open(old, "wb") as f:
        pickle.dump(RunsCode(str(marker)), f)
    solver = make_solver()
    with pytest.raises(ValueError, match=r"c_epoch_1\.pkl is a pickle checkpoint.*retrain"):
        solver.load_checkpoint(str(old))
    assert not marker.exists() and solver.epoch == 0
    import solver as solver_module
    assert not hasattr(solver_module, "convert_pickle_checkpoint")
    assert not hasattr(Solver, "latest_checkpoint")


def test_after_epoch_sees_every_epoch_and_can_stop_training(tmp_path):
    seen = []
    solver = make_solver(num_epochs=3, after_epoch=lambda s: seen.append(
        (s.epoch, len(s.val_acc_history)))).train()
    assert seen == [(1, 2), (2, 3), (3, 4)]

    class Hopeless(Exception):
        pass

    def stop_at_two(s):
        if s.epoch == 2:
            raise Hopeless
    stopped = make_solver(num_epochs=5, after_epoch=stop_at_two,
                          checkpoint_name=str(tmp_path / "h"))
    with pytest.raises(Hopeless):
        stopped.train()
    assert stopped.epoch == 2 and newest_checkpoint(stopped)
    assert stopped.fingerprint == make_solver(num_epochs=5, checkpoint_name="x").fingerprint


# ------------------------------------------------ resume never loses progress

def test_resume_sets_aside_broken_newest_files_and_pruning_keeps_the_new_progress(tmp_path,
                                                                                 capsys):
    settings = dict(num_epochs=3, checkpoint_name=str(tmp_path / "c"), keep_last=2)
    run = make_solver(**settings).train()
    for path in ckpt_files(run):                               # epochs 2 and 3
        with open(path, "r+b") as f:
            f.seek(100)
            f.write(b"\xff" * 8)
    again = make_solver(**settings)
    assert again.resume() is None and again.epoch == 0
    err = capsys.readouterr().err
    assert "epoch_3.npz" in err and "epoch_2.npz" in err and "starting from scratch" in err
    epochs_after_each = []
    again.settings["after_epoch"] = lambda s: epochs_after_each.append(
        [e for e, _ in epoch_files(s.checkpoint_prefix)])
    again.train()
    assert epochs_after_each == [[1], [1, 2], [2, 3]]          # the new epoch is never deleted
    assert len(glob.glob(str(tmp_path / "*.broken"))) == 4


def test_pruning_deletes_only_older_epochs_of_this_run(tmp_path):
    solver = make_solver(num_epochs=3, checkpoint_name=str(tmp_path / "c"), keep_last=1)
    foreign = [f"{solver.checkpoint_prefix}_epoch_9.npz",     # a newer epoch: not touched
               f"{solver.checkpoint_prefix}_epoch_x_epoch_1.npz"]   # not this run's name
    for path in foreign:
        with open(path, "wb") as f:
            f.write(b"junk")
    solver.train()
    assert [e for e, _ in epoch_files(solver.checkpoint_prefix)] == [3, 9]
    assert all(os.path.exists(p) for p in foreign)


def forge(path, change):
    from faults_solver import forge as forge_file
    forge_file(path, change)


@pytest.mark.parametrize("change, words", [
    (lambda s: s["random_state"].update(solver={"bit_generator": "MT19937", "state": {}}),
     "PCG64"),
    (lambda s: s.pop("log"), r"missing \['log'\]"),
    (lambda s: s["params"].update(theta2=np.zeros((8, 2), np.float32)), "theta2.*float64"),
    (lambda s: s["optim_configs"].pop("theta1"), "optim_configs"),
    (lambda s: s.update(t=3), "t = 3"),
])
def test_a_checkpoint_is_checked_whole_before_anything_is_assigned(tmp_path, change, words):
    run = make_solver(checkpoint_name=str(tmp_path / "c"), keep_last=3).train()
    path = f"{run.checkpoint_prefix}_epoch_2.npz"
    forge(path, change)
    fresh = make_solver(checkpoint_name=str(tmp_path / "c"))
    before = {k: v.copy() for k, v in fresh.model.params.items()}
    state = np.random.default_rng(0).bit_generator.state
    with pytest.raises(ValueError, match=r"c-\w+_epoch_2\.npz is incomplete or damaged: .*"
                                         + words):
        fresh.load_checkpoint(path)
    assert fresh.epoch == 0 and fresh.t == 0 and fresh.loss_history == [] and fresh.log == []
    assert fresh.rng.bit_generator.state == state
    for key, value in before.items():
        np.testing.assert_array_equal(fresh.model.params[key], value)
    assert make_solver(checkpoint_name=str(tmp_path / "c")).resume() == 3


@pytest.mark.parametrize("damage", ["truncate", "huge_header"])
def test_an_unparseable_checkpoint_without_its_hash_falls_back(tmp_path, damage, capsys):
    import faults_solver
    run = make_solver(checkpoint_name=str(tmp_path / "c"), keep_last=3).train()
    getattr(faults_solver, damage)(newest_checkpoint(run))
    with pytest.raises(ValueError, match=r"epoch_3\.npz is not a readable checkpoint"):
        make_solver(checkpoint_name=str(tmp_path / "c")).load_checkpoint(newest_checkpoint(run))
    resumed = make_solver(checkpoint_name=str(tmp_path / "c"))
    assert resumed.resume() == 2
    assert "epoch_3.npz is not a readable checkpoint" in capsys.readouterr().err


def test_one_run_per_checkpoint_name_at_a_time(tmp_path):
    name = str(tmp_path / "sub" / "c")
    second = make_solver(checkpoint_name=name, num_epochs=1)
    errors = []

    def start_second(_):
        for attempt in (second.train, second.resume):
            with pytest.raises(RuntimeError, match=r"holds the lock .*sub/c\.lock") as info:
                attempt()
            errors.append(str(info.value))
    make_solver(checkpoint_name=name, num_epochs=1, after_epoch=start_second).train()
    assert len(errors) == 2
    assert second.train().epoch == 1                         # free once the first has ended
    other = make_solver(checkpoint_name=str(tmp_path / "other"), num_epochs=1)
    make_solver(checkpoint_name=name, num_epochs=1,
                after_epoch=lambda _: other.train()).train()  # another name: no conflict


def test_stale_temporary_files_of_this_run_are_removed(tmp_path):
    solver = make_solver(checkpoint_name=str(tmp_path / "c"), num_epochs=1)
    mine = f"{solver.checkpoint_prefix}_epoch_2.npz.abc123.tmp"
    theirs = str(tmp_path / "other_epoch_2.npz.abc123.tmp")
    for path in (mine, theirs):
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
    solver.resume()
    assert not os.path.exists(mine) and os.path.exists(theirs)
    with open(mine, "wb") as f:
        f.write(b"half a checkpoint")
    solver.train()
    assert not os.path.exists(mine)


def test_the_fingerprint_covers_every_example_and_label():
    base = make_solver().fingerprint
    for key, index in (("X_train", (50, 3)), ("y_train", 50), ("X_val", (10, 0)), ("y_val", 10)):
        data = toy_data()
        data[key][index] = 1 - data[key][index]
        assert make_solver(data=data).fingerprint != base, key
    data = toy_data()
    data["X_train"] = np.asfortranarray(data["X_train"])      # the same values, other layout
    assert make_solver(data=data).fingerprint == base


# ------------------------------------------------ labels and sample counts

@pytest.mark.parametrize("key, change, words", [
    ("y_val", lambda y: y[:, None], r"y_val.*1-d.*\(20, 1\)"),
    ("y_val", lambda y: y + 0.5, "y_val.*integer"),
    ("y_val", lambda y: y.astype(float), "y_val.*integer"),
    ("y_train", lambda y: np.where(np.arange(len(y)) == 5, 2, y), r"y_train.*\[0, 2\)"),
    ("y_train", lambda y: y - 1, r"y_train.*from -1"),
])
def test_labels_that_cannot_be_scored_are_refused(key, change, words):
    data = toy_data()
    data[key] = change(data[key])
    with pytest.raises(ValueError, match=words):
        make_solver(data=data)


def test_check_accuracy_checks_labels_against_the_scores_without_num_classes():
    from faults_solver import NoClassCount
    data = toy_data()
    solver = make_solver(model=NoClassCount(), data=data)
    assert solver.check_accuracy(data["X_val"], np.zeros(20, int)) == 1.0
    with pytest.raises(ValueError, match=r"\[0, 2\) .*from 2 to 2"):
        solver.check_accuracy(data["X_val"], np.full(20, 2))
    with pytest.raises(ValueError, match="X and y"):
        solver.check_accuracy(data["X_val"], np.zeros(19, int))


@pytest.mark.parametrize("name, value", [("num_train_samples", 0), ("num_val_samples", -1),
                                         ("num_train_samples", 2.5), ("num_val_samples", True)])
def test_sample_counts_must_be_none_or_positive_integers(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive integer, got {value!r}"):
        make_solver(**{name: value})
    assert make_solver(num_train_samples=None, num_val_samples=5).train().epoch == 3


# ------------------------------------------------ what a divergence is blamed on

def test_huge_inputs_are_blamed_instead_of_the_learning_rate():
    data = toy_data()
    data["X_train"] = data["X_train"] * 1e30
    with pytest.raises(FloatingPointError, match=r"inputs reach \|x\| = .*scale the data"):
        make_solver(data=data).train()


def test_a_nan_buffer_set_before_training_is_named(recwarn):
    model = BufferedModel()
    model.net.params["theta2"][0, 0] = np.nan
    model.buffers["steps"][0] = np.inf
    with pytest.raises(FloatingPointError,
                       match=r"\['steps', 'theta2'\] hold NaN or Inf before any update"):
        make_solver(model=model).train()


# ------------------------------------------------ the log

def test_the_log_is_kept_checkpointed_and_replayed_on_resume(tmp_path, capsys):
    settings = dict(num_epochs=3, print_every=4, checkpoint_name=str(tmp_path / "c"))
    first = make_solver(**settings)
    first.num_epochs = 2                                      # killed after epoch 2
    first.train()
    assert [line[:11] for line in first.log] == (["(Epoch 0 / "] + ["(Iteration "] * 2
                                                 + ["(Epoch 1 / "] + ["(Iteration "] * 3
                                                 + ["(Epoch 2 / "])
    resumed = make_solver(**{**settings, "verbose": True})
    assert resumed.resume() == 2
    resumed.train()
    out = capsys.readouterr().out.splitlines()
    assert out[:len(first.log)] == [f"[recorded] {line}" for line in first.log]
    assert out[len(first.log)].startswith("resuming from") and "(epoch 2)" in out[-1 - 3]
    assert out[-1].startswith("(Epoch 3 / 3)") and "[recorded]" not in "".join(out[-4:])
    assert resumed.log[:len(first.log)] == first.log and len(resumed.log) == len(first.log) + 3


def decaying_row_run(monkeypatch, flushed):
    """A float32 net whose first input is always 0, so the first row of theta1 moves by
    weight decay alone: each SGD step halves it (learning rate 0.5, reg 1), from about 1e-5
    after the first epoch into the subnormal range after about 120 steps; 130 steps end inside
    it. Returns that row after the last step."""
    import solver as solver_module
    if not flushed:
        monkeypatch.setattr(solver_module, "floatmode", None)
    data = toy_data()
    data["X_train"] = data["X_train"].astype(np.float32)
    data["X_train"][:, 0] = 0
    model = FullyConnectedNet([8], input_dim=6, num_classes=2, weight_scale=0.1, reg=1.0,
                              dtype=np.float32, seed=0)
    last = {}
    make_solver(model, data, optim_config={"learning_rate": 0.5}, num_epochs=13,
                after_epoch=lambda s: last.update(row=s.model.params["theta1"][0].copy())).train()
    return last["row"]              # after the last step (train() then loads the best epoch's)


def test_training_flushes_subnormal_weights_to_zero(monkeypatch):
    """Training runs in subnormals_flushed(): the row that weight decay shrinks holds no
    subnormal number (its last decay step, itself subnormal, is flushed: the row stops just
    above the smallest normal float32), where the same run without the mode ends on subnormal
    numbers (slow arithmetic)."""
    floatmode = pytest.importorskip("floatmode", reason="Cython build missing: make build")
    if not floatmode.supported():
        pytest.skip("the CPU has no flush-to-zero mode")
    tiny = np.finfo(np.float32).tiny
    with pytest.warns(RuntimeWarning, match="floatmode is not built"):
        plain = decaying_row_run(monkeypatch, flushed=False)
    assert np.all((plain != 0) & (np.abs(plain) < tiny))
    monkeypatch.undo()
    flushed = decaying_row_run(monkeypatch, flushed=True)
    assert not np.any((flushed != 0) & (np.abs(flushed) < tiny))
    assert not floatmode.flushing_subnormals()            # the mode is restored after train()


def test_the_mode_is_restored_when_training_fails():
    floatmode = pytest.importorskip("floatmode", reason="Cython build missing: make build")
    def fail(solver):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_solver(after_epoch=fail).train()
    assert not floatmode.flushing_subnormals()
