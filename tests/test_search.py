"""search.py: spaces, narrowing, pruning, and (slow, on CIFAR-10 in quick mode) a search
that is killed and resumed with the same command, and two workers sharing one study."""
import os
import re
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
    (dict(name="two-layer", n_trials=0), "n_trials must be a positive integer"),
    (dict(name="two-layer", n_trials=1, stage="medium"), "stage must be"),
    (dict(name="fc", n_trials=1, stage="fine"), "no completed trial to narrow around"),
])
def test_bad_arguments_are_named(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        search.run_search(storage=f"sqlite:///{tmp_path}/s.db", **kwargs)


def _command(db, trials, *extra):
    return [sys.executable, os.path.join(ROOT, "search.py"), "two-layer", "--trials",
            str(trials), "--storage", f"sqlite:///{db}", "--grace", "2", *extra]


def _env():
    return dict(os.environ, HW5_QUICK="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def _quick_study_name():
    """The coarse two-layer study's name in quick mode (its budget, hence digest, differs)."""
    return subprocess.run([sys.executable, "-c", "import search; print(search.study_name("
                           "'two-layer', 'coarse'))"], env=_env(), cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()


def _states(db, name):
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    return [t.state for t in study.trials], study


@pytest.mark.slow
def test_a_killed_search_resumes_with_the_same_command(cifar10, tmp_path):
    db, name = tmp_path / "search.db", _quick_study_name()
    worker = subprocess.Popen(_command(db, 8), env=_env(), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            if db.exists() and sum(s in search.STATES_DONE for s in _states(db, name)[0]) >= 2:
                break
        except KeyError:                       # the worker has not created the study yet
            continue
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    before = _states(db, name)[0]
    assert sum(s in search.STATES_DONE for s in before) < 8
    time.sleep(3)                                  # past the grace period of 2 s
    done = subprocess.run(_command(db, 8), env=_env(), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    states, study = _states(db, name)
    assert sum(s in search.STATES_DONE for s in states) >= 8
    assert optuna.trial.TrialState.RUNNING not in states
    assert "best validation accuracy" in done.stdout
    rows = search.trials_table(study)
    assert all(r["epochs"] >= 1 for r in rows if r["state"] in ("complete", "pruned"))


@pytest.mark.slow
def test_two_workers_share_one_study(cifar10, tmp_path):
    db, name = tmp_path / "search.db", _quick_study_name()
    done = subprocess.run(_command(db, 6, "--workers", "2"), env=_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    states, study = _states(db, name)
    assert sum(s in search.STATES_DONE for s in states) >= 6
    workers = {t.user_attrs["worker"] for t in study.trials}
    assert len(workers) == 2


def recorded_study(stage="coarse"):
    """An in-memory study of the fc space with two complete, one pruned and one failed trial."""
    space = search.SPACES["fc"]
    dists = {k: optuna.distributions.FloatDistribution(lo, hi, log=scale == "log")
             for k, (lo, hi, scale) in space.items()}
    study = optuna.create_study(study_name=search.study_name("fc", stage), direction="maximize")
    point = dict(learning_rate=1e-3, dropout=0.2, reg=1e-4, lr_decay=0.9)
    for value, state, curve in ((0.5, "COMPLETE", [0.1, 0.4, 0.5]), (0.55, "COMPLETE", [0.1, 0.55]),
                                (None, "PRUNED", [0.1, 0.2]), (None, "FAIL", [])):
        study.add_trial(optuna.trial.create_trial(
            params=point, distributions=dists, value=value,
            state=getattr(optuna.trial.TrialState, state),
            user_attrs={"val_acc_history": curve, "wall_time_s": 2.0, "worker": "h:1"}))
    return study


def test_table_summary_and_plot_of_a_study(capsys):
    study = recorded_study()
    search.print_trials(study)
    printed = capsys.readouterr().out
    for text in ("learning rate", "dropout", "val acc", "pruned", "fail", "0.550"):
        assert text in printed
    rows = search.trials_table(study)
    assert [r["epochs"] for r in rows] == [2, 1, 1, 0]
    assert [r["val_acc"] for r in rows][:3] == [0.5, 0.55, 0.2] and np.isnan(rows[3]["val_acc"])
    entry = search.summary(study)
    assert entry["states"] == {"complete": 2, "fail": 1, "pruned": 1}
    assert entry["best_val_acc"] == 0.55 and entry["best_trial"] == 1
    assert entry["trial_seconds"] == 8.0 and entry["best_params"]["dropout"] == 0.2
    axes = search.plot_trials([study, recorded_study("fine")])
    assert [ax.get_xlabel() for ax in axes] == ["learning rate", "dropout", "reg", "lr decay"]
    assert axes[0].get_xscale() == "log" and axes[1].get_xscale() == "linear"
    assert len(axes[0].collections) == 4              # complete and pruned, for each study
    import matplotlib.pyplot as plt
    plt.close("all")


def test_the_fc_objective_trains_a_batchnorm_dropout_net_and_reports_each_epoch():
    rng = np.random.default_rng(0)
    y = rng.integers(10, size=40)
    X = rng.standard_normal((40, 3, 32, 32)).astype(np.float32) + y[:, None, None, None] * 0.1
    data = dict(X_train=X, y_train=y, X_val=X[:10], y_val=y[:10])
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    value = search.fc_trial(trial, data, search.SPACES["fc"], dict(num_train=30, num_epochs=2))
    assert 0 <= value <= 1
    assert len(trial.user_attrs["val_acc_history"]) == 3 and trial.user_attrs["wall_time_s"] >= 0
    assert set(trial.params) == set(search.SPACES["fc"])


def test_a_worker_runs_its_trials_on_the_blas_threads_it_is_given(monkeypatch, tmp_path):
    from fast_layers import _blas_threads
    seen = []

    def objective(trial, data, space, budget):
        seen.append(_blas_threads())
        return search.suggest(trial, space)["learning_rate"]
    monkeypatch.setitem(search.SPACES, "toy", {"learning_rate": (1e-4, 10.0, "log")})
    monkeypatch.setitem(search.BUDGETS, "toy", {"coarse": {}, "fine": {}})
    monkeypatch.setitem(search.EXPERIMENTS, "toy", (objective, dict))
    before = _blas_threads()
    storage = f"sqlite:///{tmp_path}/toy.db"
    assert search._worker("toy", "coarse", 2, storage, 0, 60, search.SPACES["toy"], threads=1) == 2
    assert seen == [1, 1] and _blas_threads() == before      # the limit ends with the worker


def test_coarse_then_fine_on_a_toy_experiment_resumes_to_the_count(monkeypatch, tmp_path):
    """In one process: a coarse study of 6 trials, rerun asking for 8 (it adds 2), then a fine
    study that draws only inside the space narrowed around the coarse study's best."""
    def objective(trial, data, space, budget):
        point = search.suggest(trial, space)
        trial.set_user_attr("val_acc_history", [0.0, -abs(np.log(point["learning_rate"] / 0.1))])
        return -abs(np.log(point["learning_rate"] / 0.1))
    monkeypatch.setitem(search.SPACES, "toy", {"learning_rate": (1e-4, 10.0, "log")})
    monkeypatch.setitem(search.BUDGETS, "toy", {"coarse": {}, "fine": {}})
    monkeypatch.setitem(search.EXPERIMENTS, "toy", (objective, dict))
    storage = f"sqlite:///{tmp_path}/toy.db"
    assert len(search.run_search("toy", 6, storage=storage).trials) == 6
    coarse = search.run_search("toy", 8, storage=storage)
    assert len(coarse.trials) == 8
    fine = search.run_search("toy", 4, stage="fine", storage=storage)
    low, high, _ = search.narrow(search.SPACES["toy"], coarse)["learning_rate"]
    assert fine.study_name == search.study_name("toy", "fine") and len(fine.trials) == 4
    assert all(low <= t.params["learning_rate"] <= high for t in fine.trials)
    assert (low, high) != search.SPACES["toy"]["learning_rate"][:2]


def test_the_storage_comes_from_the_environment_and_its_password_is_never_printed(monkeypatch):
    monkeypatch.delenv(search.STORAGE_ENV, raising=False)
    assert search.default_storage().startswith("sqlite:///")
    assert search.default_storage().endswith("search.db")
    url = "postgresql+psycopg2://hw5:secret@db.example:5432/hw5"
    monkeypatch.setenv(search.STORAGE_ENV, url)
    assert search.default_storage() == url
    assert search._shown(url) == "postgresql+psycopg2://hw5:***@db.example:5432/hw5"
    assert search._shown("postgresql+psycopg2://hw5@127.0.0.1/hw5").endswith("hw5@127.0.0.1/hw5")
    assert search._shown(f"sqlite:///{search.ROOT}/runs/search.db") == "sqlite:///runs/search.db"


def test_a_study_name_changes_with_the_space_or_the_budget(monkeypatch):
    name = search.study_name("two-layer", "coarse")
    assert re.fullmatch(r"two-layer-coarse-[0-9a-f]{8}", name)
    assert search.study_name("two-layer", "fine") != name
    monkeypatch.setitem(search.BUDGETS, "two-layer", {"coarse": {"num_train": 5, "num_epochs": 1}})
    assert search.study_name("two-layer", "coarse") != name
    with pytest.raises(ValueError, match="not named"):
        search.print_trials(optuna.create_study(study_name="two-layer"))


def test_a_resumed_search_draws_new_settings_not_the_first_ones_again(monkeypatch, tmp_path):
    monkeypatch.setitem(search.SPACES, "toy", {"learning_rate": (1e-4, 10.0, "log")})
    monkeypatch.setitem(search.BUDGETS, "toy", {"coarse": {}, "fine": {}})
    monkeypatch.setitem(search.EXPERIMENTS, "toy", (
        lambda trial, data, space, budget: search.suggest(trial, space)["learning_rate"], dict))
    storage = f"sqlite:///{tmp_path}/toy.db"
    search.run_search("toy", 3, storage=storage)
    study = search.run_search("toy", 6, storage=storage)         # as after a kill: same seed
    drawn = [t.params["learning_rate"] for t in study.trials]
    assert len(drawn) == 6 and len(set(drawn)) == 6
