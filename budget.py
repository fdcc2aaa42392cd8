"""How many epochs of a recipe fit in a time budget on this machine.

The best model's budget is 90 minutes of training, but an epoch's time differs between
machines of the same kind (an AMD EPYC epoch of the 4.4.7 net took about 240 s, an Intel
Xeon's about 170 s). `experiments.py best --budget-minutes M` therefore times the recipe
here first and trains the epochs that fit:

    epochs = max(1, floor(share * M * 60 / epoch_s))

where epoch_s is measured by a throwaway run (epoch_seconds) and share (0.95) keeps a
margin for a machine that slows down. The plan is written next to the checkpoints and read
back by a resumed run, so a killed run continues the epochs it started with
(plan_epochs).
"""
import json
import math
import os

from validate import positive_float, positive_int, require

BUDGET_SHARE = 0.95


def epochs_in_budget(budget_s, epoch_s, share=BUDGET_SHARE):
    """The whole epochs of epoch_s seconds that fit in share * budget_s seconds, at least 1."""
    positive_float("budget_s", budget_s)
    positive_float("epoch_s", epoch_s)
    require(0 < share <= 1, f"share must be in (0, 1], got {share!r}")
    return max(1, math.floor(share * budget_s / epoch_s))


def epoch_seconds(train_steps, steps, steps_per_epoch):
    """Seconds one epoch takes: steps_per_epoch steps at the pace of a throwaway run, plus
    its accuracy check.

    train_steps(steps) trains a fresh copy of the recipe for two epochs of `steps` steps and
    returns its Solver. The first epoch pays for warming up (memory first touched, caches),
    so the second is timed; the seconds outside both epochs (wall_time_s minus the sum of
    epoch_times) are the accuracy check that opens a run, which every epoch repeats at its
    end.
    """
    positive_int("steps", steps)
    positive_int("steps_per_epoch", steps_per_epoch)
    solver = train_steps(steps)
    require(len(solver.epoch_times) == 2,
            f"train_steps must train 2 epochs, its Solver has {len(solver.epoch_times)}")
    check_s = max(0.0, solver.wall_time_s - sum(solver.epoch_times))
    step_s = max(0.0, solver.epoch_times[1] - check_s) / steps
    return steps_per_epoch * step_s + check_s


def read_plan(path, budget_minutes, settings):
    """The plan {'budget_minutes', 'epoch_s', 'epochs'} plan_epochs wrote to path for the same
    settings and budget; None when there is none (no path, no file, or another run's).
    settings are compared as JSON stores them (tuples read back as lists)."""
    if path is None or not os.path.exists(path):
        return None
    with open(path) as f:
        plan = json.load(f)
    if (plan.get("budget_minutes") != budget_minutes
            or plan.get("settings") != json.loads(json.dumps(settings))):
        return None
    return {k: plan[k] for k in ("budget_minutes", "epoch_s", "epochs")}


def plan_epochs(budget_minutes, settings, measure, path=None):
    """The plan {'budget_minutes', 'epoch_s', 'epochs'} for training settings within
    budget_minutes: read from path when a run of the same settings and budget wrote it, else
    measured (measure() returns the seconds of an epoch) and written to path (when given)."""
    positive_float("budget_minutes", budget_minutes)
    plan = read_plan(path, budget_minutes, settings)
    if plan is not None:
        return plan
    epoch_s = measure()
    plan = {"budget_minutes": budget_minutes, "epoch_s": round(epoch_s, 1),
            "epochs": epochs_in_budget(budget_minutes * 60, epoch_s)}
    if path is not None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            json.dump(dict(plan, settings=settings), f, indent=2)
    return plan
