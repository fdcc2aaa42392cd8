"""fc_training.py: the two-layer and 4.3 trainings (seeded, mirrored, resumable) and the
reading of 4.1.8's grid of overfit runs."""
import json
import os

import numpy as np
import pytest
from conftest import tiny_data

import fc_training
from fc_net import FullyConnectedNet
from runs import ROOT
from solver import Solver


def test_two_runs_with_the_same_seeds_give_identical_histories_with_dropout():
    data = tiny_data()
    histories = []
    for _ in range(2):
        net = FullyConnectedNet([8], input_dim=48, dropout=0.3, rng=0)
        histories.append(Solver(net, data, update_rule="adam", num_epochs=2, batch_size=20,
                                verbose=False, seed=0).train())
    assert histories[0].loss_history == histories[1].loss_history
    assert histories[0].val_acc_history == histories[1].val_acc_history


def test_grid_helpers_mark_divergence_and_pick_the_fastest():
    class Run:
        def __init__(self, accs, last_loss):
            self.train_acc_history, self.loss_history = accs, [last_loss]
    grid = {(0.1, 1e-3): Run([0.1, 1.0, 1.0], 0.2), (0.1, 1e-2): None,
            (0.2, 1e-3): Run([0.1, 1.0, 1.0], 0.1), (0.2, 1e-2): Run([0.2, 0.5], 1.0)}
    acc = fc_training.grid_accuracy(grid, (0.1, 0.2), (1e-3, 1e-2))
    np.testing.assert_array_equal(acc, [[1.0, np.nan], [1.0, 0.5]])
    assert fc_training.fastest_to_memorize(grid) == (0.2, 1e-3)      # tie on epoch: lower loss
    assert fc_training.fastest_to_memorize({(1, 1): None}) is None


def test_train_fc_mirrors_a_copy_in_alternate_epochs_and_resumes_to_the_same_bits(tmp_path):
    data = tiny_data(m=40, d=(3, 32, 32))
    given = data["X_train"].copy()
    seen = []
    settings = dict(learning_rate=1e-3, dropout=0.2, reg=1e-4, lr_decay=0.9, num_epochs=3,
                    batch_size=10, verbose=False)
    straight = fc_training.train_fc(data, **settings, after_epoch=lambda s: seen.append(
        np.array_equal(s.X_train[0], given[0])))
    assert straight.model.normalization == "batchnorm" and straight.model.dropout == 0.2
    assert seen[0] != seen[1] and seen[0] == seen[2]      # image 0 flips back and forth
    np.testing.assert_array_equal(data["X_train"], given)

    def killed_after_one_epoch(solver):
        raise KeyboardInterrupt
    name = str(tmp_path / "fc")
    with pytest.raises(KeyboardInterrupt):
        fc_training.train_fc(data, **settings, after_epoch=killed_after_one_epoch,
                             checkpoint_name=name)
    resumed = fc_training.train_fc(data, **settings, checkpoint_name=name)
    assert resumed.resumed_from == 1 and resumed.loss_history == straight.loss_history


@pytest.mark.slow
def test_two_layer_net_reaches_45_percent_validation_in_three_epochs(cifar10):
    settings = {**fc_training.TWO_LAYER, "num_epochs": 3}
    solver = fc_training.train_two_layer(cifar10, **settings, verbose=False)
    assert solver.best_val_acc >= 0.45
    assert solver.check_accuracy(cifar10["X_val"], cifar10["y_val"]) == solver.best_val_acc


def test_two_layer_is_the_setting_the_committed_search_chose():
    """`make two-layer` trains what 4.1.6's search chose: results.json's two_layer entry (the
    notebook's retrain of the best fine trial) holds the same settings."""
    with open(os.path.join(ROOT, "results", "results.json")) as f:
        chosen = json.load(f)["two_layer"]["hyperparameters"]
    assert {k: chosen[k] for k in fc_training.TWO_LAYER} == fc_training.TWO_LAYER
