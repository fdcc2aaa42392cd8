"""search.py: spaces, narrowing, pruning, and (slow, on CIFAR-10 in quick mode) a search
that is killed and resumed with the same command, and two workers sharing one study."""
import contextlib
import datetime
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest
import sqlalchemy

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


class PrunesAtTheLastEpoch(FakeTrial):
    def should_prune(self):
        return len(self.reports) == 3


def test_the_reporter_never_prunes_a_trial_that_ran_all_its_epochs():
    trial = PrunesAtTheLastEpoch(prune=True)
    solver = toy_solver(search.reporter(trial)).train()
    assert solver.epoch == 3 and [step for step, _ in trial.reports] == [1, 2, 3]


def test_a_search_says_what_it_searches_and_what_its_trials_did_not_finish(monkeypatch,
                                                                         tmp_path, capsys):
    """The header counts the trials that finished against those asked, names the failed ones
    besides, and prints the space and the budget; the table explains each state it shows."""
    def objective(trial, data, space, budget):
        if trial.number == 1:
            raise FloatingPointError("loss became inf")
        trial.set_user_attr("val_acc_history", [0.1, 0.5])
        return 0.5
    monkeypatch.setitem(search.SPACES, "toy", {"learning_rate": (1e-4, 10.0, "log"),
                                               "p": (0.0, 0.5, "linear")})
    monkeypatch.setitem(search.BUDGETS, "toy", {"coarse": {"num_train": None, "num_epochs": 2}})
    monkeypatch.setitem(search.EXPERIMENTS, "toy", (objective, dict))
    storage = f"sqlite:///{tmp_path}/toy.db"
    search.run_search("toy", 3, storage=storage)
    study = search.run_search("toy", 3, storage=storage)
    out = capsys.readouterr().out.splitlines()
    assert "3 of the 3 trials asked finished (complete or pruned), besides: 1 failed" in out[-3]
    assert out[-2] == "space: learning rate 0.0001 to 10 (log); p 0 to 0.5 (linear)"
    assert out[-1] == "each trial trains: training images all, epochs 2"
    search.print_trials(study)
    notes = capsys.readouterr().out.splitlines()
    assert notes[-1] == search.STATE_NOTES["fail"] and "pruned:" not in "".join(notes)


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


def _peek(db, sql, *args):
    """Rows of sql on the SQLite file db opened read-only, [] while the file or its tables
    do not exist yet. Not through Optuna, whose storage would create the tables itself and
    race the search that is creating them."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError:          # no file, no tables yet, or locked for a moment
        return []


def _finished_trials(db, name):
    rows = _peek(db, "SELECT COUNT(*) FROM trials JOIN studies USING (study_id) "
                     "WHERE study_name = ? AND state IN ('COMPLETE', 'PRUNED')", name)
    return rows[0][0] if rows else 0


def _worker_pids(db):
    """The pids that have run a trial of any study in db."""
    return {int(json.loads(v).rsplit(":", 1)[1]) for (v,) in
            _peek(db, "SELECT value_json FROM trial_user_attributes WHERE key = 'worker'")}


def _wait_for(condition, process, log, seconds):
    """Poll condition() every half second until it holds; fail, showing the search's log,
    if process exits first or seconds pass."""
    deadline = time.time() + seconds
    while not condition():
        assert process.poll() is None, f"the search exited ({process.returncode}):\n" \
                                       + log.read_text()[-2000:]
        assert time.time() < deadline, f"not done after {seconds} s:\n" + log.read_text()[-2000:]
        time.sleep(0.5)


@pytest.mark.slow
def test_a_killed_search_resumes_with_the_same_command(cifar10, tmp_path):
    db, name, log = tmp_path / "search.db", _quick_study_name(), tmp_path / "search.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(_command(db, 8), env=_env(), cwd=ROOT, stdout=out, stderr=out)
    try:
        _wait_for(lambda: _finished_trials(db, name) >= 2, worker, log, 240)
    finally:
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


@pytest.mark.slow
def test_the_recipe_search_starts_from_the_recipes_settings(cifar10, tmp_path):
    db = tmp_path / "search.db"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "search.py"), "best", "--trials",
                           "2", "--storage", f"sqlite:///{db}"], env=_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (study,) = optuna.get_all_study_summaries(f"sqlite:///{db}")
    trials = optuna.load_study(study_name=study.study_name, storage=f"sqlite:///{db}").trials
    assert study.study_name.startswith("best-coarse-") and len(trials) == 2
    assert trials[0].params == pytest.approx(search.start_point("best"))
    assert trials[1].params != trials[0].params
    for t in trials:
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert t.value == max(t.user_attrs["val_acc_history"])
        assert len(t.user_attrs["val_acc_history"]) == 2          # epoch 0 and the one epoch


def _alive(pid):
    """Whether pid runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads process states in /proc")
def test_killing_a_search_ends_its_workers(cifar10, tmp_path):
    db, name, log = tmp_path / "search.db", _quick_study_name(), tmp_path / "search.log"
    with open(log, "w") as out:
        parent = subprocess.Popen(_command(db, 50, "--workers", "2"), env=_env(), cwd=ROOT,
                                  stdout=out, stderr=out)
    try:
        _wait_for(lambda: len(_worker_pids(db)) == 2, parent, log, 240)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    workers = _worker_pids(db)
    assert parent.pid not in workers
    deadline = time.time() + 20
    while any(map(_alive, workers)) and time.time() < deadline:
        time.sleep(0.5)
    survivors = [pid for pid in workers if _alive(pid)]
    for pid in survivors:                          # leave nothing running whatever happens
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"workers {survivors} ran on after their search was killed"


OPEN_AT = """
import sys, time
import search
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
search.open_study("two-layer", storage=sys.argv[1])
"""


def test_processes_opening_a_new_database_at_once_all_get_the_study(tmp_path):
    url = f"sqlite:///{tmp_path}/search.db"
    start = time.time() + 8                          # after every process has imported search
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT, url, str(start)], cwd=ROOT,
                              env=_env(), stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(errors)[-3000:]
    studies = optuna.get_all_study_summaries(f"sqlite:///{tmp_path}/search.db")
    assert [s.study_name for s in studies] == [_quick_study_name()]


class FlakyStorage:
    """Stands in for RDBStorage: fails its first `fails` constructions as a racing
    process would, then succeeds."""
    def __init__(self, fails, error):
        self.fails, self.error, self.calls = fails, error, 0

    def __call__(self, url, **kwargs):
        self.calls += 1
        if self.calls <= self.fails:
            raise self.error
        return ("storage", url)


@pytest.mark.parametrize("error", [
    sqlalchemy.exc.OperationalError("CREATE TABLE studies", {}, Exception("already exists")),
    sqlalchemy.exc.IntegrityError("INSERT INTO version_info", {}, Exception("UNIQUE failed")),
])
def test_opening_the_storage_retries_a_racing_table_creation(monkeypatch, error):
    flaky = FlakyStorage(2, error)
    monkeypatch.setattr(optuna.storages, "RDBStorage", flaky)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    assert search._rdb_storage("sqlite:///x.db", grace=60) == ("storage", "sqlite:///x.db")
    assert flaky.calls == 3
    always = FlakyStorage(10, error)
    monkeypatch.setattr(optuna.storages, "RDBStorage", always)
    with pytest.raises(type(error)):
        search._rdb_storage("sqlite:///x.db", grace=60, attempts=4)
    assert always.calls == 4


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
    assert axes[0].figure._suptitle.get_text() == (
        "fc search (coarse then fine): validation accuracy of each trial")
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
    from batch_slices import blas_threads
    seen = []

    def objective(trial, data, space, budget):
        seen.append(blas_threads())
        return search.suggest(trial, space)["learning_rate"]
    monkeypatch.setitem(search.SPACES, "toy", {"learning_rate": (1e-4, 10.0, "log")})
    monkeypatch.setitem(search.BUDGETS, "toy", {"coarse": {}, "fine": {}})
    monkeypatch.setitem(search.EXPERIMENTS, "toy", (objective, dict))
    before = blas_threads()
    storage = f"sqlite:///{tmp_path}/toy.db"
    assert search._worker("toy", "coarse", 2, storage, 0, 60, search.SPACES["toy"], threads=1) == 2
    assert seen == [1, 1] and blas_threads() == before      # the limit ends with the worker


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
    monkeypatch.delenv(search.SEARCH_STORAGE_ENV, raising=False)
    assert search.default_storage().startswith("sqlite:///")
    assert search.default_storage().endswith("search.db")
    url = "postgresql+psycopg2://hw5:secret@db.example:5432/hw5"
    monkeypatch.setenv(search.SEARCH_STORAGE_ENV, url)
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


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_a_trial_killed_before_its_first_heartbeat_is_failed_and_retried(tmp_path):
    """Optuna's fail_stale_trials skips running trials without a heartbeat; a search killed
    right as it began one left it 'running' for good."""
    storage = search._rdb_storage(f"sqlite:///{tmp_path / 'db.sqlite'}", grace=1)
    study = optuna.create_study(storage=storage, study_name="s")
    dead = study.ask()                            # running, never beaten
    time.sleep(1.5)
    fresh = study.ask()                           # just started: may still be alive
    with search._experimental_allowed():
        search.fail_dead_trials(study, grace=1)
    states = {t.number: t.state for t in study.trials}
    assert states[dead.number] == optuna.trial.TrialState.FAIL
    assert states[fresh.number] == optuna.trial.TrialState.RUNNING
    assert sum(s == optuna.trial.TrialState.WAITING for s in states.values()) == 1   # its retry


def test_search_reads_no_private_part_of_optuna():
    """Issue 19 item 5: only Optuna's public API (no optuna.storages._rdb, study._study_id,
    study._storage), so an Optuna upgrade cannot silently break the dead-trial handling."""
    with open(os.path.join(ROOT, "search.py")) as f:
        source = f.read()
    assert not re.findall(r"optuna(?:\.\w+)*\._\w+|\._(?:study_id|storage|backend)\b", source)
    assert "import optuna\n" in source and "from optuna" not in source


def test_optuna_fail_stale_trials_still_skips_a_trial_without_heartbeat(tmp_path):
    """The Optuna behaviour fail_dead_trials makes up for (issue optuna/optuna#4026, kept by
    PR #4055): should a later Optuna fail such trials itself, this fails, and the age rule
    of search._dead can go."""
    storage = search._rdb_storage(f"sqlite:///{tmp_path / 'db.sqlite'}", grace=1)
    study = optuna.create_study(storage=storage, study_name="s")
    with pytest.warns(UserWarning, match="Heartbeat"):
        study.ask()
    time.sleep(1.5)
    with search._experimental_allowed():
        optuna.storages.fail_stale_trials(study)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.RUNNING]


def _toy(monkeypatch, objective):
    monkeypatch.setitem(search.SPACES, "toy", {"learning_rate": (1e-4, 10.0, "log")})
    monkeypatch.setitem(search.BUDGETS, "toy", {"coarse": {}, "fine": {}})
    monkeypatch.setitem(search.EXPERIMENTS, "toy", (objective, dict))


def test_a_trial_records_its_worker_as_it_starts(monkeypatch, tmp_path):
    seen = []

    def objective(trial, data, space, budget):
        seen.append(dict(trial.user_attrs))
        return search.suggest(trial, space)["learning_rate"]
    _toy(monkeypatch, objective)
    search.run_search("toy", 2, storage=f"sqlite:///{tmp_path}/toy.db")
    assert seen == [{"worker": f"{search.HOST}:{os.getpid()}",
                     "owner": {"host": search.HOST, "pid": os.getpid(), "trial": number}}
                    for number in (0, 1)]


def test_a_search_stops_after_max_failures_failed_trials_in_a_row(monkeypatch, tmp_path, capsys):
    def objective(trial, data, space, budget):
        raise FloatingPointError(f"loss became inf in trial {trial.number}")
    _toy(monkeypatch, objective)
    storage = f"sqlite:///{tmp_path}/toy.db"
    with pytest.raises(search.TrialsKeepFailing,
                       match=r"2 trials in a row failed \(numbers 0..1; max_failures=2\), the "
                             r"last with FloatingPointError: loss became inf in trial 1"):
        search.main(["toy", "--trials", "100", "--storage", storage, "--max-failures", "2"])
    with pytest.raises(search.TrialsKeepFailing, match="numbers 2..6; max_failures=5"):
        search.run_search("toy", 100, storage=storage)     # the default: 5 more, then stop
    assert len(optuna.load_study(study_name=search.study_name("toy", "coarse"),
                                 storage=storage).trials) == 7


def test_a_nan_value_counts_as_a_failure_and_is_named(monkeypatch, tmp_path):
    _toy(monkeypatch, lambda trial, data, space, budget: float("nan"))
    with pytest.raises(search.TrialsKeepFailing, match="value that is not a number"):
        search.run_search("toy", 10, storage=f"sqlite:///{tmp_path}/toy.db", max_failures=2)


def test_a_sqlite_file_in_a_missing_folder_is_named_before_any_retry(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(optuna.storages, "RDBStorage", lambda *a, **k: calls.append(a))
    missing = tmp_path / "no" / "such"
    with pytest.raises(ValueError, match=f"the folder {missing} of the SQLite file does not exist"):
        search.open_study("two-layer", storage=f"sqlite:///{missing}/search.db")
    assert calls == [] and not (tmp_path / "no").exists()      # nothing created, nothing retried


def test_a_restart_fails_the_trials_of_its_dead_workers_at_once(monkeypatch, tmp_path):
    """A search rerun right after a kill (no grace waited): the killed worker's trial is
    failed and retried; a live worker's trial on this machine is left running."""
    _toy(monkeypatch, lambda trial, data, space, budget: search.suggest(trial, space)["learning_rate"])
    storage = f"sqlite:///{tmp_path}/toy.db"
    study = search.open_study("toy", storage=storage)
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid in (killed.pid, alive.pid):
            number = len(study.trials)
            study.add_trial(optuna.trial.FrozenTrial(
                number=number, state=optuna.trial.TrialState.RUNNING, value=None,
                datetime_start=datetime.datetime.now(), datetime_complete=None,
                params={"learning_rate": 0.1}, distributions={
                    "learning_rate": optuna.distributions.FloatDistribution(1e-4, 10.0, log=True)},
                user_attrs={"owner": {"host": search.HOST, "pid": pid, "trial": number}},
                system_attrs={}, intermediate_values={}, trial_id=-1))
        study = search.run_search("toy", 2, storage=storage)
    finally:
        alive.kill()
        alive.wait()
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "RUNNING", "COMPLETE", "COMPLETE"]
    assert study.trials[2].params == {"learning_rate": 0.1}            # the retry of trial 0
    assert study.trials[2].system_attrs["failed_trial"] == 0
    assert search.fail_dead_trials(study, grace=60) == [1]             # its worker ended now


def test_the_best_budget_trains_the_quick_recipe_widths_in_quick_mode(monkeypatch):
    """search.py writes the quick widths out (importing best_model there would make the fully
    connected notebooks depend on the conv net): they must stay QUICK_BEST's."""
    import importlib

    import best_model
    monkeypatch.setenv("HW5_QUICK", "1")
    quick = importlib.reload(search)
    try:
        assert quick.BUDGETS["best"]["coarse"]["widths"] == best_model.QUICK_BEST["widths"]
    finally:
        monkeypatch.delenv("HW5_QUICK")
        importlib.reload(search)
