"""How the fully connected nets of Problem 4.1-4.3 are trained outside the notebooks' cells:
the two-layer net of 4.1.6 and the batch-norm/dropout net of 4.3 (the searches'
trials and `python experiments.py two-layer`), and reading 4.1.8's grid of overfit runs.
"""
import numpy as np

from augment import mirrored_training_set
from fc_net import FullyConnectedNet, TwoLayerNet
from solver import Solver

# The best setting of 4.1.6's search (`python search.py two-layer --stage fine`, 0.551 on
# validation), to full precision so that `make two-layer` retrains exactly that trial.
TWO_LAYER = dict(hidden_dim=348, reg=0.013843472000829752, weight_scale=0.000605603298009393,
                 learning_rate=0.00020860704901269045, lr_decay=0.8503216488668179,
                 num_epochs=10, batch_size=200)
FC_HIDDEN = (1024, 1024, 1024)      # 4.3's three hidden layers


def train_two_layer(data, hidden_dim, reg, weight_scale, learning_rate, lr_decay,
                    num_epochs, batch_size, seed=0, verbose=True, after_epoch=None):
    """Train TwoLayerNet (float32) with Adam, as 4.1.6 does; returns the trained Solver."""
    model = TwoLayerNet(hidden_dim=hidden_dim, reg=reg, weight_scale=weight_scale,
                        dtype=np.float32, rng=seed)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": learning_rate},
                    lr_decay=lr_decay, num_epochs=num_epochs, batch_size=batch_size,
                    print_every=100, verbose=verbose, seed=seed, after_epoch=after_epoch)
    return solver.train()


def train_fc(data, learning_rate, dropout, reg, lr_decay, num_epochs, batch_size=200, seed=0,
             verbose=True, after_epoch=None, checkpoint_name=None):
    """Train 4.3's net as its search does, resuming from checkpoint_name's latest checkpoint
    when there is one; returns the trained Solver.

    FullyConnectedNet(FC_HIDDEN) with batch norm and dropout (float32), Adam with the
    learning rate times lr_decay after every epoch; a copy of the training images is
    mirrored in alternate epochs (augment.AlternatingFlips, at the start of each epoch).
    """
    model = FullyConnectedNet(FC_HIDDEN, normalization="batchnorm", dropout=dropout, reg=reg,
                              weight_scale=1e-2, rng=seed)
    data, flips = mirrored_training_set(data, seed=seed)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": learning_rate},
                    lr_decay=lr_decay, num_epochs=num_epochs, batch_size=batch_size,
                    print_every=100, verbose=verbose, seed=seed, before_epoch=flips,
                    after_epoch=after_epoch, checkpoint_name=checkpoint_name)
    solver.resume()
    return solver.train()


# ------------------------------------------ 4.1.8-4.1.9: overfitting 50 images

def grid_accuracy(runs, weight_scales, learning_rates):
    """acc[i, j]: final training accuracy of runs[(weight_scales[i], learning_rates[j])],
    NaN where that run diverged (None)."""
    acc = np.full((len(weight_scales), len(learning_rates)), np.nan)
    for i, ws in enumerate(weight_scales):
        for j, lr in enumerate(learning_rates):
            if runs[ws, lr] is not None:
                acc[i, j] = runs[ws, lr].train_acc_history[-1]
    return acc


def fastest_to_memorize(runs):
    """Of {(weight_scale, learning_rate): Solver or None (diverged)}, the key whose run
    reached 100% training accuracy in the fewest epochs (ties: lower final loss), or None."""
    done = [(s.train_acc_history.index(1.0), s.loss_history[-1], key)
            for key, s in runs.items() if s is not None and 1.0 in s.train_acc_history]
    return min(done)[2] if done else None
