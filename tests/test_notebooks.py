"""The three notebooks: the committed ones are complete full runs that meet the handout's
targets and agree with results/results.json; and (slow) every notebook runs top to bottom in
quick mode without touching the committed files."""
import hashlib
import json
import os
import pathlib
import re

import nbformat
import pytest

import data_utils
import run_notebooks

ROOT = run_notebooks.ROOT
NOTEBOOKS = run_notebooks.NOTEBOOKS
RESULTS = os.path.join(ROOT, "results", "results.json")
# 4.4.7 shows the log of the `make best` run whose checkpoints it resumes: the recipe's record
# (results.json, kept also in BUDGET_RUN), the epochs that fit in 90 minutes on the AMD EPYC
# machine of the session that reran the notebook. The same recipe over 27 epochs, trained
# before the budget was timed, is kept in best_model-27epochs.json (Intel Xeon) and
# best_model-amd.json (the same run again on an AMD EPYC machine).
SHOWN_RUN = RESULTS
BUDGET_RUN = os.path.join(ROOT, "results", "best_model-budget-amd.json")
RECORD_27 = os.path.join(ROOT, "results", "best_model-27epochs.json")

# Every problem of the handout, in the handout's order, by notebook.
PROBLEMS = {
    "FullyConnectedNets.ipynb": ["4.1.1", "4.1.2", "4.1.3", "4.1.4", "Sandwich", "Loss layers",
                                 "4.1.5", "4.1.6", "4.1.7", "4.1.8", "4.1.9", "4.1.10",
                                 "4.1.11", "4.1.12", "4.3"],
    "Dropout.ipynb": ["4.2.1", "4.2.2", "4.2.3", "4.2.4"],
    "ConvolutionalNetworks.ipynb": ["4.4.1", "hand-set filters", "4.4.2", "4.4.3", "4.4.4",
                                    "Fast layers", "sandwich", "4.4.5", "4.4.6", "4.4.7"],
}


def load(name, folder=ROOT):
    return nbformat.read(os.path.join(folder, name), as_version=4)


def text_outputs(cell):
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                   for o in cell.get("outputs", []))


def errors(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "error"]


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ------------------------------------------------------- committed notebooks

@pytest.mark.parametrize("name", NOTEBOOKS)
def test_headings_cover_every_problem_in_order(name):
    headings = [line for c in load(name).cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("#")]
    position = 0
    for problem in PROBLEMS[name]:
        found = [i for i, h in enumerate(headings) if problem.lower() in h.lower() and i >= position]
        assert found, f"{name}: no heading for {problem} after {headings[position - 1]!r}"
        position = found[0] + 1


# Committed notebooks whose outputs predate their code cells or the modules these import, with
# why they were not rerun; `python run_notebooks.py NAME` reruns one (ConvolutionalNetworks after
# `make best`, whose epochs it resumes), and then it must leave this set: both ways fail
# (test_committed_notebooks_match_their_code), and every test that reads such a notebook's
# outputs is expected to fail until then (strictly: one that passes fails).
AWAITING_RERUN = {}


def awaiting_rerun(name):
    """The mark of a test that reads notebook name's outputs: a strict xfail while the notebook
    is in AWAITING_RERUN, no mark otherwise."""
    return pytest.mark.xfail(name in AWAITING_RERUN, strict=True,
                             reason=f"{name} awaits its rerun: {AWAITING_RERUN.get(name)}")


def notebook_params():
    return [pytest.param(name, marks=awaiting_rerun(name)) for name in NOTEBOOKS]


@pytest.mark.parametrize("name", notebook_params())
def test_committed_notebooks_are_complete_full_runs(name):
    nb = load(name)
    meta = nb.metadata.get("hw5", {})
    assert meta.get("complete") is True and meta.get("quick") is False, meta
    assert not errors(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    assert "cifar-10-batches-py" in text_outputs(code[1]), "says which CIFAR-10 copy it read"
    assert os.path.isfile(os.path.join(ROOT, name.replace(".ipynb", ".html")))


STALE_NOTE = "**Outputs awaiting a rerun.**"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_notebook_awaiting_its_rerun_tells_its_reader(name):
    """A reader of a notebook in AWAITING_RERUN is told that its outputs are older than its
    text; the note goes when the notebook is rerun."""
    noted = any(STALE_NOTE in c.source for c in load(name).cells if c.cell_type == "markdown")
    assert noted == (name in AWAITING_RERUN)


def test_the_stale_note_of_4_4_7_quotes_the_outputs_below_it():
    """While ConvolutionalNetworks awaits its rerun, its note names the run its outputs show
    (the last cell's log: 13 epochs in 81.5 minutes, test 0.9027)."""
    if "ConvolutionalNetworks.ipynb" not in AWAITING_RERUN:
        pytest.skip("ConvolutionalNetworks is current: it carries no such note")
    note = markdown("ConvolutionalNetworks.ipynb", STALE_NOTE)
    printed = text_outputs(code_cells("ConvolutionalNetworks.ipynb")[-1])
    minutes, epochs = re.search(r"training took ([0-9.]+) min for (\d+) epochs", printed).groups()
    test_acc = float(re.search(r"test accuracy\s+([0-9.]+)\n", printed).group(1))
    assert (f"{epochs} epochs at widths 64/256/256, {minutes} minutes, {100 * test_acc:.2f}% on "
            "the test set") in note


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebooks_match_their_code(name):
    """A committed notebook's outputs come from its current code cells and the modules they
    import: an edit to either fails here until the notebook is rerun and committed (or, with
    the reason, put in AWAITING_RERUN, which it must leave once it matches again)."""
    current = run_notebooks.is_current(os.path.join(ROOT, name), load(name), quick=False)
    if name in AWAITING_RERUN:
        assert not current, f"{name} matches its code again: take it out of AWAITING_RERUN"
    else:
        assert current, (f"{name}'s outputs no longer match its code or the modules it imports: "
                         f"rerun it with `python run_notebooks.py {name}` and commit it")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_outputs_show_no_path_of_the_machine(name):
    text = "".join(text_outputs(c) for c in load(name).cells if c.cell_type == "code")
    for marker in (ROOT, os.path.dirname(ROOT), "/home/", "/root/", "/Users/", "C:\\"):
        assert marker not in text, f"{name} prints a path of this machine ({marker!r})"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_title_cell_names_the_group(name):
    title = load(name).cells[0].source
    assert "**Group:**" in title


def test_results_meet_the_handout_targets():
    with open(RESULTS) as f:
        results = json.load(f)
    assert results["meta"]["mode"] == "full"
    assert results["two_layer"]["val_acc"] >= 0.55      # the search's target (issue 12)
    # 4.1.6 retrains the best fine trial of its search with the same seed; a search worker may
    # run on other BLAS threads, whose sums in another order can flip an image that ties.
    assert results["two_layer"]["val_acc"] == pytest.approx(
        results["two_layer"]["search"]["fine"]["best_val_acc"], abs=2e-3)
    assert results["fc_best"]["val_acc"] >= 0.50
    one_epoch, tuned = results["cnn_three_layer"]["runs"]
    assert one_epoch["train_acc"] > 0.40 and tuned["val_acc"] > 0.50
    best = results["best_model"]                  # 4.4.7, trained by `experiments.py best`
    assert best["num_test"] == 10000 and best["val_acc"] >= 0.65 and best["test_acc"] >= 0.65
    # 90 minutes is the recipe's budget (its issue), not the handout's: the record keeps the
    # time it took, epoch by epoch, and the prose says when it ran over (test_writeup.py).
    assert best["wall_time_s"] == pytest.approx(sum(best["epoch_times_s"]), abs=1.0)
    assert len(best["epoch_times_s"]) == best["epochs"] and best["peak_memory_mib"] <= 8 * 1024
    labels = [run["label"] for run in results["dropout"]["runs"]]
    assert labels == ["no dropout", "dropout p = 0.75"]


def code_cells(name):
    return [c for c in load(name).cells if c.cell_type == "code"]


@awaiting_rerun("ConvolutionalNetworks.ipynb")
def test_best_model_cell_resumes_the_run_of_experiments_best():
    best = shown_run()
    cell = next(c for c in code_cells("ConvolutionalNetworks.ipynb") if "best.resume()" in c.source)
    assert re.search(rf"resuming from best-\w+_epoch_{best['epochs']}\.npz \(epoch {best['epochs']}\)",
                     text_outputs(cell))


@awaiting_rerun("ConvolutionalNetworks.ipynb")
def test_last_cell_prints_the_final_accuracies_of_the_shown_run():
    best = shown_run()
    last = code_cells("ConvolutionalNetworks.ipynb")[-1]
    printed = dict(re.findall(r"(training|validation|test) accuracy\s+([0-9.]+)", text_outputs(last)))
    assert f"training took {best['wall_time_s'] / 60:.1f} min for {best['epochs']} epochs" in \
        text_outputs(last)
    assert set(printed) == {"training", "validation", "test"}
    assert float(printed["validation"]) == pytest.approx(best["val_acc"], abs=1e-4)
    # The notebook evaluates on one BLAS thread, the run on two: sums in another order can
    # flip an image whose two best scores tie to round-off.
    assert float(printed["test"]) == pytest.approx(best["test_acc"], abs=2e-3)
    assert 0.5 < float(printed["training"]) <= 1


# ---------------------------------------------------------------- quick run

@pytest.mark.slow
def test_every_notebook_runs_in_quick_mode(tmp_path):
    if not data_utils.has_cifar10(data_utils.cifar10_dir()):
        message = "CIFAR-10 not found; set CIFAR10_DIR or run `make data`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    committed = [os.path.join(ROOT, n) for n in NOTEBOOKS]
    committed += [p.replace(".ipynb", ".html") for p in committed] + [RESULTS]
    before = {p: sha(p) for p in committed if os.path.exists(p)}

    times = run_notebooks.run(quick=True, out_dir=str(tmp_path), force=True)

    assert set(times) == set(NOTEBOOKS) and all(t is not None for t in times.values())
    for name in NOTEBOOKS:
        nb = load(name, str(tmp_path))
        assert nb.metadata["hw5"]["complete"] and nb.metadata["hw5"]["quick"]
        assert not errors(nb)
        assert (tmp_path / name.replace(".ipynb", ".html")).is_file()
    with open(tmp_path / "results.json") as f:
        results = json.load(f)
    assert results["meta"]["mode"] == "quick"
    assert {"two_layer", "fc_best", "dropout", "cnn_three_layer"} <= set(results)
    assert {p: sha(p) for p in before} == before, "quick mode wrote over committed files"


def test_ablation_cell_prints_the_recorded_ablation():
    with open(RESULTS) as f:
        ablation = json.load(f)["best_model_ablation"]
    cell = next(c for c in code_cells("ConvolutionalNetworks.ipynb")
                if "recorded_ablation()" in c.source)
    printed = text_outputs(cell)
    assert ablation["scored_on"] == "validation"
    assert f"{ablation['runs_done']} of {ablation['runs_total']} runs done" in printed
    for name, row in ablation["rows"].items():
        if row["runs"]:
            mean = sum(r["val_acc"] for r in row["runs"]) / len(row["runs"])
            assert re.search(rf"{re.escape(name)}\s+{mean:.4f}", printed), name


def shown_run():
    """The record of the run 4.4.7 shows (SHOWN_RUN's 'best_model' entry)."""
    with open(SHOWN_RUN) as f:
        return json.load(f)["best_model"]


def epoch_minutes_table(name="ConvolutionalNetworks.ipynb"):
    """Minutes at the end of each epoch, from the table under "accuracy against time"."""
    cell = next(c for c in code_cells(name) if "accuracy against time" in "".join(c["source"]))
    rows = [line.split() for line in text_outputs(cell).splitlines()]
    return [float(row[1]) for row in rows if len(row) == 4 and row[0].isdigit()]


def markdown(name, heading):
    """The one markdown cell of notebook name that holds heading, its lines joined."""
    cells = [c for c in load(name).cells if c.cell_type == "markdown" and heading in c.source]
    assert len(cells) == 1, (heading, len(cells))
    return " ".join(cells[0].source.split())


def record(path):
    """The 'best_model' entry of the results file at path."""
    with open(path) as f:
        return json.load(f)["best_model"]


def test_the_best_model_prose_matches_its_recorded_run():
    """4.4.7's final section quotes the recorded run: its peak memory, its budget (the epoch
    timed first and the epochs that fit), the validation scores that chose its widths (the wide
    net's 27 epochs against the 36-epoch run at airbench94's widths) and its views, its one
    test evaluation, its minutes and median epoch within the 90-minute budget, its test
    accuracies, the 27-epoch record before it, and airbench94's test score on this copy."""
    import statistics

    best, wide, narrow = record(RESULTS), record(os.path.join(
        ROOT, "results", "candidate-widths-128-384-384-27epochs.json")), record(
        os.path.join(ROOT, "results", "best_model-36epochs.json"))
    before = record(RECORD_27)
    with open(os.path.join(ROOT, "results", "airbench94_torch-val5000.json")) as f:
        airbench = json.load(f)
    with open(BUDGET_RUN) as f:
        assert json.load(f)["best_model"] == best
    text = markdown("ConvolutionalNetworks.ipynb", "### Final accuracies")
    times, minutes, plan = best["epoch_times_s"], best["wall_time_s"] / 60, best["budget"]
    widths = "/".join(map(str, best["hyperparameters"]["widths"]))
    assert best["test_evaluations"] == 1 and best["selected_on"] == "validation"
    assert wide["hyperparameters"]["widths"] == best["hyperparameters"]["widths"]
    assert best["choices"]["widths"] == "validation" and wide["val_acc"] > narrow["val_acc"]
    assert "test_acc" not in wide and before["hyperparameters"] == dict(
        best["hyperparameters"], num_epochs=27)
    views = best["val_acc_views"]
    assert views[best["hyperparameters"]["tta"]] == max(views.values())   # chosen on validation
    quoted = [f"peak memory was {best['peak_memory_mib']:,.0f} MiB",
              f"{widths} for {wide['epochs']} epochs scored {wide['val_acc']:.4f} on validation",
              f"against {narrow['val_acc']:.4f} for airbench94's "
              f"{'/'.join(map(str, narrow['hyperparameters']['widths']))} trained "
              f"{narrow['epochs']} epochs",
              "on validation: " + ", ".join(f"{k} {v:.4f}" for k, v in views.items()),
              f"`test_evaluations: {best['test_evaluations']}`",
              f"timed an epoch at {plan['epoch_s']:.0f} s",
              f"{plan['epochs']} epochs fit in 95% of the {plan['budget_minutes']} minutes",
              f"{best['epochs']} epochs at widths {widths} took {minutes:.1f} minutes",
              f"a median of {statistics.median(times):.0f} s an epoch",
              f"{100 * best['test_acc']:.2f}% with the test-time views and "
              f"{100 * best['test_acc_no_tta']:.2f}% without",
              f"{before['epochs']} epochs on an {machine(RECORD_27)} machine took "
              f"{before['wall_time_s'] / 60:.1f} minutes",
              f"scored {100 * before['test_acc']:.2f}% on the test set",
              f"it scores {100 * airbench['test_acc_views']:.2f}% on the test set with its views"]
    missing = [q for q in quoted if q not in text]
    assert not missing, missing
    assert best["epochs"] == plan["epochs"] and len(times) == best["epochs"]
    assert minutes <= 90 and "within the 90-minute budget" in text
    assert before["wall_time_s"] > 90 * 60 and "over the budget" in text
    assert best["test_acc"] < 0.92 and "short of the 92%" in text
    assert best["train_acc"] >= 0.99 and "ended near 100%" in text
    assert best["val_acc_history"][-1] == max(best["val_acc_history"])
    assert "highest at the last epoch" in text


@awaiting_rerun("ConvolutionalNetworks.ipynb")
def test_the_final_prose_says_which_run_the_cells_show():
    """4.4.7's final section says that its cells show the record's own run, resumed from the
    checkpoints of `make best`, and that the same settings trained before without the test set
    (results/best_model-20epochs-amd.json) gave the same validation accuracy at every epoch."""
    shown, text = shown_run(), markdown("ConvolutionalNetworks.ipynb", "### Final accuracies")
    twin = record(os.path.join(ROOT, "results", "best_model-20epochs-amd.json"))
    assert twin["hyperparameters"] == shown["hyperparameters"] and "test_acc" not in twin
    same = twin["val_acc_history"] == shown["val_acc_history"]
    quoted = [f"trained by `make best` on an {machine(SHOWN_RUN)} machine",
              "`results/best_model-budget-amd.json`",
              "its validation accuracy was " + ("the same to the last digit at every epoch" if same
                                                 else "not the same at every epoch")]
    missing = [q for q in quoted if q not in text]
    assert not missing, missing


@awaiting_rerun("ConvolutionalNetworks.ipynb")
def test_the_epoch_table_above_the_prose_prints_the_shown_run():
    best = shown_run()
    minutes = epoch_minutes_table()
    assert len(minutes) == best["epochs"] + 1
    assert minutes[-1] == pytest.approx(best["wall_time_s"] / 60, abs=0.1)
    cell = next(c for c in code_cells("ConvolutionalNetworks.ipynb")
                if "accuracy against time" in c.source)
    rows = [line.split() for line in text_outputs(cell).splitlines()]
    printed = [float(row[3]) for row in rows if len(row) == 4 and row[0].isdigit()]
    assert printed == pytest.approx(best["val_acc_history"], abs=5e-4)


NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight",
                9: "nine", 10: "ten"}


def machine(path):
    """'AMD EPYC' or 'Intel Xeon': the CPU that recorded the best model in the file at path."""
    with open(path) as f:
        device = json.load(f)["meta"]["recorded"]["best_model"]["device"]
    names = [name for key, name in (("AMD EPYC", "AMD EPYC"), ("Intel(R) Xeon(R)", "Intel Xeon"))
             if key in device]
    assert len(names) == 1, device
    return names[0]


@awaiting_rerun("ConvolutionalNetworks.ipynb")
def test_the_reference_curve_prose_matches_the_records():
    """4.4.7's comparison quotes airbench94's last validation point and minutes; where the
    run the notebook shows first passed 90% and where it ended, against airbench94's end; for
    how many epochs it led epoch for epoch; the widths' multiplies; and its median epoch and
    minutes against airbench94's."""
    import statistics

    import reference

    ours = reference.ours_curve(SHOWN_RUN)
    airbench = reference.reference_curve(os.path.join(ROOT, "results",
                                                      "airbench94_torch-val5000.json"))
    text = markdown("ConvolutionalNetworks.ipynb", "**What the curves say.**")
    epoch, minute = reference.first_epoch_reaching(ours, 0.90)
    assert airbench[2][-1] >= 0.90 > airbench[2][-2]        # airbench94 passes 90% at its end
    shown = shown_run()
    with open(os.path.join(ROOT, "results", "airbench94_torch-val5000.json")) as f:
        airbench_record = json.load(f)

    def multiplies(w1, w2, w3):         # the six 3x3 convolutions and the 2x2 whitening one
        return (31 * 31 * 4 * 3 * 24 + 31 * 31 * 9 * 24 * w1 + 15 * 15 * 9 * (w1 * w1 + w1 * w2)
                + 7 * 7 * 9 * (w2 * w2 + w2 * w3) + 3 * 3 * 9 * w3 * w3)

    ratio = multiplies(*shown["hyperparameters"]["widths"]) / multiplies(64, 256, 256)
    median_shown = statistics.median(shown["epoch_times_s"])
    median_airbench = statistics.median(e["seconds"] for e in airbench_record["per_epoch"])
    times = round(ours[1][-1] / airbench[1][-1])
    lead = 100 * (ours[2][-1] - airbench[2][-1])
    ahead = [ours[2][e] > airbench[2][e - 1] for e in range(1, len(airbench[2]) + 1)]
    first_behind = ahead.index(False) if False in ahead else len(ahead)
    quoted = [f"end of its {airbench_record['args']['epochs']} epochs, after "
              f"{airbench[1][-1]:.1f} minutes",
              f"passes it at epoch {epoch:g} of {shown['epochs']} and ends at "
              f"{100 * ours[2][-1]:.2f}%: {abs(lead):.1f} points {'more' if lead > 0 else 'less'}",
              f"ahead for the first {NUMBER_WORDS.get(first_behind, first_behind)} epochs, "
              "then behind",
              f"about {ratio:.1f} times the multiplies an image",
              f"this run, on an {machine(SHOWN_RUN)} machine, took a median of "
              f"{median_shown:.0f} s an epoch (about {median_shown / median_airbench:.1f} times "
              f"airbench94's {median_airbench:.0f} s) and passed 90% after {minute:.1f} minutes, "
              f"{ours[1][-1]:.1f} minutes in all, about {NUMBER_WORDS.get(times, times)} times "
              "airbench94's training time"]
    missing = [q for q in quoted if q not in text]
    assert not missing, missing
    assert not any(ahead[first_behind:])                     # "then behind" for good


def test_the_ablation_prose_matches_the_recorded_ablation():
    """4.4.7 says: two of the 14 runs done, both with seed 0, the whole recipe and the recipe
    without lookahead; without it the recipe scored almost a point less on validation; the
    test-time views add about half a point."""
    with open(RESULTS) as f:
        ablation = json.load(f)["best_model_ablation"]
    assert (ablation["runs_done"], ablation["runs_total"]) == (2, 14)
    done = {name: row["runs"] for name, row in ablation["rows"].items() if row["runs"]}
    assert set(done) == {"whole recipe", "no lookahead"}
    assert all([r["seed"] for r in runs] == [0] for runs in done.values())
    whole = done["whole recipe"][0]
    assert 0.007 <= whole["val_acc"] - done["no lookahead"][0]["val_acc"] < 0.01
    assert 0.004 <= whole["tta"]["flip_translate"] - whole["val_acc"] <= 0.007


def test_the_ablation_setup_prose_matches_the_record_and_the_current_base():
    """4.4.7's ablation cell says the record is at the earlier widths, a third of that recipe's
    26 epochs, 14 runs; and that the current base has 16 runs, a third of BEST's epochs."""
    import best_model

    with open(RESULTS) as f:
        ablation = json.load(f)["best_model_ablation"]
    text = markdown("ConvolutionalNetworks.ipynb", "### Ablation: what each trick buys")
    old = ablation["settings"]
    assert old["widths"] != list(best_model.BEST["widths"])
    base = best_model.ABLATION_BASE
    quoted = [f"airbench94's widths {'/'.join(map(str, old['widths']))} for {old['num_epochs']} "
              f"epochs, a third of the 26 that recipe then trained ({ablation['runs_total']} runs",
              f"{'/'.join(map(str, base['widths']))} for {base['num_epochs']} of the "
              f"{best_model.BEST['num_epochs']} epochs, the ablation has "
              f"{len(best_model.ABLATIONS) * len(best_model.ABLATION_SEEDS)} runs"]
    missing = [q for q in quoted if q not in text]
    assert not missing, missing


def test_the_best_model_cell_builds_the_solver_of_experiments_best(monkeypatch):
    """4.4.7's training cell builds its Solver in view from best_model's recipe over the epochs
    of its budget plan; it must be best_model.best_solver(BEST with those epochs)'s, or the
    cell would not find the `make best` checkpoints and would train for an hour and a half
    instead."""
    import numpy as np

    import best_model
    import runs
    import solver as solver_module
    from augment import AlternatingFlips

    monkeypatch.delenv(runs.QUICK_ENV, raising=False)
    rng = np.random.default_rng(0)
    fake = {f"X_{s}": rng.uniform(0, 255, (n, 3, 32, 32)).astype(np.float32)
            for s, n in (("train", 40), ("val", 10), ("test", 10))}
    fake.update({f"y_{s}": np.arange(n) % 10 for s, n in (("train", 40), ("val", 10), ("test", 10))})
    fake = best_model.channel_standardize(fake)
    monkeypatch.setattr(best_model, "load_data", lambda: dict(fake))

    class Untrained(solver_module.Solver):
        def resume(self):
            return self

        def train(self):
            return self
    planned = []

    def plan(data, settings, budget_minutes=None):        # the plan `make best` wrote, not timed
        planned.append((settings, budget_minutes))
        return {"budget_minutes": 90, "epoch_s": 250.0, "epochs": 7}

    monkeypatch.setattr(best_model, "budget_plan", plan)
    cell = next(c for c in code_cells("ConvolutionalNetworks.ipynb")
                if "best.resume()" in c.source)
    space = {"best_model": best_model, "runs": runs, "Solver": Untrained}
    exec(cell.source, space)
    expected = best_model.best_solver(dict(fake), dict(best_model.BEST, num_epochs=7),
                                      checkpoint=runs.checkpoint_path("best"), verbose=False)
    assert planned == [(best_model.BEST, None)]
    assert space["best"].checkpoint_prefix == expected.checkpoint_prefix
    assert space["best"].num_epochs == 7
    assert isinstance(space["best"].settings["before_epoch"], AlternatingFlips)
    assert "best_model.recipe_in_budget(best_data)" in cell.source
    assert 'print("recipe:", recipe)' in cell.source


@awaiting_rerun("ConvolutionalNetworks.ipynb")
def test_the_recipe_search_prose_matches_its_printed_table():
    """4.4.7 says: the study's first trial is airbench94's settings; the best trial scored about
    two and a half points more, with a learning rate two to three times airbench's, less weight decay and
    more smoothing; the lowest learning rate did worst of the trials that ran 3 epochs; the
    pruner stopped one trial after one epoch and one after two; 45 steps a trial against the
    recorded full run's; the 8 trials asked."""
    import best_model
    import search
    cell = next(c for c in code_cells("ConvolutionalNetworks.ipynb") if 'run_search("best"' in c.source)
    printed = text_outputs(cell)
    rows = [(int(n), float(lr), float(wd), float(s), float(acc), int(epochs), state) for
            n, lr, wd, s, acc, epochs, state in re.findall(
                r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+([0-9.]+)\s+(\d+)\s+\d+\s+(\w+)$", printed, re.M)]
    assert [r[0] for r in rows] == list(range(8))
    text = markdown("ConvolutionalNetworks.ipynb", "**What the search says.**")
    assert "The study holds the 8 trials asked, run by one worker" in text
    first, best = rows[0], max(rows, key=lambda r: r[4])
    settings = [best_model.BEST[k] for k in ("lr_per_example", "weight_decay", "smoothing")]
    assert list(first[1:4]) == pytest.approx(settings, rel=5e-3) and first[6] == "complete"
    assert 0.02 <= best[4] - first[4] <= 0.03 and 2 <= best[1] / settings[0] <= 3
    assert "scored about two and a half points more" in text
    assert best[2] < settings[1] and best[3] > settings[2]
    complete = [r for r in rows if r[6] == "complete"]
    assert all(r[5] == 3 for r in complete)
    assert min(complete, key=lambda r: r[4])[1] == min(r[1] for r in complete)   # slowest did worst
    pruned = [r for r in rows if r[6] == "pruned"]
    assert sorted(r[5] for r in pruned) == [1, 2]
    assert "the median pruner stopped two trials, one after one epoch and one after two" in text
    summary = float(re.search(r"trial 0\): validation accuracy ([0-9.]+)", printed).group(1))
    assert summary == pytest.approx(first[4], abs=5e-4)              # the table's 3 digits
    steps = search.BEST_SEARCH_SIZES["num_training"] // best_model.BEST["batch_size"]
    assert steps * search.BUDGETS["best"]["coarse"]["num_epochs"] == 45          # "45 steps"
    with open(RESULTS) as f:
        epochs = json.load(f)["best_model"]["epochs"]                 # the recorded full run's
    full = best_model.BEST_DATA_SIZES["num_training"] // best_model.BEST["batch_size"] * epochs
    assert f"too large for the {full:,} steps of the full run ({epochs} epochs)" in text


def test_the_two_layer_search_prose_matches_its_printed_tables():
    """4.1.6 says: most pruned trials stopped after one epoch; the fine stage's learning rates
    are a few 1e-4; the retrained net's validation accuracy passes 50% at the fourth epoch,
    dips below it once (the fifth) and ends at 55%, about 15 points below its training
    accuracy."""
    with open(RESULTS) as f:
        two_layer = json.load(f)["two_layer"]
    cell = next(c for c in code_cells("FullyConnectedNets.ipynb") if "search.run_search" in c.source)
    printed = text_outputs(cell)
    rows = re.findall(r"^\s*\d+\s+(\d+)\s+([0-9.e-]+)\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)\s+\S+\s+(\w+)$",
                      printed, re.M)
    search = two_layer["search"]
    assert len(rows) == search["coarse"]["trials"] + search["fine"]["trials"]
    pruned_epochs = [int(epochs) for _, _, epochs, state in rows if state == "pruned"]
    assert pruned_epochs and sum(e == 1 for e in pruned_epochs) > len(pruned_epochs) / 2
    fine = rows[-search["fine"]["trials"]:]
    assert all(1e-4 <= float(lr) < 1e-3 for _, lr, _, _ in fine)
    assert 0.14 <= two_layer["train_acc"] - two_layer["val_acc"] <= 0.17
    retrain = next(c for c in code_cells("FullyConnectedNets.ipynb")
                   if "runs.result_entry(two_layer" in c.source)
    curve = [float(v) for v in re.search(r"validation accuracy per epoch: \[([0-9. ]+)\]",
                                         text_outputs(retrain)).group(1).split()]
    assert [e for e, acc in enumerate(curve) if acc >= 0.50] == [4] + list(range(6, len(curve)))
    assert round(100 * curve[-1]) == round(100 * two_layer["val_acc"]) == 55
    text = markdown("FullyConnectedNets.ipynb", "The loss falls quickly in the first epoch")
    assert ("passes 50% at the fourth, dips below it once (the fifth) and ends at 55%" in text
            and "about 15 points higher" in text)


def test_the_fc_search_prose_matches_its_printed_tables():
    """4.3 says: most pruned coarse trials stopped after one epoch; every fine trial that ran its
    ten epochs ended between 55.8% and 57.7%; the best fine trial (58%) trained for 20 epochs
    reaches 62% validation and 58.5% test, about 3.5 points apart, four points above the
    trial's own; validation passes 60% at epoch 15 and stays between 60% and 62% over the last
    five epochs; the last-epoch training accuracy is about 11 points above validation."""
    with open(RESULTS) as f:
        fc = json.load(f)["fc_best"]
    cell = next(c for c in code_cells("FullyConnectedNets.ipynb") if 'run_search("fc"' in c.source)
    rows = re.findall(r"^\s*\d+(?:\s+\S+){4}\s+(\S+)\s+(\d+)\s+\S+\s+(\w+)$", text_outputs(cell), re.M)
    search = fc["search"]
    assert len(rows) == search["coarse"]["trials"] + search["fine"]["trials"]
    coarse, fine = rows[:search["coarse"]["trials"]], rows[search["coarse"]["trials"]:]
    pruned_epochs = [int(epochs) for _, epochs, state in coarse if state == "pruned"]
    assert pruned_epochs and sum(e == 1 for e in pruned_epochs) > len(pruned_epochs) / 2
    ran = [float(acc) for acc, epochs, _ in fine if int(epochs) == 10]
    text = markdown("FullyConnectedNets.ipynb", "**Result.**")
    assert ran and f"between {100 * min(ran):.1f}% and {100 * max(ran):.1f}%" in text
    assert round(100 * search["fine"]["best_val_acc"]) == 58 and "trial itself ended at 58%" in text
    assert fc["hyperparameters"]["num_epochs"] == 20
    assert round(100 * fc["val_acc"]) == 62 and f"{100 * fc['test_acc']:.1f}% on the test" in text
    assert 3 <= 100 * (fc["val_acc"] - fc["test_acc"]) <= 4 and "about 3.5 points" in text
    assert 3.5 <= 100 * (fc["val_acc"] - search["fine"]["best_val_acc"]) < 5   # "about four"
    retrain = next(c for c in code_cells("FullyConnectedNets.ipynb") if "fc_best.train()" in c.source)
    printed = re.search(r"validation accuracy per epoch \(0 to 20\): ([0-9. ]+)", text_outputs(retrain))
    curve = [float(v) for v in printed.group(1).split()]
    assert len(curve) == 21 and fc["val_acc"] == max(curve)
    assert next(e for e, acc in enumerate(curve) if acc >= 0.60) == 15 and "60% at epoch 15" in text
    assert all(0.60 <= acc < 0.625 for acc in curve[-5:])        # 60% to 62%, rounded
    record = next(c for c in code_cells("FullyConnectedNets.ipynb") if 'record_result("fc_best"' in c.source)
    train, val = map(float, re.search(r"at the last epoch \(20\): training accuracy ([0-9.]+) .*"
                                      r"validation accuracy ([0-9.]+)", text_outputs(record)).groups())
    assert round(100 * (train - val)) == 11 and "about 11 points above" in text


def gradient_report(cell):
    """{(heading, parameter): (worst entry's relative error, norm-wise error)} of a cell that
    prints checks.report lines, keyed by the last line above them that is not one."""
    found, heading = {}, ""
    for line in text_outputs(cell).splitlines():
        m = re.match(r"\s+(\w+)\s+relative error ([0-9.e+-]+)\s+\(norm-wise ([0-9.e+-]+)\)", line)
        if m:
            found[heading, m.group(1)] = float(m.group(2)), float(m.group(3))
        else:
            heading = line.strip()
    return found


def checks_cell(name, net):
    return next(c for c in code_cells(name)
                if "model_gradient_errors" in c.source and f"{net}(" in c.source)


def test_the_dropout_check_prose_matches_its_report():
    """Dropout: every worst entry at or below 3.3e-8 (theta2 at p = 0.25 the worst), every
    norm-wise error between 1.5e-11 and 1.1e-10; the writeup says the same bound."""
    report = gradient_report(checks_cell("Dropout.ipynb", "FullyConnectedNet"))
    assert len(report) == 18
    worst = max(report, key=lambda k: report[k][0])
    assert worst == ("dropout p = 0.25: initial loss 1.8086", "theta2")
    assert f"{report[worst][0]:.1e}" == "3.3e-08"
    assert all(1.5e-11 <= normwise <= 1.1e-10 for _, normwise in report.values())
    writeup = (pathlib.Path(ROOT) / "writeup" / "sections" / "p4_answers.tex").read_text()
    assert "at or below $3.3\\times10^{-8}$" in writeup


def dropout_record():
    """What Dropout's 4.2.4 record cell printed: the two nets' summary lines, the validation
    table, the epochs ahead and behind, and the loss lines."""
    cell = next(c for c in code_cells("Dropout.ipynb") if "dropout_runs = []" in c.source)
    return text_outputs(cell)


def test_the_dropout_curve_prose_matches_its_printed_run():
    """4.2.4 (notebook and writeup): without dropout 100% training accuracy at epoch 20 and
    99.6% at the end, validation between about 23% and 29% after the first epochs; with
    p = 0.75 94.4% training, validation ahead at 22 of 25 epochs (behind at 2, 14, 24), best
    30.7% against 28.8%; the loss starts at 7.95 (17.16 with dropout), highest at step 3."""
    text = dropout_record()
    line = {m[0]: m[1:] for m in re.findall(
        r"^(no dropout|dropout p = 0.75)\s+final training accuracy ([0-9.]+), best validation "
        r"accuracy ([0-9.]+), first epoch at 100% training accuracy: (\w+)", text, re.M)}
    assert line["no dropout"] == ("0.996", "0.288", "20")
    assert line["dropout p = 0.75"] == ("0.944", "0.307", "None")
    table = [row.split() for row in text.splitlines() if re.match(r"^\s+\d+\s+0\.\d+\s+0\.\d+$", row)]
    plain = [float(r[1]) for r in table]
    assert len(table) == 26 and 0.225 <= min(plain[3:]) and max(plain[3:]) < 0.295
    ahead = re.search(r"ahead on validation at epochs \[([0-9, ]+)\]", text).group(1).split(", ")
    behind = re.search(r"behind on validation at epochs \[([0-9, ]+)\]", text).group(1)
    assert len(ahead) == 22 and behind == "2, 14, 24"
    assert "no dropout         loss at the first step 7.95, highest 26.30 at step 3" in text
    assert "dropout p = 0.75   loss at the first step 17.16, highest 26.45 at step 3" in text
    assert "pixel spread 63 after subtracting the mean image" in text
    prose = " ".join(next(c for c in load("Dropout.ipynb").cells if c.cell_type == "markdown"
                          and "The shape of the curves" in c.source).source.split())
    for quoted in ("touches 100% at epoch 20 and ends at 99.6%", "between about 23% and 29%",
                   "ends lower (94.4%)", "ahead at 22 of the 25 epochs (behind only at epochs 2, "
                   "14 and 24)", "(30.7% against 28.8%)", "spread of about 63",
                   "Why the loss starts near 8", "climbs to about 26"):
        assert quoted in prose, quoted
    writeup = " ".join((pathlib.Path(ROOT) / "writeup" / "sections" / "p4_answers.tex")
                       .read_text().split())
    for quoted in ("100\\% training accuracy at epoch 20, 99.6\\% after 25",
                   "between about 23\\% and 29\\%", "ends lower (94.4\\%)",
                   "at 22 of the 25 epochs", "(30.7\\% against 28.8\\%)"):
        assert quoted in writeup, quoted


def test_the_whitened_net_check_prose_matches_its_report():
    """4.4.7: every worst entry below 1e-6 but theta4 (1.3e-6) and theta5 (2.7e-6), whose
    norm-wise errors (1.5e-9, 2.2e-9) are of the same order as every other parameter's."""
    report = {p: v for (_, p), v in gradient_report(checks_cell("ConvolutionalNetworks.ipynb", "WhitenedConvNet")).items()}
    outliers = {p: v for p, v in report.items() if v[0] >= 1e-6}
    assert sorted(outliers) == ["theta4", "theta5"]
    assert [f"{outliers[p][0]:.1e}" for p in ("theta4", "theta5")] == ["1.3e-06", "2.7e-06"]
    assert [f"{outliers[p][1]:.1e}" for p in ("theta4", "theta5")] == ["1.5e-09", "2.2e-09"]
    normwise = [v[1] for v in report.values()]
    assert max(normwise) == outliers["theta5"][1] and min(normwise) > 1e-10


def test_the_writeup_gradient_check_summary_matches_every_report():
    """Writeup 4.3: every worst entry below 1e-6 but the fast net's two (the test above), the
    norm-wise errors between 1e-11 and 3e-9 throughout."""
    report = {}
    for name in NOTEBOOKS:
        for cell in code_cells(name):
            report.update({(name, cell.execution_count) + k: v
                           for k, v in gradient_report(cell).items()})
    assert len(report) >= 50
    above = sorted(k[-1] for k, (worst, _) in report.items() if worst >= 1e-6)
    assert above == ["theta4", "theta5"]
    assert all(1e-11 <= normwise <= 3e-9 for _, normwise in report.values())


ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth",
            7: "seventh", 8: "eighth", 9: "ninth", 10: "tenth"}


def test_the_tuned_convnet_prose_matches_its_printed_run():
    """4.4.6 (notebook and writeup): the tuned three-layer net passes 55% validation accuracy
    at the epoch the cell prints and ends near its last printed accuracy, the recorded one."""
    cell = next(c for c in code_cells("ConvolutionalNetworks.ipynb")
                if "first epoch above 55%" in c.source)
    printed = text_outputs(cell)
    first = int(re.search(r"first epoch above 55% validation accuracy: (\d+)", printed).group(1))
    curve = [float(v) for v in
             re.search(r"validation accuracy per epoch: \[([^\]]*)\]", printed).group(1).split()]
    assert curve[first] > 0.55 >= max(curve[:first])
    with open(RESULTS) as f:
        tuned = json.load(f)["cnn_three_layer"]["runs"][1]
    assert tuned["label"] == "tuned" and curve[-1] == pytest.approx(tuned["val_acc"], abs=5e-4)
    end = round(100 * curve[-1])
    text = markdown("ConvolutionalNetworks.ipynb", "**Tuning.**")
    assert f"passes 55% at the {ORDINALS[first]} epoch and ends near {end}%" in text
    writeup = " ".join((pathlib.Path(ROOT) / "writeup" / "sections" / "p4_answers.tex")
                       .read_text().split())
    assert (f"passes 55\\% validation accuracy at the {ORDINALS[first]} epoch and ends near "
            f"{end}\\%") in writeup
