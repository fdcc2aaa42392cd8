"""search.py: spaces, narrowing, pruning, and (slow, on CIFAR-10 in quick mode) a search
that is killed and resumed with the same command, and two workers sharing one study."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest

import search
from fc_net import FullyConnectedNet
from solver import Solver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPACE = {"width": (4, 64, "log"), "learning_rate": (1e-3, 1.0, "log"), "p": (0.0, 0.5, "linear")}
optuna.logging.set_verbosity(optuna.logging.WARNING)


def quadratic_study(n=30):
    """A study whose best points are near width 16, learning rate 0.1, p 0.25."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: -sum(v ** 2 for v in (
        np.log(search.suggest(t, SPACE)["width"] / 16), np.log(t.params["learning_rate"] / 0.1),
        t.params["p"] - 0.25)), n_trials=n)
    return study


def test_suggest_draws_inside_the_space_with_the_right_types():
    study = quadratic_study()
    for t in study.trials:
        assert isinstance(t.params["width"], int) and 4 <= t.params["width"] <= 64
        assert 1e-3 <= t.params["learning_rate"] <= 1.0 and 0 <= t.params["p"] <= 0.5
    with pytest.raises(ValueError, match="'log' or 'linear'"):
        optuna.create_study().optimize(lambda t: search.suggest(t, {"x": (0, 1, "cubic")}),
                                       n_trials=1, catch=())


def test_narrow_keeps_the_best_trials_inside_a_smaller_space():
    study = quadratic_study()
    fine = search.narrow(SPACE, study, top=5)
    best = sorted(study.trials, key=lambda t: -t.value)[:5]
    for name, (low, high, scale) in fine.items():
        assert scale == SPACE[name][2]
        assert SPACE[name][0] <= low < high <= SPACE[name][1]
        assert all(low <= t.params[name] <= high for t in best)
    assert np.log(fine["learning_rate"][1] / fine["learning_rate"][0]) < np.log(1e3)
    with pytest.raises(ValueError, match="no completed trial"):
        search.narrow(SPACE, optuna.create_study())


class FakeTrial:
    def __init__(self, prune):
        self.prune, self.reports, self.user_attrs = prune, [], {}

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return self.prune

    def set_user_attr(self, key, value):
        self.user_attrs[key] = value


def toy_solver(after_epoch):
    rng = np.random.default_rng(0)
    y = rng.integers(2, size=60)
    X = rng.standard_normal((60, 5)) + 2 * y[:, None]
    data = dict(X_train=X, y_train=y, X_val=X[:20], y_val=y[:20])
    model = FullyConnectedNet([6], input_dim=5, num_classes=2, dtype=np.float64, seed=0)
    return Solver(model, data, num_epochs=3, batch_size=10, verbose=False, seed=0,
                  optim_config={"learning_rate": 0.1}, after_epoch=after_epoch)


def test_the_reporter_reports_every_epoch_and_prunes_when_told():
    trial = FakeTrial(prune=False)
    solver = toy_solver(search.reporter(trial)).train()
    assert [step for step, _ in trial.reports] == [1, 2, 3]
    assert [v for _, v in trial.reports] == solver.val_acc_history[1:]
    pruned = FakeTrial(prune=True)
    with pytest.raises(optuna.TrialPruned, match="epoch 1"):
        toy_solver(search.reporter(pruned)).train()
    assert len(pruned.user_attrs["val_acc_history"]) == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="three-layer", n_trials=1), "unknown experiment"),
    (dict(name="two-layer", n_trials=1, workers=0), "workers must be a positive integer"),
    (dict(name="two-layer", n_trials=1, stage="medium"), "stage must be"),
])
def test_bad_arguments_are_named(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        search.run_search(storage=f"sqlite:///{tmp_path}/s.db", **kwargs)


def _command(db, trials, *extra):
    return [sys.executable, os.path.join(ROOT, "search.py"), "two-layer", "--trials",
            str(trials), "--storage", f"sqlite:///{db}", "--grace", "2", *extra]


def _env():
    return dict(os.environ, HW5_QUICK="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def _states(db):
    study = optuna.load_study(study_name="two-layer-coarse", storage=f"sqlite:///{db}")
    return [t.state for t in study.trials], study


@pytest.mark.slow
def test_a_killed_search_resumes_with_the_same_command(cifar10, tmp_path):
    db = tmp_path / "search.db"
    worker = subprocess.Popen(_command(db, 8), env=_env(), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.5)
        if db.exists() and sum(s in search.STATES_DONE for s in _states(db)[0]) >= 2:
            break
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    before = _states(db)[0]
    assert sum(s in search.STATES_DONE for s in before) < 8
    time.sleep(3)                                  # past the grace period of 2 s
    done = subprocess.run(_command(db, 8), env=_env(), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    states, study = _states(db)
    assert sum(s in search.STATES_DONE for s in states) >= 8
    assert optuna.trial.TrialState.RUNNING not in states
    assert "best validation accuracy" in done.stdout
    rows = search.trials_table(study)
    assert all(r["epochs"] >= 1 for r in rows if r["state"] in ("complete", "pruned"))


@pytest.mark.slow
def test_two_workers_share_one_study(cifar10, tmp_path):
    db = tmp_path / "search.db"
    done = subprocess.run(_command(db, 6, "--workers", "2"), env=_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    states, study = _states(db)
    assert sum(s in search.STATES_DONE for s in states) >= 6
    workers = {t.user_attrs["worker"] for t in study.trials}
    assert len(workers) == 2
