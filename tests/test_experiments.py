"""experiments.py: the command line of the main job's runs (two-layer, best, ablation)."""
import pytest

import experiments


def test_unknown_experiment_is_refused(capsys):
    with pytest.raises(SystemExit):
        experiments.main(["three-layer"])
    assert "invalid choice" in capsys.readouterr().err


def fake_runs(monkeypatch):
    """The calls experiments.main makes, as (function, data folder, keyword arguments)."""
    import best_model
    calls = []
    monkeypatch.setattr(experiments, "two_layer", lambda root: calls.append(("two_layer", root, {})))
    for name in ("train_best", "run_ablation"):
        monkeypatch.setattr(best_model, name,
                            lambda root, name=name, **kw: calls.append((name, root, kw)))
    return calls


@pytest.mark.parametrize("argv, called", [(["two-layer"], "two_layer"),
                                          (["best", "--data", "d"], "train_best"),
                                          (["ablation"], "run_ablation")])
def test_each_experiment_runs_its_function_with_the_data_folder(monkeypatch, argv, called):
    calls = fake_runs(monkeypatch)
    experiments.main(argv)
    assert [c[:2] for c in calls] == [(called, "d" if "--data" in argv else None)]


def test_max_runs_reaches_the_ablation_and_nothing_else(monkeypatch, capsys):
    """A session trains a slice of the ablation: --max-runs N is handed to run_ablation (None
    without it); other experiments, and a negative N, are refused."""
    calls = fake_runs(monkeypatch)
    experiments.main(["ablation", "--max-runs", "3"])
    experiments.main(["ablation"])
    assert [c[2] for c in calls] == [{"max_runs": 3}, {"max_runs": None}]
    for argv in (["best", "--max-runs", "3"], ["ablation", "--max-runs", "-1"]):
        with pytest.raises(SystemExit):
            experiments.main(argv)
        assert "--max-runs" in capsys.readouterr().err
    assert len(calls) == 2


def test_seed_reaches_the_best_model_and_nothing_else(monkeypatch, capsys):
    """--seed S trains the best model's recipe with seed S (None without it, the recipe's own);
    other experiments, and a negative S, are refused."""
    calls = fake_runs(monkeypatch)
    experiments.main(["best", "--seed", "1"])
    experiments.main(["best", "--validation-only"])
    assert [c[2] for c in calls] == [{"touch_test": True, "seed": 1, "epochs": None,
                                      "budget_minutes": None},
                                     {"touch_test": False, "seed": None, "epochs": None,
                                      "budget_minutes": None}]
    for argv in (["ablation", "--seed", "1"], ["best", "--seed", "-2"]):
        with pytest.raises(SystemExit):
            experiments.main(argv)
        assert "--seed" in capsys.readouterr().err
    assert len(calls) == 2


def test_epochs_reach_the_best_model_and_nothing_else(monkeypatch, capsys):
    """--epochs N trains the best model's recipe for N epochs (None without it); other
    experiments, and N below 1, are refused with the value named."""
    calls = fake_runs(monkeypatch)
    experiments.main(["best", "--validation-only", "--epochs", "20"])
    assert [c[2] for c in calls] == [{"touch_test": False, "seed": None, "epochs": 20,
                                      "budget_minutes": None}]
    for argv, shown in ((["ablation", "--epochs", "20"], "got 20 for ablation"),
                        (["best", "--epochs", "0"], "got 0 for best")):
        with pytest.raises(SystemExit):
            experiments.main(argv)
        error = capsys.readouterr().err
        assert "--epochs takes a positive N" in error and shown in error
    assert len(calls) == 1


def test_two_layer_imports_neither_convnet_nor_best_model():
    """`make two-layer` needs the venv and the small floatmode build (the Solver's subnormal
    mode), not the fast net's modules: those are imported for `best` and `ablation` alone."""
    from nbformat.v4 import new_code_cell, new_notebook

    import run_notebooks
    files = run_notebooks.dependencies(new_notebook(cells=[new_code_cell("import experiments")]))
    assert "experiments.py" in files and "fc_training.py" in files
    assert "convnet.py" not in files and "best_model.py" not in files


def test_budget_minutes_reach_the_best_model_alone_and_never_beside_epochs(monkeypatch, capsys):
    """--budget-minutes M trains the epochs that fit in M minutes (None: best_model's own
    budget); other experiments, M <= 0 and M beside --epochs are refused with what was given."""
    calls = fake_runs(monkeypatch)
    experiments.main(["best", "--budget-minutes", "45.5"])
    assert [c[2] for c in calls] == [{"touch_test": True, "seed": None, "epochs": None,
                                      "budget_minutes": 45.5}]
    for argv, shown in ((["ablation", "--budget-minutes", "30"], "got 30 for ablation)"),
                        (["best", "--budget-minutes", "0"], "got 0 for best)"),
                        (["best", "--budget-minutes", "inf"], "got inf for best)"),
                        (["best", "--budget-minutes", "30", "--epochs", "5"],
                         "got 30 for best with --epochs 5)")):
        with pytest.raises(SystemExit):
            experiments.main(argv)
        error = capsys.readouterr().err
        assert "--budget-minutes takes a finite M > 0" in error and shown in error
    assert len(calls) == 1
