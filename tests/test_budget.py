import json
import math

import pytest

from budget import BUDGET_SHARE, epoch_seconds, epochs_in_budget, plan_epochs, read_plan


@pytest.mark.parametrize("budget_s, epoch_s, epochs", [(5400, 250, 20), (5400, 240, 21),
                                                         (5400, 170, 30), (100, 500, 1)])
def test_epochs_in_budget_are_the_whole_epochs_in_its_share_and_at_least_one(budget_s, epoch_s,
                                                                             epochs):
    assert epochs_in_budget(budget_s, epoch_s) == epochs
    assert epochs == max(1, math.floor(BUDGET_SHARE * budget_s / epoch_s))


def test_a_share_of_one_fills_the_budget():
    assert epochs_in_budget(100.0, 10.0, share=1.0) == 10
    assert epochs_in_budget(100.0, 10.0) == 9


@pytest.mark.parametrize("args, name", [((0, 10), "budget_s"), ((100, -1), "epoch_s"),
                                        ((100, float("nan")), "epoch_s"),
                                        ((100, True), "epoch_s")])
def test_epochs_in_budget_refuses_what_is_no_positive_time(args, name):
    with pytest.raises(ValueError, match=f"{name} must be a finite number > 0, got"):
        epochs_in_budget(*args)


@pytest.mark.parametrize("share", [0, 1.5])
def test_epochs_in_budget_refuses_a_share_outside_zero_to_one(share):
    with pytest.raises(ValueError, match=f"share must be in \\(0, 1\\], got {share}"):
        epochs_in_budget(100, 10, share=share)


class Timed:
    """A Solver's timings: the opening check, then epochs of steps and a check each."""

    def __init__(self, check_s, epoch_times):
        self.epoch_times = list(epoch_times)
        self.wall_time_s = check_s + sum(epoch_times)


def test_epoch_seconds_times_the_warm_epoch_and_adds_the_check():
    asked = []

    def train_steps(n):
        asked.append(n)
        return Timed(10.0, [4 * 3.0 + 10.0, 4 * 2.0 + 10.0])      # the first epoch warms up

    assert epoch_seconds(train_steps, 4, 87) == pytest.approx(87 * 2.0 + 10.0)
    assert asked == [4]


def test_epoch_seconds_wants_two_epochs_and_counts():
    with pytest.raises(ValueError, match="must train 2 epochs, its Solver has 1"):
        epoch_seconds(lambda n: Timed(1.0, [3.0]), 2, 10)
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        epoch_seconds(lambda n: Timed(1.0, [3.0, 3.0]), 0, 10)


def counting(seconds):
    """A measure() returning seconds that counts its calls."""
    def measure():
        measure.calls += 1
        return seconds
    measure.calls = 0
    return measure


def test_a_plan_is_measured_once_written_and_read_back_for_the_same_run(tmp_path):
    path = str(tmp_path / "sub" / "best-budget.json")
    settings = {"widths": [8, 16, 16], "seed": 0}
    measure = counting(250.0)
    plan = plan_epochs(90, settings, measure, path)
    assert plan == {"budget_minutes": 90, "epoch_s": 250.0, "epochs": 20} and measure.calls == 1
    assert json.load(open(path))["settings"] == settings
    assert plan_epochs(90, settings, counting(100.0), path) == plan       # resumed: not re-timed
    other = counting(100.0)
    assert plan_epochs(90, dict(settings, seed=1), other, path)["epochs"] == 51
    assert plan_epochs(45, dict(settings, seed=1), other, path)["epochs"] == 25
    assert other.calls == 2


def test_a_plan_without_a_path_is_measured_every_time():
    measure = counting(60.0)
    assert plan_epochs(1, {}, measure)["epochs"] == plan_epochs(1, {}, measure)["epochs"] == 1
    assert measure.calls == 2


def test_a_plan_refuses_a_budget_that_is_no_positive_time():
    with pytest.raises(ValueError, match="budget_minutes must be a finite number > 0, got -5"):
        plan_epochs(-5, {}, counting(1.0))


def test_read_plan_finds_only_the_plan_of_the_same_settings_and_budget(tmp_path):
    path = str(tmp_path / "plan.json")
    assert read_plan(None, 90, {}) is None and read_plan(path, 90, {}) is None
    written = plan_epochs(90, {"seed": 0}, counting(300.0), path)
    assert read_plan(path, 90, {"seed": 0}) == written == {"budget_minutes": 90, "epoch_s": 300.0,
                                                            "epochs": 17}
    assert read_plan(path, 60, {"seed": 0}) is None and read_plan(path, 90, {"seed": 1}) is None
    nested = {"schedule": ((0, 0.2), (1, 0.07))}             # tuples come back as lists
    assert plan_epochs(90, nested, counting(300.0), path) == read_plan(path, 90, nested)
