"""Minibatch gradient descent for any model with params and loss(X, y=None).

Example:

    solver = Solver(model, data, update_rule='adam',
                    optim_config={'learning_rate': 1e-3}, lr_decay=0.95,
                    num_epochs=10, batch_size=100, print_every=100)
    solver.train()
    solver.best_val_acc, solver.loss_history, solver.val_acc_history

data holds 'X_train', 'y_train', 'X_val', 'y_val'. The model must expose
`params` (name -> array) and `loss(X, y=None)` returning scores when y is None
and (loss, grads) otherwise. After train() the model holds the parameters
that scored best on the validation set.
"""
import glob
import os
import pickle
import re
import time

import numpy as np

import optim
from layers import nonnegative_int, positive_int

DEFAULTS = dict(update_rule="sgd", optim_config=None, lr_decay=1.0, batch_size=100,
                num_epochs=10, num_train_samples=1000, num_val_samples=None,
                checkpoint_name=None, print_every=10, verbose=True, seed=None)


class Solver:
    """Trains a model by minibatch descent, one optimizer config per parameter.

    Keyword arguments (defaults in DEFAULTS):
      update_rule:       a name in optim.UPDATE_RULES or a function of the same signature.
      optim_config:      hyperparameters for the update rule (learning_rate, ...).
      lr_decay:          learning rates are multiplied by this after every epoch.
      batch_size:        examples per step.
      num_epochs:        passes over the training data; an epoch is
                         max(1, N_train // batch_size) steps of a fresh shuffle.
      num_train_samples: training examples used to measure training accuracy (None: all).
      num_val_samples:   validation examples used to measure validation accuracy (None: all).
      checkpoint_name:   if set, '<checkpoint_name>_epoch_<e>.pkl' is written after epoch e;
                         load_checkpoint() resumes from one.
      print_every:       print the loss every this many steps (with verbose).
      verbose:           print progress.
      seed:              seeds the shuffles and subsamples; None uses NumPy's global generator.
    """

    def __init__(self, model, data, **kwargs):
        unknown = sorted(set(kwargs) - set(DEFAULTS))
        if unknown:
            raise TypeError(f"unknown Solver argument(s) {unknown}; "
                            f"valid arguments are {sorted(DEFAULTS)}")
        missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
        if missing:
            raise KeyError(f"data is missing {missing}; it needs X_train, y_train, X_val, y_val")
        settings = {**DEFAULTS, **kwargs}
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.update_rule = self._resolve_rule(settings["update_rule"])
        self.optim_config = dict(settings["optim_config"] or {})
        self.lr_decay = settings["lr_decay"]
        self.batch_size = positive_int("batch_size", settings["batch_size"])
        self.num_epochs = nonnegative_int("num_epochs", settings["num_epochs"])
        self.num_train_samples = settings["num_train_samples"]
        self.num_val_samples = settings["num_val_samples"]
        self.checkpoint_name = settings["checkpoint_name"]
        self.print_every = positive_int("print_every", settings["print_every"])
        self.verbose = settings["verbose"]
        self.rng = np.random if settings["seed"] is None else np.random.default_rng(settings["seed"])
        self._reset()

    @staticmethod
    def _resolve_rule(rule):
        if callable(rule):
            return rule
        if rule not in optim.UPDATE_RULES:
            raise ValueError(f"unknown update_rule {rule!r}; choose one of "
                             f"{sorted(optim.UPDATE_RULES)} or pass a function")
        return optim.UPDATE_RULES[rule]

    def _reset(self):
        self.epoch = 0
        self.t = 0
        self.best_val_acc = 0.0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.optim_configs = {name: dict(self.optim_config) for name in self.model.params}

    @property
    def iterations_per_epoch(self):
        return max(1, self.X_train.shape[0] // self.batch_size)

    # ------------------------------------------------------------- training

    def _step(self, batch):
        """One update of every parameter on the examples indexed by batch."""
        loss, grads = self.model.loss(self.X_train[batch], self.y_train[batch])
        if not np.isfinite(loss):
            lr = next(iter(self.optim_configs.values()), {}).get("learning_rate", "the default")
            raise FloatingPointError(
                f"loss became {float(loss)} at iteration {self.t + 1} (epoch {self.epoch + 1}); "
                f"training diverged: try a smaller learning rate than {lr} in optim_config")
        self.loss_history.append(float(loss))
        for name, value in self.model.params.items():
            next_value, self.optim_configs[name] = self.update_rule(
                value, grads[name], self.optim_configs[name])
            self.model.params[name] = next_value
        self.t += 1

    def _record_accuracies(self):
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        return train_acc, val_acc

    def train(self):
        """Run the remaining epochs, then load the best parameters into the model."""
        total = self.num_epochs * self.iterations_per_epoch
        clock = (time.time(), self.t, total)
        if self.epoch == 0:
            self._log_accuracies(*self._record_accuracies(), clock)
        while self.epoch < self.num_epochs:
            order = self.rng.permutation(self.X_train.shape[0])
            for i in range(self.iterations_per_epoch):
                self._step(order[i * self.batch_size:(i + 1) * self.batch_size])
                if self.verbose and self.t % self.print_every == 0:
                    print(f"(Iteration {self.t} / {total}) loss: {self.loss_history[-1]:f}")
            self.epoch += 1
            for config in self.optim_configs.values():
                if "learning_rate" in config:
                    config["learning_rate"] *= self.lr_decay
            self._log_accuracies(*self._record_accuracies(), clock)
            self._save_checkpoint()
        if self.best_params:
            self.model.params.update({k: v.copy() for k, v in self.best_params.items()})
        return self

    def _log_accuracies(self, train_acc, val_acc, clock):
        """Print the accuracies with elapsed time and an estimate of the time left."""
        if not self.verbose:
            return
        start, t_start, total = clock
        elapsed = time.time() - start
        done = self.t - t_start
        remaining = total - self.t
        eta = f", ETA {elapsed / done * remaining:.0f}s" if done and remaining else ""
        print(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; "
              f"val_acc: {val_acc:f}  [{elapsed:.0f}s elapsed{eta}]", flush=True)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of X's examples (a random num_samples of them if given) classified as y."""
        if num_samples is not None and X.shape[0] > num_samples:
            pick = self.rng.choice(X.shape[0], num_samples, replace=False)
            X, y = X[pick], y[pick]
        predictions = [np.argmax(self.model.loss(X[i:i + batch_size]), axis=1)
                       for i in range(0, X.shape[0], batch_size)]
        return float(np.mean(np.concatenate(predictions) == y))

    # ---------------------------------------------------------- checkpoints

    def _save_checkpoint(self):
        if self.checkpoint_name is None:
            return
        state = {name: getattr(self, name) for name in _CHECKPOINTED}
        state["params"] = self.model.params
        state["rng_state"] = (np.random.get_state() if self.rng is np.random
                              else self.rng.bit_generator.state)
        path = f"{self.checkpoint_name}_epoch_{self.epoch}.pkl"
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path + ".tmp", "wb") as f:
            pickle.dump(state, f)
        os.replace(path + ".tmp", path)  # a crash mid-write never leaves a torn checkpoint

    def load_checkpoint(self, path):
        """Restore model parameters, optimizer state, histories and epoch from path.

        A following train() continues with the next epoch.
        """
        with open(path, "rb") as f:
            state = pickle.load(f)
        for name in _CHECKPOINTED:
            setattr(self, name, state[name])
        self.model.params.update(state["params"])
        if self.rng is np.random:
            np.random.set_state(state["rng_state"])
        else:
            self.rng.bit_generator.state = state["rng_state"]
        return self

    @staticmethod
    def latest_checkpoint(checkpoint_name):
        """Path of the highest-epoch checkpoint written under checkpoint_name, or None."""
        pattern = re.compile(re.escape(os.path.basename(checkpoint_name)) + r"_epoch_(\d+)\.pkl$")
        found = [(int(m.group(1)), p) for p in glob.glob(f"{glob.escape(checkpoint_name)}_epoch_*.pkl")
                 if (m := pattern.search(p))]
        return max(found)[1] if found else None


_CHECKPOINTED = ("epoch", "t", "best_val_acc", "best_params", "loss_history",
                 "train_acc_history", "val_acc_history", "optim_configs")
