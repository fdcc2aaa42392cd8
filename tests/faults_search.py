"""Bad inputs and faults of the search: each case is tried by tests/test_fault_table.py and listed in tests/FAULTS.md."""
import contextlib
import datetime
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import optuna  # noqa: E402

import search  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)
RUNNING, FAIL = optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL
TOY_SPACE = {"learning_rate": (1e-4, 10.0, "log")}


@contextlib.contextmanager
def toy_experiment(objective):
    """search's tables with a 'toy' experiment: objective(trial, data, space, budget), no data."""
    tables = (search.SPACES, search.BUDGETS, search.EXPERIMENTS)
    entries = (TOY_SPACE, {"coarse": {}, "fine": {}}, (objective, dict))
    for table, entry in zip(tables, entries):
        table["toy"] = entry
    try:
        yield
    finally:
        for table in tables:
            table.pop("toy", None)


def _url(tmp):
    return f"sqlite:///{os.path.join(str(tmp), 'search.db')}"


def _search(**kwargs):
    """run_search('two-layer', 1) on a database in tmp with kwargs (checked before any data)."""
    def trial(tmp):
        arguments = dict(dict(name="two-layer", n_trials=1, storage=_url(tmp)), **kwargs)
        search.run_search(**arguments)
    return trial


def _learning_rate(trial, data, space, budget):
    return search.suggest(trial, space)["learning_rate"]


def _diverges(trial, data, space, budget):
    search.suggest(trial, space)
    raise FloatingPointError("loss became nan at iteration 3")


def every_trial_fails(tmp):
    with toy_experiment(_diverges):
        search.run_search("toy", 50, storage=_url(tmp), max_failures=3)


def failures_between_successes(tmp):
    def every_other(trial, data, space, budget):
        if trial.number % 2 == 0:
            _diverges(trial, data, space, budget)
        return _learning_rate(trial, data, space, budget)
    with toy_experiment(every_other):
        study = search.run_search("toy", 4, storage=_url(tmp), max_failures=2)
    states = [t.state for t in study.trials]
    return (f"{states.count(optuna.trial.TrialState.COMPLETE)} trials done and "
            f"{states.count(FAIL)} failed, alternately; the search ran to the count")


def _dead_pid():
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _left_running(owner, started_ago=0.0, grace=60):
    """A study in tmp holding one RUNNING trial with user attrs owner (a function of the
    trial's number, or None) that started started_ago seconds ago; fail_dead_trials on it.
    Returns a sentence: the trials failed and the states afterwards."""
    def trial(tmp):
        with toy_experiment(_learning_rate):
            study = search.open_study("toy", storage=_url(tmp), grace=grace)
            number = len(study.trials)
            start = datetime.datetime.now() - datetime.timedelta(seconds=started_ago)
            study.add_trial(optuna.trial.FrozenTrial(
                number=number, state=RUNNING, value=None, datetime_start=start,
                datetime_complete=None, params={}, distributions={},
                user_attrs={} if owner is None else owner(number), system_attrs={},
                intermediate_values={}, trial_id=-1))
            failed = search.fail_dead_trials(study, grace)
            states = [t.state.name.lower() for t in study.trials]
        return f"failed {failed}; states now {states}"
    return trial


def _owner(host, pid, trial=lambda number: number):
    """user attrs as claim writes them, for a trial numbered number; pid() gives the pid."""
    def attrs(number):
        process = pid()
        return {"worker": f"{host}:{process}",
                "owner": {"host": host, "pid": process, "trial": trial(number)}}
    return attrs


def search_rerun_right_after_a_kill(tmp):
    with toy_experiment(_learning_rate):
        study = search.open_study("toy", storage=_url(tmp))
        study.add_trial(optuna.trial.FrozenTrial(     # its worker was killed as it trained
            number=0, state=RUNNING, value=None, datetime_start=datetime.datetime.now(),
            datetime_complete=None, params={"learning_rate": 0.1},
            distributions={"learning_rate": optuna.distributions.FloatDistribution(
                1e-4, 10.0, log=True)}, user_attrs=_owner(search.HOST, _dead_pid)(0),
            system_attrs={}, intermediate_values={}, trial_id=-1))
        study = search.run_search("toy", 3, storage=_url(tmp))   # at once: no grace waited
    states = [t.state.name.lower() for t in study.trials]
    retried = [t.system_attrs.get("failed_trial") for t in study.trials
               if "failed_trial" in t.system_attrs]
    return (f"states {states}; retries of trials {retried}; "
            f"{'none' if 'running' not in states else 'some'} left running")


CASES = [  # (class, what is tried, trial, words the outcome must contain)
    ("silent wrong answer", "run_search(n_trials=True)", _search(n_trials=True),
     "ValueError: n_trials must be a positive integer, got True"),
    ("obscure error", "run_search(workers=0)", _search(workers=0),
     "workers must be a positive integer, got 0"),
    ("obscure error", "grace=0", _search(grace=0), "grace must be a positive integer, got 0"),
    ("silent wrong answer", "grace=True", _search(grace=True), "grace .* got True"),
    ("obscure error", "seed=-1", _search(seed=-1), "seed must be a non-negative integer, got -1"),
    ("silent wrong answer", "max_failures=0", _search(max_failures=0),
     "max_failures must be a positive integer, got 0"),
    ("obscure error", "stage='medium'", _search(stage="medium"), "stage must be 'coarse' or 'fine'"),
    ("obscure error", "experiment 'three-layer'", _search(name="three-layer"), "unknown experiment"),
    ("obscure error", "SQLite file in a folder that does not exist",
     lambda tmp: search.run_search("two-layer", 1, storage=f"sqlite:///{tmp}/missing/s.db"),
     "ValueError: storage .*the folder .*/missing of the SQLite file does not exist"),
    ("obscure error", "SQLite path that is a folder",
     lambda tmp: search.run_search("two-layer", 1, storage=f"sqlite:///{tmp}"),
     "is a folder, not a SQLite file"),
    ("obscure error", "storage='runs/search.db' (no URL scheme)",
     lambda tmp: search.run_search("two-layer", 1, storage="runs/search.db"),
     "storage must be a database URL .* got 'runs/search.db'"),
    ("obscure error", "space with low > high", _search(space={"reg": (1e-1, 1e-5, "log")}),
     "space\\['reg'\\] must have finite numbers low < high, got 0.1, 1e-05"),
    ("obscure error", "log-scaled space from 0", _search(space={"reg": (0.0, 1.0, "log")}),
     "log-scaled, so low must be > 0, got 0.0"),
    ("obscure error", "space scale 'cubic'", _search(space={"reg": (0.1, 1.0, "cubic")}),
     "scale of 'reg' must be 'log' or 'linear', got 'cubic'"),
    ("silent wrong answer", "space bound True", _search(space={"p": (True, 2, "linear")}),
     "finite numbers low < high, got True"),
    ("obscure error", "space entry missing its scale", _search(space={"p": (0.0, 1.0)}),
     "must be a tuple \\(low, high, scale\\)"),
    # faults
    ("silent wrong answer", "every trial diverges (ran for ever: 964 failed trials in 40 s)",
     every_trial_fails, "TrialsKeepFailing: .*3 trials in a row failed \\(numbers 0..2; "
                        "max_failures=3\\), the last with FloatingPointError: loss became nan"),
    ("lost progress", "failed trials between completed ones (max_failures=2)", failures_between_successes,
     "^4 trials done and 4 failed, alternately"),
    ("lost progress", "search rerun right after a kill: its trial's worker process is gone",
     search_rerun_right_after_a_kill,
     "states \\['fail', 'complete', 'complete', 'complete'\\]; retries of trials \\[0\\]; "
     "none left running"),
    ("lost progress", "trial killed before it recorded its worker, grace (2 s) passed",
     _left_running(None, started_ago=5, grace=2), "failed \\[0\\]; states now \\['fail', 'waiting'\\]"),
    ("lost progress", "trial that has not yet recorded its worker, within grace",
     _left_running(None, started_ago=0.5, grace=2), "failed \\[\\]; states now \\['running'\\]"),
    ("lost progress", "trial of a live worker on this machine",
     _left_running(_owner(search.HOST, os.getppid)), "failed \\[\\]; states now \\['running'\\]"),
    ("lost progress", "trial of another machine's worker (its pid not running here)",
     _left_running(_owner("elsewhere.example", _dead_pid)),
     "failed \\[\\]; states now \\['running'\\]"),
    ("lost progress", "a retry still holding its dead original's worker, within grace",
     _left_running(_owner(search.HOST, _dead_pid, trial=lambda number: number - 1), grace=2),
     "failed \\[\\]; states now \\['running'\\]"),
]
